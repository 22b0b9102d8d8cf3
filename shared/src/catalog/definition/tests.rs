use super::*;
use crate::error::Problem;
use crate::model::Target;
use serde_json::json;

/// A definition written from the README alone: the file, its examples, short-form steps.
pub(crate) const DAILY_SALES_REPORT: &str = r#"# yaml-language-server: $schema=../schemas/flow-definition.schema.json
name: daily-sales-report
version: "1"
description: Aggregates one day's sales with Hive and writes a report.
parameters:
  type: object
  additionalProperties: false
  required: [day]
  properties:
    day: {type: string, pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    shards: {type: integer, minimum: 1, default: 4}
examples:
  - {day: "2026-11-29"}
job_flow:
  Name: "daily-sales-report {{ day }}"
  ReleaseLabel: emr-7.13.0
  Applications: [{Name: Hive}, {Name: Spark}]
  Instances:
    InstanceGroups:
      - {InstanceRole: MASTER, InstanceType: m5.xlarge, InstanceCount: 1}
      - {InstanceRole: CORE, InstanceType: m5.xlarge, InstanceCount: "{{ shards }}"}
    KeepJobFlowAliveWhenNoSteps: false
  JobFlowRole: EMR_EC2_DefaultRole
  ServiceRole: EMR_DefaultRole
steps:
  - name: report
    hive: {script: s3://sales/report.sql, variables: {DAY: "{{ day }}"}}
  - name: export
    spark: {application: s3://sales/export.py, conf: {spark.executor.cores: 4}, args: [--day, "{{ day }}"]}
overridable:
  /Instances/InstanceGroups/1/InstanceCount: {type: integer, minimum: 1, maximum: 20}
artifacts:
  report: "s3://sales/reports/{{ day }}/"
"#;

fn problems(file: &str, yaml: &str) -> Vec<DefinitionProblem> {
    match Definition::check(file, yaml) {
        Ok(_) => panic!("{file} passed its checks"),
        Err(problems) => problems,
    }
}

fn texts(problems: &[DefinitionProblem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[test]
fn every_definition_of_the_catalog_passes_every_check() {
    // GIVEN whatever definitions shared/flows holds WHEN checked THEN none has a problem.
    if let Err(broken) = Catalog::check(Catalog::embedded_sources()) {
        let report: Vec<String> = (broken.iter())
            .flat_map(|(file, problems)| problems.iter().map(move |p| format!("{file}:{p}")))
            .collect();
        panic!("broken definitions:\n{}", report.join("\n"));
    }
}

#[test]
fn the_catalog_parsed_at_build_time_is_the_catalog_parsed_from_its_yaml() {
    // GIVEN the catalog as the functions read it (parsed by build.rs) and as parsed now
    let embedded = Catalog::embedded().expect("the embedded catalog checks");
    let from_yaml = Catalog::from_sources(Catalog::embedded_sources()).unwrap();
    // THEN both hold the same definitions, field for field
    let specs = |c: &Catalog| {
        c.iter()
            .map(|d| serde_json::to_value(&d.spec.job_flow).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(embedded.iter().count(), Catalog::embedded_sources().len());
    assert_eq!(specs(&embedded), specs(&from_yaml));
    let names = |c: &Catalog| c.iter().map(|d| d.spec.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&embedded), names(&from_yaml));
}

#[test]
fn a_definition_added_as_the_readme_says_joins_the_catalog() {
    // GIVEN the embedded definitions, whatever they are, plus a new file written from the
    // README (under a name no catalog file has)
    let added = DAILY_SALES_REPORT.replace("name: daily-sales-report", "name: added-by-a-test");
    let mut sources = Catalog::embedded_sources().to_vec();
    sources.push(("added-by-a-test.yaml", &added));
    // WHEN the catalog is checked THEN every definition, old and new, is in it
    let catalog = Catalog::check(&sources).unwrap_or_else(|broken| panic!("{broken:?}"));
    assert_eq!(catalog.iter().count(), sources.len());
    let added = catalog.get("added-by-a-test").unwrap();
    assert_eq!(added.spec.examples, [json!({"day": "2026-11-29"})]);
}

#[test]
fn the_readmes_example_definition_passes_every_check() {
    // GIVEN the definition the README shows, copied as a new user would
    let readme = include_str!("../../../../README.md");
    let start = readme
        .find(
            "```yaml\n# yaml-language-server: $schema=../schemas/flow-definition.schema.json\nname: spark-pi",
        )
        .expect("the README shows a whole definition");
    let block = &readme[start + "```yaml\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    // WHEN checked THEN it passes, and its overridable Spark property is a pointer
    let definition = Definition::check("spark-pi.yaml", block).unwrap_or_else(|p| panic!("{p:#?}"));
    assert!(
        definition
            .overridable
            .iter()
            .any(|o| o.pointer == "/Configurations/0/Properties/spark.executor.memory")
    );
    assert_eq!(
        definition.section()["Configurations"][0]["Properties"]["spark.executor.cores"],
        "4"
    );
}

#[test]
fn an_unknown_flow_name_suggests_the_nearest_names_and_the_listing() {
    let catalog = Catalog::check(&[("daily-sales-report.yaml", DAILY_SALES_REPORT)]).unwrap();
    let err = catalog.get("daily-sale-report").unwrap_err();
    assert_eq!(err.code(), "UnknownFlowDefinition");
    assert_eq!(
        err.to_string(),
        "no flow definition is named `daily-sale-report`; did you mean `daily-sales-report`?; \
             list with {\"definitions\": true} names every definition"
    );
    let far = catalog.get("x").unwrap_err().to_string();
    assert_eq!(
        far,
        "no flow definition is named `x`; list with {\"definitions\": true} names every definition"
    );
}

#[test]
fn a_definition_without_a_run_section_is_told_which_sections_there_are() {
    let yaml = "name: mine\nversion: '1'\nexamples: [{}]\n";
    let Err(Error::Definition { problems, .. }) = Definition::parse("mine.yaml", yaml) else {
        panic!("expected a definition error");
    };
    assert_eq!(
        problems,
        [Problem::new(
            "",
            "a definition needs a run section: one of `job_flow`, `cluster`, `serverless_job_run`, `eks_job_run` (line 1, column 1)"
        )]
    );
    let checked = Definition::parse("t.yaml", MINIMAL_CLUSTER).unwrap();
    assert_eq!(checked.target, Target::Cluster);
    assert_eq!(checked.section()["Name"], "t");
    let both = format!(
        "{MINIMAL_CLUSTER}cluster: {{id: j-ABC}}\nsteps: [{{name: a, jar: {{jar: s3://b/a.jar}}}}]\n"
    );
    let Err(Error::Definition { problems, .. }) = Definition::parse("t.yaml", &both) else {
        panic!("expected a definition error");
    };
    assert!(
        problems[0]
            .message
            .starts_with("a definition has exactly one run section, not 2 (`job_flow` and `cluster`)"),
        "{problems:?}"
    );
    let steps = "name: s\nversion: '1'\nexamples: [{}]\ncluster: {id: j-ABC}\nsteps: [{name: a, jar: {jar: s3://b/a.jar}}]\n";
    let checked = Definition::parse("s.yaml", steps).unwrap();
    assert_eq!(checked.target, Target::Steps);
    assert_eq!(checked.section()["id"], "j-ABC");
}

const MINIMAL_SERVERLESS: &str = "name: s\nversion: '1'\nexamples: [{}]\nserverless_job_run:\n  applicationId: 00f1982r1uukb925\n  executionRoleArn: arn:aws:iam::123456789012:role/R\n  jobDriver: {sparkSubmit: {entryPoint: s3://b/pi.py}}\n";

#[test]
fn a_serverless_definition_is_checked_against_emr_serverless_model_where_it_was_written() {
    // GIVEN a definition with a serverless_job_run section THEN its target is the job run
    let checked = Definition::parse("s.yaml", MINIMAL_SERVERLESS).unwrap();
    assert_eq!(checked.target, Target::ServerlessJobRun);
    // A misspelled member, a bad id and steps (a job_flow's) are each named, with their line
    let broken = MINIMAL_SERVERLESS
        .replace("entryPoint", "entrypoint")
        .replace("00f1982r1uukb925", "App-1")
        + "steps: [{name: x, script: {script: s3://b/x.sh}}]\n";
    let Err(Error::Definition { problems, .. }) = Definition::parse("s.yaml", &broken) else {
        panic!("expected a definition error");
    };
    let text = format!("{problems:?}");
    for expected in [
        "serverless_job_run.jobDriver.sparkSubmit.entrypoint",
        "serverless_job_run.applicationId",
        "only a `job_flow` has steps",
        "line 7",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    // AND two run sections are one too many
    let both = format!("{MINIMAL_SERVERLESS}job_flow: {{Name: t}}\n");
    let Err(Error::Definition { problems, .. }) = Definition::parse("s.yaml", &both) else {
        panic!("expected a definition error");
    };
    assert!(
        format!("{problems:?}")
            .contains("exactly one run section, not 2 (`job_flow` and `serverless_job_run`)"),
        "{problems:?}"
    );
}

#[test]
fn a_shutdown_grace_period_is_whole_seconds_from_15_to_1800_and_only_for_emr_serverless() {
    // GIVEN an EMR Serverless definition with a grace period THEN it is kept in seconds
    let graceful = format!("{MINIMAL_SERVERLESS}shutdown_grace_period: 2m\n");
    assert_eq!(
        Definition::parse("s.yaml", &graceful)
            .unwrap()
            .shutdown_grace_period_seconds(),
        Some(120)
    );
    assert_eq!(
        Definition::parse("s.yaml", MINIMAL_SERVERLESS)
            .unwrap()
            .shutdown_grace_period_seconds(),
        None
    );
    for (text, ok) in [
        ("15s", true),
        ("30m", true),
        ("14s", false),
        ("31m", false),
        ("1500ms", false),
        ("soon", false),
    ] {
        let yaml = format!("{MINIMAL_SERVERLESS}shutdown_grace_period: {text}\n");
        let parsed = Definition::parse("s.yaml", &yaml);
        assert_eq!(parsed.is_ok(), ok, "{text}: {:?}", parsed.err());
        if let Err(Error::Definition { problems, .. }) = parsed {
            assert!(
                format!("{problems:?}").contains("shutdown_grace_period"),
                "{problems:?}"
            );
        }
    }
    // AND a cluster's definition cannot have one: no other cancel takes it
    let cluster = format!("{MINIMAL_CLUSTER}shutdown_grace_period: 30s\n");
    let Err(Error::Definition { problems, .. }) = Definition::parse("t.yaml", &cluster) else {
        panic!("expected a definition error");
    };
    assert!(
        format!("{problems:?}").contains("only a `serverless_job_run` is cancelled with a grace period"),
        "{problems:?}"
    );
}

#[test]
fn a_serverless_definitions_overridable_paths_are_checked_against_emr_serverless_model() {
    // GIVEN an EMR Serverless definition whose overridable paths name EMR on EKS' driver and a
    // member that is there
    let yaml = format!(
        "{MINIMAL_SERVERLESS}overridable:\n  /jobDriver/sparkSubmitJobDriver/entryPoint: {{type: string}}\n  \
         /jobDriver/sparkSubmit/sparkSubmitParameters: {{type: string}}\n"
    );
    let Err(Error::Definition { problems, .. }) = Definition::parse("s.yaml", &yaml) else {
        panic!("expected a definition error");
    };
    // THEN the one that can never match is named, against EMR Serverless' own shapes
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].contains("overridable./jobDriver/sparkSubmitJobDriver/entryPoint: can never match"),
        "{text:?}"
    );
    assert!(
        text[0].contains("in EMR Serverless's model; did you mean `sparkSubmit`"),
        "{text:?}"
    );
}

#[test]
fn an_eks_definitions_overridable_paths_are_checked_against_emr_on_eks_model() {
    // GIVEN an EMR on EKS definition whose overridable paths name EMR Serverless' driver, a
    // member EMR on EKS lacks, and one that is there
    let yaml = "name: e\nversion: '1'\nexamples: [{}]\neks_job_run:\n  virtualClusterId: kfo3ayx4dkhpbo3bd5rd3a8mq\n  \
                name: e\n  executionRoleArn: arn:aws:iam::123456789012:role/R\n  releaseLabel: emr-7.1.0-latest\n  \
                jobDriver: {sparkSubmitJobDriver: {entryPoint: s3://b/pi.py}}\noverridable:\n  \
                /jobDriver/sparkSubmit/sparkSubmitParameters: {type: string}\n  /executionTimeoutMinutes: {type: integer}\n  \
                /jobDriver/sparkSubmitJobDriver/sparkSubmitParameters: {type: string}\n";
    let Err(Error::Definition { problems, .. }) = Definition::parse("e.yaml", yaml) else {
        panic!("expected a definition error");
    };
    // THEN the two that can never match are named, against EMR on EKS' own shapes
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 2, "{text:?}");
    assert!(
        text[0].contains("overridable./jobDriver/sparkSubmit/sparkSubmitParameters: can never match"),
        "{text:?}"
    );
    assert!(
        text[0].contains("did you mean `sparkSubmitJobDriver`"),
        "{text:?}"
    );
    assert!(
        text[1].contains("overridable./executionTimeoutMinutes: can never match"),
        "{text:?}"
    );
    assert!(text[1].contains("in EMR on EKS's model"), "{text:?}");
}

#[test]
fn a_literal_that_breaks_a_pattern_is_told_the_pattern_and_lengths() {
    // GIVEN an EKS definition whose run name has a space (EMR on EKS takes none)
    let yaml = "name: e\nversion: '1'\nexamples: [{}]\neks_job_run:\n  virtualClusterId: kfo3ayx4dkhpbo3bd5rd3a8mq\n  \
                name: spark pi\n  executionRoleArn: arn:aws:iam::123456789012:role/R\n  releaseLabel: emr-7.1.0-latest\n  \
                jobDriver: {sparkSubmitJobDriver: {entryPoint: s3://b/pi.py}}\n";
    let Err(Error::Definition { problems, .. }) = Definition::parse("e.yaml", yaml) else {
        panic!("expected a definition error");
    };
    // THEN the problem says what a name must be, at its place
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].contains(
            r#"eks_job_run.name: "spark pi" must match `^[\.\-_/#A-Za-z0-9]+$` and be 1 to 64 characters"#
        ),
        "{text:?}"
    );
}

#[test]
fn two_job_drivers_in_a_definition_are_told_the_one_allowed() {
    let yaml = MINIMAL_SERVERLESS.replace(
        "jobDriver: {sparkSubmit: {entryPoint: s3://b/pi.py}}",
        "jobDriver: {sparkSubmit: {entryPoint: s3://b/pi.py}, hive: {query: s3://b/q.ql}}",
    );
    let Err(Error::Definition { problems, .. }) = Definition::parse("s.yaml", &yaml) else {
        panic!("expected a definition error");
    };
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].starts_with(
            "serverless_job_run.jobDriver: takes exactly one of `hive`, `sparkSubmit`; it has `hive` and `sparkSubmit`"
        ),
        "{text:?}"
    );
}

#[test]
fn a_client_token_in_a_job_run_section_is_told_it_is_emr_flows_own() {
    let yaml = format!("{MINIMAL_SERVERLESS}  clientToken: mine\n");
    let Err(Error::Definition { problems, .. }) = Definition::parse("s.yaml", &yaml) else {
        panic!("expected a definition error");
    };
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].starts_with("serverless_job_run.clientToken: is set by emr-flows itself"),
        "{text:?}"
    );
}

