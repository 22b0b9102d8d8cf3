//! Steps: EMR's `StepConfig` as written in the API, or a typed short form that renders to the
//! `command-runner.jar` / `script-runner.jar` arguments the Amazon EMR management guide
//! documents ("Run commands and scripts on an Amazon EMR cluster", "Add a Spark step", "Hive
//! and Pig steps", "Hadoop streaming").
//!
//! A short form has `name`, optional `action_on_failure` (default `TERMINATE_CLUSTER`) and
//! exactly one of `spark`, `hive`, `pig`, `streaming`, `jar`, `script`. Arguments are passed to
//! EMR as a list; nothing is split on spaces or commas. `command-runner.jar` is known to mangle
//! some arguments (an empty one disappears, `}}` is taken for a template), so a step holding one
//! is refused with the reason.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::Problem;

/// The jar EMR runs commands with.
pub const COMMAND_RUNNER: &str = "command-runner.jar";

/// `script-runner.jar` of `region`, as the EMR management guide names it.
pub fn script_runner(region: &str) -> String {
    format!("s3://{region}.elasticmapreduce/libs/script-runner/script-runner.jar")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShortStep {
    name: String,
    #[serde(default)]
    action_on_failure: Option<String>,
    #[serde(default)]
    spark: Option<Spark>,
    #[serde(default)]
    hive: Option<Hive>,
    #[serde(default)]
    pig: Option<Pig>,
    #[serde(default)]
    streaming: Option<Streaming>,
    #[serde(default)]
    jar: Option<Jar>,
    #[serde(default)]
    script: Option<Script>,
}

/// `spark-submit` of an application (a JAR or a Python file).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spark {
    application: String,
    #[serde(default)]
    class: Option<String>,
    /// `cluster` (default) or `client`.
    #[serde(default)]
    deploy_mode: Option<String>,
    #[serde(default)]
    conf: BTreeMap<String, String>,
    #[serde(default)]
    jars: Vec<String>,
    #[serde(default)]
    py_files: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
}

/// A Hive script with `-d NAME=VALUE` variables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hive {
    script: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

/// A Pig script with `-p NAME=VALUE` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pig {
    script: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

/// A Hadoop streaming job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Streaming {
    mapper: String,
    reducer: String,
    input: String,
    output: String,
    #[serde(default)]
    files: Vec<String>,
}

/// A custom JAR run by Hadoop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Jar {
    jar: String,
    #[serde(default)]
    main_class: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

/// A script from S3 run by `script-runner.jar`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    script: String,
    #[serde(default)]
    args: Vec<String>,
}

fn pairs<'a>(flag: &'a str, map: &'a BTreeMap<String, String>) -> impl Iterator<Item = String> + 'a {
    map.iter()
        .flat_map(move |(k, v)| [flag.to_owned(), format!("{k}={v}")])
}

fn command_runner(args: Vec<String>) -> Value {
    json!({"Jar": COMMAND_RUNNER, "Args": args})
}

impl ShortStep {
    fn hadoop_jar_step(self, path: &str, region: &str) -> Result<Value, Problem> {
        let kinds = [
            self.spark.is_some(),
            self.hive.is_some(),
            self.pig.is_some(),
            self.streaming.is_some(),
            self.jar.is_some(),
            self.script.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(Problem::new(
                path,
                "needs exactly one of spark, hive, pig, streaming, jar, script",
            ));
        }
        if let Some(s) = self.spark {
            let mut args = vec!["spark-submit".to_owned(), "--deploy-mode".to_owned()];
            args.push(s.deploy_mode.unwrap_or_else(|| "cluster".into()));
            if let Some(class) = s.class {
                args.extend(["--class".to_owned(), class]);
            }
            args.extend(pairs("--conf", &s.conf));
            if !s.jars.is_empty() {
                args.extend(["--jars".to_owned(), s.jars.join(",")]);
            }
            if !s.py_files.is_empty() {
                args.extend(["--py-files".to_owned(), s.py_files.join(",")]);
            }
            args.push(s.application);
            args.extend(s.args);
            return Ok(command_runner(args));
        }
        if let Some(h) = self.hive {
            let mut args: Vec<String> = ["hive-script", "--run-hive-script", "--args", "-f"]
                .map(String::from)
                .into();
            args.push(h.script);
            args.extend(pairs("-d", &h.variables));
            return Ok(command_runner(args));
        }
        if let Some(p) = self.pig {
            let mut args: Vec<String> = ["pig-script", "--run-pig-script", "--args", "-f"]
                .map(String::from)
                .into();
            args.push(p.script);
            args.extend(pairs("-p", &p.params));
            return Ok(command_runner(args));
        }
        if let Some(s) = self.streaming {
            let mut args = vec!["hadoop-streaming".to_owned()];
            if !s.files.is_empty() {
                args.extend(["-files".to_owned(), s.files.join(",")]);
            }
            for (flag, value) in [
                ("-mapper", s.mapper),
                ("-reducer", s.reducer),
                ("-input", s.input),
                ("-output", s.output),
            ] {
                args.extend([flag.to_owned(), value]);
            }
            return Ok(command_runner(args));
        }
        if let Some(j) = self.jar {
            let mut step = json!({"Jar": j.jar, "Args": j.args});
            if let Some(main_class) = j.main_class {
                step["MainClass"] = main_class.into();
            }
            if !j.properties.is_empty() {
                step["Properties"] = j
                    .properties
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect();
            }
            return Ok(step);
        }
        let s = self.script.expect("exactly one kind is set");
        let mut args = vec![s.script];
        args.extend(s.args);
        Ok(json!({"Jar": script_runner(region), "Args": args}))
    }
}

