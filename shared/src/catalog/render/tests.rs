use super::*;
use crate::catalog::definition::Catalog;
use crate::model::{FlowId, Target};
use chrono::{TimeZone, Utc};
use serde_json::json;

fn context() -> Context {
    Context {
        flow_id: FlowId::generate(),
        submitted_at: Utc.with_ymd_and_hms(2026, 11, 29, 8, 30, 0).unwrap(),
        region: "eu-west-1".into(),
        stack: "test-stack".into(),
    }
}

fn definition(yaml: &str) -> Definition {
    Definition::parse("t.yaml", yaml).unwrap()
}

fn json_of(request: &Request) -> Value {
    Value::Object(request.as_json().clone())
}

/// The request as the definition makes it, without the tags every flow gets (`Tags` gone when
/// they were all it had).
fn untagged(request: &Request) -> Value {
    let mut json = json_of(request);
    let tags = json["Tags"].as_array_mut().unwrap();
    tags.retain(|t| !t["Key"].as_str().unwrap().starts_with("emr-flows:"));
    if tags.is_empty() {
        json.as_object_mut().unwrap().remove("Tags");
    }
    json
}

const MINIMAL: &str = r#"
name: t
version: "1"
parameters:
  type: object
  additionalProperties: false
  required: [domain_id]
  properties:
    domain_id: {type: integer, minimum: 1}
    size: {type: integer, default: 2, minimum: 1, maximum: 10}
examples: [{domain_id: 1}]
job_flow:
  Name: "t {{ flow_id }}"
  Instances:
    InstanceGroups:
      - {InstanceRole: MASTER, InstanceType: m5.xlarge, InstanceCount: 1}
      - {InstanceRole: CORE, InstanceType: m5.xlarge, InstanceCount: "{{ size }}"}
steps:
  - Name: index
    HadoopJarStep: {Jar: command-runner.jar, Args: [run, "--domain-id", "{{ domain_id }}"]}
  - name: report
    hive: {script: "s3://b/report.sql", variables: {DAY: "{{ submitted_date }}"}}