const MINIMAL_CLUSTER: &str = "name: t\nversion: '1'\nexamples: [{}]\njob_flow:\n  Name: t\n  ReleaseLabel: emr-7.5.0\n  Instances: {InstanceCount: 1, MasterInstanceType: m5.xlarge}\n  JobFlowRole: EMR_EC2_DefaultRole\n  ServiceRole: EMR_DefaultRole\n";

#[test]
fn a_default_its_own_schema_refuses_is_the_definitions_problem_at_its_place() {
    let yaml = "name: mine\nversion: '1'\nparameters:\n  type: object\n  properties:\n    partitions: {type: integer, minimum: 1, default: ten}\nexamples: [{partitions: 2}]\njob_flow:\n  Name: t\n  ReleaseLabel: emr-7.5.0\n  Instances: {InstanceCount: 1, MasterInstanceType: m5.xlarge}\n  JobFlowRole: EMR_EC2_DefaultRole\n  ServiceRole: EMR_DefaultRole\n";
    let Err(Error::Definition { problems, .. }) = Definition::parse("mine.yaml", yaml) else {
        panic!("expected a definition error");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "parameters.properties.partitions.default");
    assert!(
        problems[0]
            .message
            .starts_with("is refused by its own schema: \"ten\" is not of type \"integer\""),
        "{problems:?}"
    );
    assert!(
        problems[0].message.ends_with("(line 6, column 54)"),
        "{problems:?}"
    );
}