/// Turns one rendered step (API shape or short form) into an API-shape `StepConfig`, checking
/// the arguments `command-runner.jar` / `script-runner.jar` would mangle. `path` names the
/// step in problems (`steps[0]`); `region` locates `script-runner.jar`.
pub fn to_step_config(path: &str, step: Value, region: &str) -> Result<Value, Vec<Problem>> {
    let api_shape = step.get("HadoopJarStep").is_some() || step.get("Name").is_some();
    let step = if api_shape {
        step
    } else {
        let short: ShortStep =
            serde_path_to_error::deserialize(step).map_err(|e| vec![Problem::from_serde(path, e)])?;
        let name = short.name.clone();
        let action = short
            .action_on_failure
            .clone()
            .unwrap_or_else(|| "TERMINATE_CLUSTER".into());
        let jar_step = short.hadoop_jar_step(path, region).map_err(|p| vec![p])?;
        json!({"Name": name, "ActionOnFailure": action, "HadoopJarStep": jar_step})
    };
    let problems = mangled_args(path, &step);
    if problems.is_empty() {
        Ok(step)
    } else {
        Err(problems)
    }
}

fn mangled_args(path: &str, step: &Value) -> Vec<Problem> {
    let jar = step
        .pointer("/HadoopJarStep/Jar")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if jar != COMMAND_RUNNER && !jar.ends_with("/script-runner.jar") {
        return vec![];
    }
    let args = step.pointer("/HadoopJarStep/Args").and_then(Value::as_array);
    (args.into_iter().flatten().enumerate())
        .filter_map(|(i, arg)| {
            let arg = arg.as_str()?;
            let why = if arg.is_empty() {
                "is empty; command-runner.jar drops empty arguments, which shifts the ones after it"
            } else if arg.contains("}}") {
                "contains `}}`, which command-runner.jar mangles; pass the value in a file on S3 instead"
            } else {
                return None;
            };
            Some(Problem::new(format!("{path}.HadoopJarStep.Args[{i}]"), why))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(step: Value) -> Value {
        to_step_config("steps[0]", step, "eu-west-1").unwrap()
    }

    fn args(step: &Value) -> Vec<&str> {
        step["HadoopJarStep"]["Args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect()
    }

    #[test]
    fn spark_renders_to_spark_submit_through_command_runner() {
        let step = render(json!({"name": "pi", "spark": {
            "application": "s3://b/app.jar", "class": "com.example.Pi", "conf": {"spark.executor.memory": "4g"},
            "jars": ["s3://b/a.jar", "s3://b/b.jar"], "args": ["--date", "2026-11-29", "a b"]}}));
        assert_eq!(step["Name"], "pi");
        assert_eq!(step["ActionOnFailure"], "TERMINATE_CLUSTER");
        assert_eq!(step["HadoopJarStep"]["Jar"], COMMAND_RUNNER);
        assert_eq!(
            args(&step),
            [
                "spark-submit",
                "--deploy-mode",
                "cluster",
                "--class",
                "com.example.Pi",
                "--conf",
                "spark.executor.memory=4g",
                "--jars",
                "s3://b/a.jar,s3://b/b.jar",
                "s3://b/app.jar",
                "--date",
                "2026-11-29",
                "a b"
            ]
        );
    }

    #[test]
    fn pyspark_with_py_files_in_client_mode() {
        let step = render(json!({"name": "py", "action_on_failure": "CONTINUE", "spark": {
            "application": "s3://b/job.py", "deploy_mode": "client", "py_files": ["s3://b/lib.zip"]}}));
        assert_eq!(step["ActionOnFailure"], "CONTINUE");
        assert_eq!(
            args(&step),
            [
                "spark-submit",
                "--deploy-mode",
                "client",
                "--py-files",
                "s3://b/lib.zip",
                "s3://b/job.py"
            ]
        );
    }

    #[test]
    fn hive_renders_to_hive_script_with_variables() {
        let step = render(
            json!({"name": "h", "hive": {"script": "s3://b/q.sql", "variables": {"INPUT": "s3://b/in", "OUTPUT": "s3://b/out"}}}),
        );
        assert_eq!(
            args(&step),
            [
                "hive-script",
                "--run-hive-script",
                "--args",
                "-f",
                "s3://b/q.sql",
                "-d",
                "INPUT=s3://b/in",
                "-d",
                "OUTPUT=s3://b/out"
            ]
        );
    }

    #[test]
    fn pig_renders_to_pig_script_with_params() {
        let step =
            render(json!({"name": "p", "pig": {"script": "s3://b/x.pig", "params": {"INPUT": "s3://b/in"}}}));
        assert_eq!(
            args(&step),
            [
                "pig-script",
                "--run-pig-script",
                "--args",
                "-f",
                "s3://b/x.pig",
                "-p",
                "INPUT=s3://b/in"
            ]
        );
    }

    #[test]
    fn streaming_renders_to_hadoop_streaming() {
        let step = render(
            json!({"name": "wc", "streaming": {"mapper": "mapper.py", "reducer": "aggregate",
            "input": "s3://b/in", "output": "s3://b/out", "files": ["s3://b/mapper.py"]}}),
        );
        assert_eq!(
            args(&step),
            [
                "hadoop-streaming",
                "-files",
                "s3://b/mapper.py",
                "-mapper",
                "mapper.py",
                "-reducer",
                "aggregate",
                "-input",
                "s3://b/in",
                "-output",
                "s3://b/out"
            ]
        );
    }

    #[test]
    fn jar_renders_to_a_custom_jar_step() {
        let step = render(
            json!({"name": "j", "jar": {"jar": "s3://b/tool.jar", "main_class": "com.example.Main",
            "args": ["x"], "properties": {"mapreduce.job.reduces": "4"}}}),
        );
        assert_eq!(
            step["HadoopJarStep"],
            json!({"Jar": "s3://b/tool.jar", "MainClass": "com.example.Main", "Args": ["x"],
                   "Properties": [{"Key": "mapreduce.job.reduces", "Value": "4"}]})
        );
    }

    #[test]
    fn script_renders_to_the_regions_script_runner() {
        let step = render(json!({"name": "s", "script": {"script": "s3://b/run.sh", "args": ["--fast"]}}));
        assert_eq!(
            step["HadoopJarStep"]["Jar"],
            "s3://eu-west-1.elasticmapreduce/libs/script-runner/script-runner.jar"
        );
        assert_eq!(args(&step), ["s3://b/run.sh", "--fast"]);
    }

    #[test]
    fn api_shape_steps_pass_through() {
        let api = json!({"Name": "x", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["a"]}});
        assert_eq!(render(api.clone()), api);
        // Either API member marks the API shape; a missing `Name` is then EMR's model's to name.
        let nameless = json!({"HadoopJarStep": {"Jar": "s3://b/tool.jar"}});
        assert_eq!(render(nameless.clone()), nameless);
        let jarless = json!({"Name": "x"});
        assert_eq!(render(jarless.clone()), jarless);
    }

    #[test]
    fn script_runner_arguments_are_checked_too() {
        let mangled = to_step_config(
            "steps[3]",
            json!({"name": "s", "script": {"script": "s3://b/run.sh", "args": ["--day", ""]}}),
            "eu-west-1",
        )
        .unwrap_err();
        assert_eq!(mangled[0].path, "steps[3].HadoopJarStep.Args[2]");
        // Another jar's arguments are its own business.
        let own = json!({"Name": "x", "HadoopJarStep": {"Jar": "s3://b/tool.jar", "Args": ["", "}}"]}});
        assert_eq!(render(own.clone()), own);
    }

    #[test]
    fn bad_short_forms_and_mangled_arguments_are_named() {
        let two = to_step_config(
            "steps[1]",
            json!({"name": "x", "hive": {"script": "a"}, "pig": {"script": "b"}}),
            "r",
        );
        assert_eq!(two.unwrap_err()[0].path, "steps[1]");
        let nameless = to_step_config("steps[2]", json!({"spark": {"application": "a"}}), "r").unwrap_err();
        assert_eq!(nameless[0].to_string(), "steps[2]: missing field `name`");
        let typo = to_step_config(
            "steps[0]",
            json!({"name": "x", "spark": {"aplication": "a"}}),
            "r",
        )
        .unwrap_err();
        assert_eq!(typo[0].path, "steps[0].spark.aplication");
        let mangled = to_step_config(
            "steps[0]",
            json!({"name": "x", "spark": {"application": "a", "args": ["", "{\"a\": {\"b\": 1}}"]}}),
            "r",
        )
        .unwrap_err();
        let paths: Vec<_> = mangled.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["steps[0].HadoopJarStep.Args[4]", "steps[0].HadoopJarStep.Args[5]"]
        );
    }
}