overridable:
  /Instances/InstanceGroups/*/InstanceCount: {type: integer, minimum: 1, maximum: 10}
  /Instances/InstanceGroups/1/InstanceType: {enum: [m5.xlarge, r5.4xlarge]}
artifacts:
  output: "s3://bucket/{{ flow_name }}/{{ submitted_year }}/{{ submitted_month }}/{{ flow_id }}/"
"#;

#[test]
fn every_catalog_definition_renders_with_its_examples() {
    let catalog = Catalog::embedded().unwrap();
    for definition in catalog.iter() {
        assert!(
            !definition.spec.examples.is_empty(),
            "{} has no examples",
            definition.spec.name
        );
        for example in &definition.spec.examples {
            let rendered = definition.render(example.clone(), &Value::Null, &context());
            let rendered = rendered.unwrap_or_else(|e| panic!("{}: {e}", definition.spec.name));
            let request = json_of(&rendered.request);
            match rendered.request.target() {
                Target::Cluster => assert!(!request["Steps"].as_array().unwrap().is_empty()),
                Target::ServerlessJobRun | Target::EksJobRun => assert!(request["jobDriver"].is_object()),
                Target::Steps => assert!(!request["Steps"].as_array().unwrap().is_empty()),
            }
        }
    }
}

#[test]
fn parameters_render_into_the_request_with_defaults_applied() {
    let ctx = context();
    let id = ctx.flow_id;
    let rendered = definition(MINIMAL)
        .render(json!({"domain_id": 42}), &Value::Null, &ctx)
        .unwrap();
    assert_eq!(rendered.params, json!({"domain_id": 42, "size": 2}));
    let request = untagged(&rendered.request);
    assert_eq!(request["Name"], format!("t {id}"));
    assert_eq!(
        request["Instances"]["InstanceGroups"][1]["InstanceCount"],
        json!(2)
    );
    assert_eq!(
        request["Steps"][0]["HadoopJarStep"]["Args"],
        json!(["run", "--domain-id", "42"])
    );
    assert_eq!(
        request["Steps"][1]["HadoopJarStep"]["Args"],
        json!([
            "hive-script",
            "--run-hive-script",
            "--args",
            "-f",
            "s3://b/report.sql",
            "-d",
            "DAY=2026-11-29"
        ])
    );
    assert_eq!(
        rendered.artifacts["output"],
        format!("s3://bucket/t/2026/11/{id}/")
    );
}

#[test]
fn the_request_carries_the_flow_tags_and_a_stable_digest() {
    let ctx = context();
    let d = definition(MINIMAL);
    let a = d.render(json!({"domain_id": 1}), &Value::Null, &ctx).unwrap();
    let tags = json_of(&a.request)["Tags"].clone();
    assert_eq!(
        tags,
        json!([
            {"Key": "emr-flows:flow-id", "Value": ctx.flow_id.to_string()},
            {"Key": "emr-flows:flow", "Value": "t"},
            {"Key": "emr-flows:stack", "Value": "test-stack"}
        ])
    );
    assert!(untagged(&a.request).get("Tags").is_none());
    let b = d.render(json!({"domain_id": 1}), &Value::Null, &ctx).unwrap();
    assert_eq!(a.request_digest, b.request_digest);
    assert!(a.request_digest.starts_with("sha256:") && a.request_digest.len() == 7 + 64);
    let c = d.render(json!({"domain_id": 2}), &Value::Null, &ctx).unwrap();
    assert_ne!(a.request_digest, c.request_digest);
}

#[test]
fn overrides_merge_deeply_where_allowed() {
    let overrides =
        json!({"Instances": {"InstanceGroups": [{}, {"InstanceCount": 8, "InstanceType": "r5.4xlarge"}]}});
    let rendered = definition(MINIMAL)
        .render(json!({"domain_id": 1}), &overrides, &context())
        .unwrap();
    let groups = untagged(&rendered.request)["Instances"]["InstanceGroups"].clone();
    assert_eq!(
        groups[0],
        json!({"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1})
    );
    assert_eq!(
        groups[1],
        json!({"InstanceRole": "CORE", "InstanceType": "r5.4xlarge", "InstanceCount": 8})
    );
}

#[test]
fn an_override_past_a_lists_end_is_named_once_however_long_the_list() {
    // GIVEN a request whose InstanceGroups (2 in the definition) is padded to a million
    // elements, the last one asked for (as a client pads up to the index it names)
    let mut groups = vec![json!({}); 1_000_000];
    groups[999_999] = json!({"InstanceCount": 3});
    let overrides = json!({"Instances": {"InstanceGroups": groups}});
    let Err(Error::Validation(problems)) =
        definition(MINIMAL).render(json!({"domain_id": 1}), &overrides, &context())
    else {
        panic!("expected a validation error");
    };
    // THEN one problem names that element and the list's length, not one per element
    assert_eq!(
        problems,
        [Problem::new(
            "overrides.Instances.InstanceGroups[999999]",
            "does not exist in the definition (it has 2 elements; this list has 1000000); overrides change, never add"
        )]
    );
}

#[test]
fn overrides_outside_the_allowed_paths_are_refused_with_their_paths() {
    let overrides = json!({
        "Instances": {"InstanceGroups": [{"InstanceType": "x1.32xlarge"}, {}, {"InstanceCount": 1}]},
        "ServiceRole": "Admin"
    });
    let err = definition(MINIMAL)
        .render(json!({"domain_id": 1}), &overrides, &context())
        .unwrap_err();
    let Error::Validation(problems) = err else {
        panic!("{err}")
    };
    let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "overrides.Instances.InstanceGroups[0].InstanceType",
            "overrides.Instances.InstanceGroups[2]",
            "overrides.ServiceRole"
        ]
    );
}

#[test]
fn overridden_values_must_satisfy_their_schema() {
    let overrides = json!({"Instances": {"InstanceGroups": [{"InstanceCount": 0}, {"InstanceCount": 100000, "InstanceType": "p5.48xlarge"}]}});
    let err = definition(MINIMAL)
        .render(json!({"domain_id": 1}), &overrides, &context())
        .unwrap_err();
    let Error::Validation(problems) = err else {
        panic!("{err}")
    };
    let text: Vec<_> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text[0].starts_with("overrides.Instances.InstanceGroups[0].InstanceCount: 0 is less than"),
        "{text:?}"
    );
    assert!(
        text[1].starts_with("overrides.Instances.InstanceGroups[1].InstanceCount: 100000 is greater"),
        "{text:?}"
    );
    assert!(
        text[2].starts_with("overrides.Instances.InstanceGroups[1].InstanceType"),
        "{text:?}"
    );
}

#[test]
fn bad_parameters_and_bad_overrides_are_reported_together() {
    let err = definition(MINIMAL)
        .render(json!({"domain_id": 0}), &json!({"X": 1}), &context())
        .unwrap_err();
    let Error::Validation(problems) = err else {
        panic!("{err}")
    };
    let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["params.domain_id", "overrides.X"]);
}

#[test]
fn every_parameter_violation_is_reported_with_its_path() {
    let err = definition(MINIMAL)
        .render(json!({"size": 0, "colour": "red"}), &Value::Null, &context())
        .unwrap_err();
    let Error::Validation(problems) = err else {
        panic!("{err}")
    };
    let mut paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["params", "params", "params.size"], "{problems:?}");
    let text = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("domain_id"), "{text}");
    assert!(text.contains("colour"), "{text}");
}

#[test]
fn whole_numbers_written_as_decimals_render_as_integers() {
    let rendered = definition(MINIMAL)
        .render(json!({"domain_id": 7.0, "size": 1e1}), &Value::Null, &context())
        .unwrap();
    assert_eq!(rendered.params, json!({"domain_id": 7, "size": 10}));
    let request = untagged(&rendered.request);
    assert_eq!(request["Steps"][0]["HadoopJarStep"]["Args"][2], "7");
    assert_eq!(request["Instances"]["InstanceGroups"][1]["InstanceCount"], 10);
}

#[test]
fn params_must_be_an_object() {
    let err = definition(MINIMAL)
        .render(json!([1]), &Value::Null, &context())
        .unwrap_err();
    assert!(err.to_string().contains("params: must be an object"), "{err}");
}

#[test]
fn an_undefined_variable_is_refused_when_the_catalog_is_built_not_at_submit() {
    let yaml = MINIMAL.replace("{{ domain_id }}", "{{ domain }}");
    let Err(Error::Definition { problems, .. }) = Definition::parse("t.yaml", &yaml) else {
        panic!("an undefined variable passed the catalog check")
    };
    assert_eq!(problems[0].path, "steps[0].HadoopJarStep.Args[2]");
    assert!(
        problems[0]
            .message
            .contains("`domain` is neither a parameter nor a built-in; did you mean `domain_id`?"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_misspelled_request_key_is_refused_with_its_place_and_a_suggestion() {
    let yaml = MINIMAL.replace(
        "InstanceType: m5.xlarge, InstanceCount: 1",
        "InstanceTyp: m5.xlarge, InstanceCount: 1",
    );
    let Err(Error::Definition { problems, .. }) = Definition::parse("t.yaml", &yaml) else {
        panic!("a misspelled key passed the catalog check")
    };
    let misspelled = problems
        .iter()
        .find(|p| p.path == "job_flow.Instances.InstanceGroups[0].InstanceTyp")
        .unwrap_or_else(|| panic!("{problems:?}"));
    assert_eq!(
        misspelled.message,
        "is not a member of this EMR shape; did you mean `InstanceType`? (line 16, column 45)"
    );
}

/// A definition with bootstrap shell, a regex and a log4j pattern, as pasted.
const PASTED_PATTERNS: &str = r#"
name: t
version: "1"
parameters:
  type: object
  required: [day]
  properties:
    day: {type: string}
examples: [{day: "2026-11-29"}]
job_flow:
  Name: t
  Instances: {InstanceGroups: [{InstanceRole: MASTER, InstanceType: m5.xlarge, InstanceCount: 1}]}
  BootstrapActions:
    - Name: lengths
      ScriptBootstrapAction:
        Path: file:/bin/bash
        Args: ["-c", "N=node; echo len=${#N} args=${#} >> /mnt/var/lengths"]
    - Name: peers
      ScriptBootstrapAction:
        Path: file:/bin/bash
        Args: ["-c", "PEERS=(a b); echo ${#PEERS[@]} {#x#} {% raw %} }} %} #} >> /mnt/var/peers\n"]
  Configurations:
    - Classification: spark-log4j2
      Properties:
        appender.console.layout.pattern: "%d{yyyy-MM-dd HH:mm:ss} %p %c{1}: %m%n"
        filter.regex: "^[a-z]{2,4}\\d+$"
steps:
  - name: grep
    jar: {jar: command-runner.jar, args: ["grep", "-E", "^(x|y){2}$ ${#N}", "day={{ day }} ${#N} {#", "{{ day }}\n"]}
"#;

#[test]
fn strings_without_a_placeholder_reach_emr_byte_for_byte() {
    // GIVEN shell (`${#N}`, `${#PEERS[@]}`), Jinja-like text, a regex and a log4j pattern
    let d = definition(PASTED_PATTERNS);
    let rendered = d
        .render(json!({"day": "2026-11-29"}), &Value::Null, &context())
        .unwrap();
    let request = json_of(&rendered.request);
    // THEN every string without `{{` is exactly as written
    assert_eq!(
        request["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"][1],
        "N=node; echo len=${#N} args=${#} >> /mnt/var/lengths"
    );
    assert_eq!(
        request["BootstrapActions"][1]["ScriptBootstrapAction"]["Args"][1],
        "PEERS=(a b); echo ${#PEERS[@]} {#x#} {% raw %} }} %} #} >> /mnt/var/peers\n"
    );
    let properties = &request["Configurations"][0]["Properties"];
    assert_eq!(
        properties["appender.console.layout.pattern"],
        "%d{yyyy-MM-dd HH:mm:ss} %p %c{1}: %m%n"
    );
    assert_eq!(properties["filter.regex"], "^[a-z]{2,4}\\d+$");
    // AND a placeholder beside shell text expands only itself, keeping a trailing newline
    let args = &request["Steps"][0]["HadoopJarStep"]["Args"];
    assert_eq!(args[2], "^(x|y){2}$ ${#N}");
    assert_eq!(args[3], "day=2026-11-29 ${#N} {#");
    assert_eq!(args[4], "2026-11-29\n");
}

#[test]
fn a_literal_double_brace_is_written_as_a_string_expression() {
    let yaml = MINIMAL.replace("\"t {{ flow_id }}\"", "'t {{ \"{{\" }}x}} {{ domain_id }}'");
    let rendered = definition(&yaml)
        .render(json!({"domain_id": 5}), &Value::Null, &context())
        .unwrap();
    assert_eq!(json_of(&rendered.request)["Name"], "t {{x}} 5");
}

#[test]
fn a_spark_property_named_by_a_json_pointer_can_be_overridden() {
    // GIVEN the issue's definition: a Spark property with dots in its name is overridable
    let yaml = MINIMAL
            .replace(
                "job_flow:\n",
                "job_flow:\n  Configurations: [{Classification: spark-defaults, Properties: {spark.executor.memory: 4g}}]\n",
            )
            .replace("overridable:\n", "overridable:\n  /Configurations/0/Properties/spark.executor.memory: {type: string, pattern: \"^[0-9]+g$\"}\n");
    let d = definition(&yaml);
    // WHEN a caller overrides it THEN the request carries the new value
    let overrides = json!({"Configurations": [{"Properties": {"spark.executor.memory": "8g"}}]});
    let rendered = d.render(json!({"domain_id": 1}), &overrides, &context()).unwrap();
    assert_eq!(
        json_of(&rendered.request)["Configurations"],
        json!([{"Classification": "spark-defaults", "Properties": {"spark.executor.memory": "8g"}}])
    );
    // AND a value outside its schema, or a neighbour not listed, is refused with its path
    let bad = json!({"Configurations": [{"Properties": {"spark.executor.memory": "lots", "spark.executor.cores": "4"}}]});
    let Err(Error::Validation(problems)) = d.render(json!({"domain_id": 1}), &bad, &context()) else {
        panic!("refused overrides passed")
    };
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(text[0].starts_with("overrides.Configurations[0].Properties.spark.executor.cores: is not overridable; allowed: /Configurations/0/Properties/spark.executor.memory, /Instances/InstanceGroups/*/InstanceCount"), "{text:?}");
    assert!(
        text[1].starts_with(
            "overrides.Configurations[0].Properties.spark.executor.memory: \"lots\" does not match"
        ),
        "{text:?}"
    );
}