#[test]
fn a_broken_definition_gets_every_problem_named_at_once() {
    let yaml = "name: other\nversion: '1'\nparameters:\n  type: object\n  properties:\n    flow_id: {type: string}\njob_flow: []\n";
    let Err(Error::Definition { name, problems }) = Definition::parse("mine.yaml", yaml) else {
        panic!("expected a definition error");
    };
    assert_eq!(name, "mine");
    let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["", "name", "parameters.properties.flow_id", "job_flow"],
        "{problems:?}"
    );
    assert!(
        problems[0]
            .message
            .contains("\"examples\" is a required property"),
        "{problems:?}"
    );
    assert!(
        problems[1].message.ends_with("(line 1, column 7)"),
        "{problems:?}"
    );
}

#[test]
fn every_fault_of_a_new_definition_is_reported_in_one_run_with_its_place() {
    // GIVEN a definition with a fault of every kind
    let yaml = DAILY_SALES_REPORT
        .replace("ReleaseLabel:", "ReleaseLable:")
        .replace("DAY: \"{{ day }}\"", "DAY: \"{{ dya }}\"")
        .replace(
            "application: s3://sales/export.py",
            "aplication: s3://sales/export.py",
        )
        .replace(
            "/Instances/InstanceGroups/1/InstanceCount",
            "Instances.InstanceGroups.1.InstanceCount",
        )
        .replace("{day: \"2026-11-29\"}", "{day: \"yesterday\"}")
        .replace("description:", "descripton:")
        .replace(
            "Hive}, {Name: Spark}]",
            "Hive}, {Name: Spark}]\n  VisibleToAllUsers: sure\n  StepConcurrencyLevel: \"{{ shards }}\"",
        )
        .replace("InstanceRole: MASTER", "InstanceRole: MASTR");
    // WHEN it is checked THEN every problem comes at once, each with its line and column
    let found = texts(&problems("daily-sales-report.yaml", &yaml));
    let expected = [
        "4:13: descripton: is not a member of this mapping; did you mean `description`?",
        "13:11: examples[0].day: \"yesterday\" does not match \"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"",
        "16:17: job_flow.ReleaseLable: is not a member of this EMR shape; did you mean `ReleaseLabel`?",
        "18:22: job_flow.VisibleToAllUsers: \"sure\" is not a boolean (or write a {{ template }} that renders to one)",
        "22:24: job_flow.Instances.InstanceGroups[0].InstanceRole: \"MASTR\" is not one of `MASTER`, `CORE`, `TASK`; did you mean `MASTER`? (or write a {{ template }} that renders to one)",
        "29:60: steps[0].hive.variables.DAY: template `{{ dya }}`: `dya` is neither a parameter nor a built-in; did you mean `day`?",
        "31:25: steps[1].spark.aplication: is not a member of this mapping; did you mean `application`?",
    ];
    for line in expected {
        assert!(
            found.iter().any(|f| f == line),
            "missing {line:?} in\n{}",
            found.join("\n")
        );
    }
    assert!(
        found.iter().any(|f| f.starts_with("33:")
            && f.contains("overridable.Instances.InstanceGroups.1.InstanceCount: is not a JSON Pointer")
            && f.contains("`/Instances/InstanceGroups/1/InstanceCount`")),
        "{}",
        found.join("\n")
    );
}

