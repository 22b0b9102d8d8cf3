//! submit's request from the command line's words: `-p KEY=VALUE` typed by the definition's
//! parameter schema, `--override POINTER=VALUE` typed by the schema of the overridable path it
//! names and built into the nested `overrides` document, and `--callback` targets. Pure: the
//! definition (one entry of list's `{"definitions": true}`) is handed in.
//!
//! Nothing is checked here that submit checks: a value that does not fit its schema is sent
//! as the text it was, so the product's own message names the problem with its path.

use serde_json::{Map, Value, json};

use crate::error::Failure;

/// What the person asked for, already read (the params file parsed).
#[derive(Debug, Default)]
pub struct Asked<'a> {
    pub flow: &'a str,
    pub params_file: Option<Value>,
    pub params: &'a [String],
    pub overrides: &'a [String],
    pub callbacks: &'a [String],
    pub idempotency_key: Option<String>,
    pub max_runtime: Option<&'a str>,
    pub dry_run: bool,
}

/// The longest list an override may reach into: more than any list of a run request (EMR's
/// longest, RunJobFlow's steps, holds 256); the list up to the index is sent, so a larger one
/// would only cost memory.
pub const MAX_OVERRIDE_INDEX: usize = 1000;

/// submit's request for `asked`, typed by `definition` (`None`: the catalog does not know the
/// flow; values are read as JSON where they are JSON, and submit names the flow's problem).
pub fn submit_request(asked: &Asked<'_>, definition: Option<&Value>) -> Result<Value, Failure> {
    let mut params = match &asked.params_file {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(Failure::Usage("--params-file: must hold a JSON object".into())),
    };
    for assignment in asked.params {
        let (key, text) = split(assignment, "-p", "KEY=VALUE")?;
        let schema = definition.and_then(|d| d["parameters"]["properties"].get(key));
        params.insert(key.to_owned(), typed(text, schema));
    }
    let mut overrides = Value::Null;
    for assignment in asked.overrides {
        let (pointer, text) = split(assignment, "--override", "POINTER=VALUE")?;
        let tokens = tokens(pointer)?;
        if let Some(i) = tokens
            .iter()
            .filter_map(|t| index(t))
            .find(|&i| i >= MAX_OVERRIDE_INDEX)
        {
            return Err(Failure::Usage(format!(
                "--override {pointer}: index {i} is past any list a request holds (at most {MAX_OVERRIDE_INDEX} elements)"
            )));
        }
        let schema = definition.and_then(|d| overridable_schema(d, &tokens));
        set(&mut overrides, &tokens, typed(text, schema));
    }
    let mut request = json!({ "flow": asked.flow });
    if !params.is_empty() {
        request["params"] = Value::Object(params);
    }
    if !overrides.is_null() {
        request["overrides"] = overrides;
    }
    if !asked.callbacks.is_empty() {
        let targets: Vec<Value> = asked.callbacks.iter().map(|c| callback(c)).collect();
        request["callbacks"] = Value::Array(targets);
    }
    if let Some(key) = &asked.idempotency_key {
        request["idempotency_key"] = json!(key);
    }
    if let Some(max_runtime) = asked.max_runtime {
        request["max_runtime"] = json!(max_runtime);
    }
    if asked.dry_run {
        request["dry_run"] = json!(true);
    }
    Ok(request)
}

/// `KEY=VALUE` split at the first `=`.
fn split<'t>(text: &'t str, option: &str, form: &str) -> Result<(&'t str, &'t str), Failure> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key, value)),
        _ => Err(Failure::Usage(format!("{option} {text}: write it as {form}"))),
    }
}

/// A callback target: a URL (`…://…`) is an HTTP target, anything else a Lambda function.
fn callback(target: &str) -> Value {
    if target.contains("://") {
        json!({"http": {"url": target}})
    } else {
        json!({ "lambda": target })
    }
}