#[test]
fn a_number_too_large_to_be_exact_is_refused_naming_the_parameter() {
    // GIVEN a domain id past 64 bits, as JSON carries it
    let params: Value = serde_json::from_str(r#"{"domain_id": 18446744073709551616}"#).unwrap();
    // WHEN rendered THEN it is refused, never rendered as 18446744073709552000
    let err = definition(MINIMAL)
        .render(params, &Value::Null, &context())
        .unwrap_err();
    let Error::Validation(problems) = &err else {
        panic!("{err}")
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "params.domain_id");
    assert!(problems[0].message.contains("too large to be exact"), "{err}");
    assert!(problems[0].message.contains("pass it as a string"), "{err}");
    // AND the largest 64-bit integer renders exactly
    let yaml = MINIMAL.replace(
        "domain_id: {type: integer, minimum: 1}",
        "domain_id: {type: integer}",
    );
    let params: Value = serde_json::from_str(r#"{"domain_id": 18446744073709551615}"#).unwrap();
    let rendered = definition(&yaml)
        .render(params, &Value::Null, &context())
        .unwrap();
    assert_eq!(
        json_of(&rendered.request)["Steps"][0]["HadoopJarStep"]["Args"][2],
        "18446744073709551615"
    );
}

/// A definition whose `job_flow` is a published request, pasted as it is.
fn pasted(name: &str, request: &str) -> Definition {
    Definition::parse(
        &format!("{name}.yaml"),
        &format!("name: {name}\nversion: '1'\nexamples: [{{}}]\njob_flow: {request}\n"),
    )
    .unwrap()
}

#[test]
fn published_requests_render_to_exactly_themselves() {
    let published = [
        (
            "airflow-example-pi",
            include_str!("../../../../events/real/jobflows/airflow-example-pi.json"),
        ),
        (
            "cdk-instance-fleets",
            include_str!("../../../../tests/fixtures/cdk-instance-fleets.json"),
        ),
    ];
    for (name, text) in published {
        let rendered = pasted(name, text)
            .render(Value::Null, &Value::Null, &context())
            .unwrap();
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(untagged(&rendered.request), expected, "{name}");
    }
}

/// A definition whose parameter is a list of integers, rendered whole into one argument.
const LIST_PARAMETER: &str = r#"
name: t
version: "1"
parameters:
  type: object
  required: [days]
  properties:
    days: {type: array, items: {type: integer}}
examples: [{days: [1]}]
job_flow:
  Name: t
  Instances:
    Ec2SubnetIds: [subnet-a, subnet-b]
    InstanceGroups: [{InstanceRole: MASTER, InstanceType: m5.xlarge, InstanceCount: 1}]
steps:
  - Name: s
    HadoopJarStep: {Jar: command-runner.jar, Args: ["--days", "{{ days }}"]}
overridable:
  /Instances/Ec2SubnetIds: {type: array, items: {type: string, pattern: "^subnet-"}, minItems: 1}
"#;

#[test]
fn whole_numbers_inside_a_list_parameter_render_as_integers() {
    // GIVEN a list of integers written as decimals
    let params: Value = serde_json::from_str(r#"{"days": [7.0, 1e1]}"#).unwrap();
    // WHEN rendered
    let rendered = definition(LIST_PARAMETER)
        .render(params, &Value::Null, &context())
        .unwrap();
    // THEN the recorded parameters and the request carry integers
    assert_eq!(rendered.params, json!({"days": [7, 10]}));
    assert_eq!(
        json_of(&rendered.request)["Steps"][0]["HadoopJarStep"]["Args"][1],
        "[7, 10]"
    );
}

#[test]
fn a_number_too_large_to_be_exact_inside_a_list_is_refused_with_its_index() {
    // GIVEN a list whose second element is past 64 bits
    let params: Value = serde_json::from_str(r#"{"days": [1, 18446744073709551616]}"#).unwrap();
    // WHEN rendered THEN it is refused, naming the element
    let Err(Error::Validation(problems)) =
        definition(LIST_PARAMETER).render(params, &Value::Null, &context())
    else {
        panic!("an inexact number inside a list passed")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "params.days[1]");
    assert!(
        problems[0].message.contains("too large to be exact"),
        "{problems:?}"
    );
}

#[test]
fn an_overridable_list_of_strings_is_replaced_whole() {
    // GIVEN a definition whose subnet list is overridable as a whole
    let d = definition(LIST_PARAMETER);
    // WHEN a caller gives a shorter list THEN the request carries exactly it
    let overrides = json!({"Instances": {"Ec2SubnetIds": ["subnet-c"]}});
    let rendered = d.render(json!({"days": [1]}), &overrides, &context()).unwrap();
    assert_eq!(
        json_of(&rendered.request)["Instances"]["Ec2SubnetIds"],
        json!(["subnet-c"])
    );
    // AND a list its schema refuses is refused at the list's path
    let bad = json!({"Instances": {"Ec2SubnetIds": ["sg-1"]}});
    let Err(Error::Validation(problems)) = d.render(json!({"days": [1]}), &bad, &context()) else {
        panic!("a subnet list outside its schema passed")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "overrides.Instances.Ec2SubnetIds");
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".*".prop_map(Value::from),
            "[{}%# a-z]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn rendering_any_parameters_and_overrides_returns_instead_of_panicking(
            value in any_json(),
            overrides in any_json(),
            key in prop_oneof![Just("partitions".to_owned()), Just("domain_id".to_owned()), "[a-z]{1,6}"],
        ) {
            let catalog = Catalog::embedded().unwrap();
            let params = json!({ key: value.clone() });
            for definition in catalog.iter() {
                let _ = definition.render(params.clone(), &overrides, &context());
                let _ = definition.render(value.clone(), &Value::Null, &context());
            }
        }
    }
}

#[test]
fn pointers_become_readable_paths() {
    assert_eq!(pointer_to_path("params", ""), "params");
    assert_eq!(pointer_to_path("params", "/a/0/b~1c"), "params.a[0].b/c");
}

#[test]
fn a_serverless_job_run_renders_with_the_flows_token_tags_and_overrides() {
    // GIVEN the catalog's EMR Serverless definition
    let catalog = Catalog::embedded().unwrap();
    let definition = catalog.get("spark-pi-serverless").unwrap();
    let ctx = context();
    // WHEN a flow is rendered with a parameter and an allowed override
    let rendered = definition
        .render(
            json!({"application_id": "00f1982r1uukb925", "partitions": 7}),
            &json!({"executionTimeoutMinutes": 30}),
            &ctx,
        )
        .unwrap();
    // THEN the request is StartJobRun's, with the flow's token and tags, and the override
    assert_eq!(rendered.request.target(), Target::ServerlessJobRun);
    let request = json_of(&rendered.request);
    assert_eq!(request["applicationId"], "00f1982r1uukb925");
    assert_eq!(request["clientToken"], format!("emr-flows-{}", ctx.flow_id));
    assert_eq!(request["tags"]["emr-flows:flow-id"], ctx.flow_id.to_string());
    assert_eq!(request["tags"]["emr-flows:stack"], "test-stack");
    assert_eq!(request["executionTimeoutMinutes"], 30);
    assert_eq!(
        request["jobDriver"]["sparkSubmit"]["entryPointArguments"],
        json!(["7"])
    );
    assert_eq!(rendered.request.name(), format!("spark-pi {}", ctx.flow_id));
    // AND an override outside the allowed paths, or past the schema, is refused by its path
    let err = definition
        .render(
            json!({"application_id": "00f1982r1uukb925"}),
            &json!({"executionRoleArn": "arn:aws:iam::123456789012:role/Admin", "executionTimeoutMinutes": 0}),
            &ctx,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("overrides.executionRoleArn"), "{err}");
    assert!(err.contains("overrides.executionTimeoutMinutes"), "{err}");
    // AND a run without a name is named after the definition (a lost launch is found by it)
    let unnamed = Definition::parse(
        "t.yaml",
        "name: t\nversion: '1'\nexamples: [{}]\nserverless_job_run:\n  applicationId: 00f1982r1uukb925\n  executionRoleArn: arn:aws:iam::123456789012:role/R\n  jobDriver: {hive: {query: s3://b/q.ql}}\n",
    )
    .unwrap();
    let rendered = unnamed.render(json!({}), &Value::Null, &ctx).unwrap();
    assert_eq!(rendered.request.name(), "t");
}

#[test]
fn a_rendered_value_the_service_refuses_says_whether_the_parameters_or_the_overrides_gave_it() {
    // GIVEN an EMR on EKS definition whose run name is a template and may be overridden
    let eks = definition(
        "name: t\nversion: '1'\nexamples: [{label: ok}]\n\
         parameters: {type: object, required: [label], properties: {label: {type: string}}}\n\
         eks_job_run:\n  virtualClusterId: kfo3ayx4dkhpbo3bd5rd3a8mq\n  name: 'pi-{{ label }}'\n  \
         executionRoleArn: arn:aws:iam::123456789012:role/R\n  releaseLabel: emr-7.1.0-latest\n  \
         jobDriver: {sparkSubmitJobDriver: {entryPoint: s3://b/pi.py}}\n\
         overridable: {/name: {type: string}}\n",
    );
    let ctx = context();
    // WHEN a parameter puts a space in the name THEN the problem says the parameters rendered it
    let err = (eks.render(json!({"label": "a b"}), &Value::Null, &ctx))
        .unwrap_err()
        .to_string();
    assert!(err.contains("eks_job_run.name: \"pi-a b\""), "{err}");
    assert!(
        err.contains("(rendered from the parameters by the definition's `pi-{{ label }}`)"),
        "{err}"
    );
    // AND an override that does it is named as the overrides' value
    let err = (eks.render(json!({"label": "ok"}), &json!({"name": "x y"}), &ctx))
        .unwrap_err()
        .to_string();
    assert!(err.contains("(the value the overrides give at `/name`)"), "{err}");
    // AND a cluster's RunJobFlow problem from an override is told the same way
    let cluster = definition(
        "name: t\nversion: '1'\nexamples: [{}]\njob_flow:\n  Name: c\n  ReleaseLabel: emr-7.5.0\n  \
         Instances: {InstanceCount: 1, MasterInstanceType: m5.xlarge}\n  JobFlowRole: EMR_EC2_DefaultRole\n  \
         ServiceRole: EMR_DefaultRole\noverridable: {/Name: {type: string}}\n",
    );
    let err = (cluster.render(json!({}), &json!({"Name": "x".repeat(300)}), &ctx))
        .unwrap_err()
        .to_string();
    assert!(err.contains("job_flow.Name"), "{err}");
    assert!(err.contains("(the value the overrides give at `/Name`)"), "{err}");
}