#[test]
fn a_yaml_syntax_error_names_its_line_and_column_without_a_debug_dump() {
    let yaml = "name: t\nversion: '1'\njob_flow:\n  Name: [unclosed\n  ReleaseLabel: emr-7.13.0\n";
    let found = problems("t.yaml", yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    let (line, _) = found[0].at.expect("a place");
    assert!((4..=5).contains(&line), "{found:?}");
    let text = found[0].to_string();
    assert!(text.contains("YAML syntax: "), "{text}");
    assert!(!text.contains("Error {") && !text.contains("Message {"), "{text}");
}

#[test]
fn overridable_paths_are_json_pointers_that_must_be_able_to_match() {
    let with = |entries: &str| {
        DAILY_SALES_REPORT.replace(
            "  /Instances/InstanceGroups/1/InstanceCount: {type: integer, minimum: 1, maximum: 20}\n",
            entries,
        )
    };
    // GIVEN pointers that name what an override can reach THEN the definition passes
    let good = with(
            "  /Instances/InstanceGroups/*/InstanceType: {}\n  /Instances/Ec2KeyName: {type: string}\n  /Configurations/0/Properties/spark.executor.memory: {}\n",
        )
        .replace(
            "  JobFlowRole:",
            "  Configurations: [{Classification: spark-defaults, Properties: {spark.executor.memory: 4g}}]\n  JobFlowRole:",
        );
    let definition = Definition::check("daily-sales-report.yaml", &good).unwrap();
    let tokens: Vec<_> = definition.overridable.iter().map(|o| o.tokens.clone()).collect();
    assert!(tokens.contains(&vec![
        "Configurations".into(),
        "0".into(),
        "Properties".into(),
        "spark.executor.memory".into()
    ]));
    // GIVEN pointers that never match THEN each is refused with the reason
    let bad = with(
        "  /Instances/InstanceGroups/5/InstanceCount: {}\n  /Instances/InstanceGroup/0: {}\n  /ReleaseLabel/x: {}\n  /Configurations/0/Properties/a: {}\n  /a~2b: {}\n",
    );
    let found = texts(&problems("daily-sales-report.yaml", &bad));
    let expect = [
        "overridable./Instances/InstanceGroups/5/InstanceCount: can never match: /Instances/InstanceGroups has 2 elements in the definition, so `5` never exists: overrides change elements, never add them",
        "overridable./Instances/InstanceGroup/0: can never match: `InstanceGroup` is not a member of /Instances in EMR's model; did you mean `InstanceGroups`?",
        "overridable./ReleaseLabel/x: can never match: /ReleaseLabel is a single string value; nothing lies below it",
        "overridable./Configurations/0/Properties/a: can never match: `/Configurations` is not in the definition's job_flow, and an override adds only the last member of a path",
        "overridable./a~2b: `a~2b`: `~` must be written `~0` (and `/` inside a key `~1`)",
    ];
    for line in expect {
        assert!(
            found.iter().any(|f| f.ends_with(line)),
            "missing {line:?} in\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn unknown_keys_in_a_definition_are_errors_with_a_suggestion() {
    let yaml = DAILY_SALES_REPORT.replace("artifacts:", "artefacts:");
    let found = texts(&problems("daily-sales-report.yaml", &yaml));
    assert!(
        found
            .iter()
            .any(|f| f.ends_with("artefacts: is not a member of this mapping; did you mean `artifacts`?")),
        "{found:?}"
    );
}

#[test]
fn templates_are_parsed_when_the_catalog_is_built() {
    // GIVEN a template that cannot parse, and one whose optional parameter has no value
    let yaml = DAILY_SALES_REPORT
        .replace(
            "\"daily-sales-report {{ day }}\"",
            "\"daily-sales-report {{ day \"",
        )
        .replace(
            "shards: {type: integer, minimum: 1, default: 4}",
            "shards: {type: integer, minimum: 1}",
        );
    // WHEN the definition is checked (no submit) THEN both are its problems
    let found = texts(&problems("daily-sales-report.yaml", &yaml));
    assert!(
        found.iter().any(|f| f.starts_with(
            "15:9: job_flow.Name: template `daily-sales-report {{ day ` does not parse: syntax error"
        )),
        "{}",
        found.join("\n")
    );
    assert!(
            found.iter().any(|f| f.contains("job_flow.Instances.InstanceGroups[1].InstanceCount: template `{{ shards }}`: parameter `shards` may be left out")),
            "{}",
            found.join("\n")
        );
}

#[test]
fn scalars_where_emr_wants_strings_are_taken_as_written() {
    // GIVEN numbers and booleans where EMR's model wants strings
    let yaml = DAILY_SALES_REPORT.replace(
            "  JobFlowRole:",
            "  Configurations:\n    - Classification: hadoop-env\n      Configurations:\n        - {Classification: export, Properties: {HADOOP_HEAPSIZE: 60000}}\n    - {Classification: spark, Properties: {maximizeResourceAllocation: true, spark.memory.fraction: 0.50}}\n  JobFlowRole:",
        );
    // WHEN the catalog is built THEN each is the string the author wrote
    let definition = Definition::check("daily-sales-report.yaml", &yaml).unwrap();
    let configurations = &definition.section()["Configurations"];
    assert_eq!(
        configurations[0]["Configurations"][0]["Properties"]["HADOOP_HEAPSIZE"],
        "60000"
    );
    assert_eq!(
        configurations[1]["Properties"]["maximizeResourceAllocation"],
        "true"
    );
    assert_eq!(configurations[1]["Properties"]["spark.memory.fraction"], "0.50");
    assert_eq!(
        definition.spec.steps[1]["spark"]["conf"]["spark.executor.cores"],
        "4"
    );
    // and numbers stay numbers where the model wants numbers
    assert_eq!(
        definition.section()["Instances"]["InstanceGroups"][0]["InstanceCount"],
        1
    );
}

#[test]
fn a_step_flow_that_could_end_its_shared_cluster_is_refused_at_check_with_its_place() {
    // GIVEN the catalog's step flow with a step that would terminate the cluster on failure
    let yaml = include_str!("../../../flows/pages-es-index-shared.yaml").replace(
        "action_on_failure: CONTINUE",
        "action_on_failure: TERMINATE_CLUSTER",
    );
    // WHEN it is checked THEN the step is named where it is written, with the reason
    let found = texts(&problems("pages-es-index-shared.yaml", &yaml));
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("30:5: steps[0].ActionOnFailure: ")
                && f.contains("TERMINATE_CLUSTER would end a shared cluster")),
        "{}",
        found.join("\n")
    );
    // AND a cluster section naming no cluster is refused too
    let yaml = include_str!("../../../flows/pages-es-index-shared.yaml")
        .replace("cluster:\n  id: \"{{ cluster_id }}\"", "cluster: {}");
    let found = texts(&problems("pages-es-index-shared.yaml", &yaml));
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("27:10: cluster: ") && f.contains("names no cluster: give `id`")),
        "{}",
        found.join("\n")
    );
}