/// `text` as the JSON value `schema` wants. With a `type` (or several), the first that `text`
/// reads as, in the order null, boolean, integer, number, array, object; else the text as a
/// string. Without one: an `enum` member written as text, else JSON if it is JSON, else the
/// text.
pub fn typed(text: &str, schema: Option<&Value>) -> Value {
    let parsed = serde_json::from_str::<Value>(text).ok();
    let guess = || parsed.clone().unwrap_or_else(|| Value::String(text.to_owned()));
    let Some(schema) = schema else {
        return guess();
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.is_empty() {
        if let Some(options) = schema["enum"].as_array() {
            let written =
                |o: &&Value| o.as_str() == Some(text) || (!o.is_string() && parsed.as_ref() == Some(*o));
            if let Some(option) = options.iter().find(written) {
                return option.clone();
            }
        }
        return guess();
    }
    for kind in ["null", "boolean", "integer", "number", "array", "object"] {
        if !types.contains(&kind) {
            continue;
        }
        let fits = match (kind, &parsed) {
            ("null", Some(Value::Null)) | ("boolean", Some(Value::Bool(_))) => true,
            ("integer", Some(Value::Number(n))) => n.is_i64() || n.is_u64(),
            ("number", Some(Value::Number(_))) => true,
            ("array", Some(Value::Array(_))) | ("object", Some(Value::Object(_))) => true,
            _ => false,
        };
        if fits {
            return parsed.clone().expect("it parsed");
        }
    }
    Value::String(text.to_owned())
}

/// A JSON Pointer's reference tokens (RFC 6901: `~1` is `/`, `~0` is `~`).
fn tokens(pointer: &str) -> Result<Vec<String>, Failure> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(Failure::Usage(format!(
            "--override {pointer}: the path is a JSON Pointer starting with `/`, e.g. \
             /Instances/InstanceGroups/1/InstanceCount (`emr-flows definitions NAME` lists them)"
        )));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// The schema of the definition's overridable path that `tokens` names (a `*` in the listed
/// path stands for any one token).
fn overridable_schema<'d>(definition: &'d Value, tokens: &[String]) -> Option<&'d Value> {
    let overridable = definition["overridable"].as_object()?;
    overridable.iter().find_map(|(path, schema)| {
        let listed = self::tokens(path).ok()?;
        let matches =
            listed.len() == tokens.len() && listed.iter().zip(tokens).all(|(l, t)| l == "*" || l == t);
        matches.then_some(schema)
    })
}

/// Whether a token is a list index (`0`, or digits without a leading zero).
fn index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    (digits && (token == "0" || !token.starts_with('0')))
        .then(|| token.parse().ok())
        .flatten()
}

/// Sets `value` at `tokens` inside `document`, making the objects and lists on the way: a list
/// gets `{}` (leave the element as it is) before the index named, as submit's deep merge reads
/// it.
fn set(document: &mut Value, tokens: &[String], value: Value) {
    let Some((first, rest)) = tokens.split_first() else {
        *document = value;
        return;
    };
    let slot = if let Some(i) = index(first) {
        if !document.is_array() {
            *document = Value::Array(vec![]);
        }
        let list = document.as_array_mut().expect("a list");
        while list.len() <= i {
            list.push(json!({}));
        }
        &mut list[i]
    } else {
        if !document.is_object() {
            *document = Value::Object(Map::new());
        }
        let map = document.as_object_mut().expect("an object");
        map.entry(first.clone()).or_insert(Value::Null)
    };
    set(slot, rest, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spark_pi() -> Value {
        json!({
            "name": "spark-pi",
            "parameters": {"type": "object", "properties": {
                "partitions": {"type": "integer", "minimum": 1, "default": 10},
                "label": {"type": "string"},
                "ratio": {"type": ["number", "null"]},
                "fast": {"type": "boolean"},
                "mode": {"enum": ["a", "b", 3]},
                "tags": {"type": "array"}
            }},
            "overridable": {
                "/Instances/InstanceGroups/1/InstanceCount": {"type": "integer", "minimum": 1},
                "/Instances/InstanceGroups/*/InstanceType": {"enum": ["m5.xlarge", "m5.2xlarge"]},
                "/Configurations/0/Properties/spark.executor.memory": {"type": "string"}
            }
        })
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn params_are_typed_by_the_definitions_schema() {
        // GIVEN parameters as a person types them
        let params = strings(&[
            "partitions=100",
            "label=100",
            "ratio=0.5",
            "fast=true",
            "mode=3",
            "tags=[\"x\"]",
            "unknown=7",
            "other=seven",
        ]);
        let asked = Asked {
            flow: "spark-pi",
            params: &params,
            ..Asked::default()
        };
        // WHEN the request is built with the definition
        let request = submit_request(&asked, Some(&spark_pi())).unwrap();
        // THEN each value has the schema's type; unknown keys read as JSON, else text
        assert_eq!(
            request,
            json!({"flow": "spark-pi", "params": {
                "partitions": 100, "label": "100", "ratio": 0.5, "fast": true, "mode": 3,
                "tags": ["x"], "unknown": 7, "other": "seven"
            }})
        );
    }

    #[test]
    fn a_value_that_does_not_fit_is_sent_as_written_for_submit_to_name() {
        let params = strings(&["partitions=many", "partitions=1.5"]);
        for (i, expected) in ["many", "1.5"].iter().enumerate() {
            let asked = Asked {
                flow: "spark-pi",
                params: &params[i..=i],
                ..Asked::default()
            };
            let request = submit_request(&asked, Some(&spark_pi())).unwrap();
            assert_eq!(request["params"]["partitions"], json!(expected));
        }
    }

    #[test]
    fn the_command_line_wins_over_the_params_file() {
        let params = strings(&["partitions=5"]);
        let asked = Asked {
            flow: "spark-pi",
            params_file: Some(json!({"partitions": 1, "label": "x"})),
            params: &params,
            ..Asked::default()
        };
        let request = submit_request(&asked, Some(&spark_pi())).unwrap();
        assert_eq!(request["params"], json!({"partitions": 5, "label": "x"}));
        let asked = Asked {
            flow: "spark-pi",
            params_file: Some(json!([1])),
            ..Asked::default()
        };
        assert!(matches!(submit_request(&asked, None), Err(Failure::Usage(_))));
    }

    #[test]
    fn overrides_become_one_nested_document_typed_by_their_paths() {
        let overrides = strings(&[
            "/Instances/InstanceGroups/1/InstanceCount=4",
            "/Instances/InstanceGroups/0/InstanceType=m5.2xlarge",
            "/Configurations/0/Properties/spark.executor.memory=8g",
            "/Tags~1x/a~0b=1",
        ]);
        let asked = Asked {
            flow: "spark-pi",
            overrides: &overrides,
            ..Asked::default()
        };
        let request = submit_request(&asked, Some(&spark_pi())).unwrap();
        assert_eq!(
            request["overrides"],
            json!({
                "Instances": {"InstanceGroups": [{"InstanceType": "m5.2xlarge"}, {"InstanceCount": 4}]},
                "Configurations": [{"Properties": {"spark.executor.memory": "8g"}}],
                "Tags/x": {"a~b": 1}
            })
        );
    }

    #[test]
    fn callbacks_options_and_bad_words() {
        let callbacks = strings(&["https://hooks.example.com/emr", "processor-pages"]);
        let asked = Asked {
            flow: "f",
            callbacks: &callbacks,
            idempotency_key: Some("k1".into()),
            max_runtime: Some("2h"),
            dry_run: true,
            ..Asked::default()
        };
        assert_eq!(
            submit_request(&asked, None).unwrap(),
            json!({"flow": "f", "callbacks": [{"http": {"url": "https://hooks.example.com/emr"}},
                   {"lambda": "processor-pages"}], "idempotency_key": "k1", "max_runtime": "2h",
                   "dry_run": true})
        );
        for (params, overrides) in [
            (&["partitions"][..], &[][..]),
            (&["=1"], &[]),
            (&[], &["Instances=1"]),
        ] {
            let (params, overrides) = (strings(params), strings(overrides));
            let asked = Asked {
                flow: "f",
                params: &params,
                overrides: &overrides,
                ..Asked::default()
            };
            assert!(
                matches!(submit_request(&asked, None), Err(Failure::Usage(_))),
                "{params:?} {overrides:?}"
            );
        }
    }

    #[test]
    fn list_indexes_are_digits_without_a_leading_zero() {
        assert_eq!(index("0"), Some(0));
        assert_eq!(index("12"), Some(12));
        assert_eq!(index("01"), None);
        assert_eq!(index("x1"), None);
        assert_eq!(index(""), None);
    }
}
