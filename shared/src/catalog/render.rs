//! Rendering: a definition plus submitted parameters (and overrides) becomes the exact RunJobFlow
//! request, the artifacts and the parameters as recorded. Pure: no clock, no I/O; the caller
//! passes the flow id, submission time and region in a [`Context`].
//!
//! Order: parameters get the schema's defaults and are validated (every violation reported with
//! its path); every string of `job_flow`, `steps` and `artifacts` that holds `{{` is rendered as
//! a MiniJinja template (`{{ partitions }}`; only `{{ }}` is a marker, other strings are used
//! byte for byte; see [`environment`]); short-form steps become
//! `StepConfig`s and are appended to `job_flow.Steps`; `overrides` are deep-merged where the
//! definition allows; the result is checked against EMR's RunJobFlow model and limits.

use std::collections::BTreeMap;

use minijinja::Environment;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::definition::{Definition, Overridable};
use crate::catalog::job_flow::{FLOW_ID_TAG, FLOW_TAG, JobFlow, STACK_TAG};
use crate::catalog::steps::to_step_config;
use crate::catalog::template::{Context, environment, is_template, pointer_to_path};
use crate::error::{Error, Problem};

/// What a flow launches and records.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The submitted parameters with the schema's defaults applied.
    pub params: Value,
    /// The RunJobFlow request as the definition, parameters and overrides make it.
    pub job_flow: JobFlow,
    /// What EMR receives: `job_flow` plus the `emr-flows:flow-id` and `emr-flows:flow` tags.
    pub request: JobFlow,
    /// `sha256:` and the hex SHA-256 of `request` as JSON (keys sorted).
    pub request_digest: String,
    pub artifacts: BTreeMap<String, String>,
}

impl Definition {
    /// Validates `params` (an object, or `null` for none), renders the definition and merges
    /// `overrides` (an object, or `null`).
    ///
    /// Errors: [`Error::Validation`] listing every problem of the parameters (`params…`), the
    /// overrides (`overrides…`) and the rendered request (`job_flow…`, `steps[i]…`: unknown
    /// keys, wrong types, EMR's limits, mangled arguments); [`Error::Definition`] when a
    /// template is broken (undefined variable, syntax), with its path in the definition.
    pub fn render(&self, params: Value, overrides: &Value, context: &Context) -> Result<Rendered, Error> {
        let params = match self.validate_params(params) {
            Ok(params) => params,
            Err(Error::Validation(mut problems)) => {
                // Report the overrides' problems too, checked against the unrendered request.
                problems.extend(self.merge_overrides(&mut self.spec.job_flow.clone(), overrides));
                return Err(Error::Validation(problems));
            }
            Err(e) => return Err(e),
        };
        let templates = Templates::new(self.variables(&params, context));

        let mut broken = Vec::new();
        let job_flow = templates.render_value("job_flow", &self.spec.job_flow, &mut broken);
        let steps: Vec<Value> = (self.spec.steps.iter().enumerate())
            .map(|(i, step)| templates.render_value(&format!("steps[{i}]"), step, &mut broken))
            .collect();
        let artifacts: BTreeMap<String, String> = (self.spec.artifacts.iter())
            .map(|(name, uri)| {
                (
                    name.clone(),
                    templates.render_str(&format!("artifacts.{name}"), uri, &mut broken),
                )
            })
            .collect();
        if !broken.is_empty() {
            return Err(Error::Definition {
                name: self.spec.name.clone(),
                problems: broken,
            });
        }

        let mut problems = Vec::new();
        let mut job_flow = Self::assemble_steps(job_flow, steps, &context.region, &mut problems);
        problems.extend(self.merge_overrides(&mut job_flow, overrides));
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        let job_flow = JobFlow::check("job_flow", job_flow).map_err(Error::Validation)?;
        let flow_id = context.flow_id.to_string();
        let tags = [
            (FLOW_ID_TAG, flow_id.as_str()),
            (FLOW_TAG, self.spec.name.as_str()),
            (STACK_TAG, context.stack.as_str()),
        ];
        let request = job_flow.with_tags("job_flow", &tags).map_err(Error::Validation)?;
        let request_digest = format!("sha256:{}", hex::encode(Sha256::digest(request.to_body())));
        Ok(Rendered {
            params,
            job_flow,
            request,
            request_digest,
            artifacts,
        })
    }

    /// The template variables: the parameters and the built-ins.
    fn variables(&self, params: &Value, context: &Context) -> Value {
        let mut variables = params.as_object().cloned().unwrap_or_default();
        let at = context.submitted_at;
        for (name, value) in [
            ("flow_id", context.flow_id.to_string()),
            ("flow_name", self.spec.name.clone()),
            ("submitted_at", at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            ("submitted_date", at.format("%Y-%m-%d").to_string()),
            ("submitted_year", at.format("%Y").to_string()),
            ("submitted_month", at.format("%m").to_string()),
            ("submitted_day", at.format("%d").to_string()),
            ("aws_region", context.region.clone()),
        ] {
            variables.insert(name.into(), value.into());
        }
        Value::Object(variables)
    }

    /// Turns `job_flow.Steps` and the rendered `steps` (short forms allowed) into StepConfigs,
    /// the latter appended to the former.
    fn assemble_steps(
        mut job_flow: Value,
        steps: Vec<Value>,
        region: &str,
        problems: &mut Vec<Problem>,
    ) -> Value {
        let Some(object) = job_flow.as_object_mut() else {
            return job_flow;
        };
        let own = match object.remove("Steps") {
            Some(Value::Array(own)) => own,
            Some(other) => {
                problems.push(Problem::new(
                    "job_flow.Steps",
                    format!("must be a list of StepConfigs, not {other}"),
                ));
                vec![]
            }
            None => vec![],
        };
        let all = (own
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("job_flow.Steps[{i}]"), s)))
        .chain(
            steps
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("steps[{i}]"), s)),
        );
        let mut configs = Vec::new();
        for (path, step) in all {
            match to_step_config(&path, step, region) {
                Ok(config) => configs.push(config),
                Err(found) => problems.extend(found),
            }
        }
        if !configs.is_empty() {
            object.insert("Steps".into(), Value::Array(configs));
        }
        job_flow
    }

    /// Deep-merges `overrides` into `job_flow`: objects member by member, lists element by
    /// element (an override may not add elements), anything else replaced. Every value replaced
    /// must be at a path the definition lists in `overridable` and satisfy that path's schema.
    fn merge_overrides(&self, job_flow: &mut Value, overrides: &Value) -> Vec<Problem> {
        match overrides {
            Value::Null => vec![],
            Value::Object(_) => {
                let mut problems = Vec::new();
                merge(job_flow, overrides, &mut vec![], &self.overridable, &mut problems);
                problems
            }
            other => vec![Problem::new(
                "overrides",
                format!("must be an object, not {other}"),
            )],
        }
    }

    /// Applies the schema's defaults to `params`, then validates it against the schema.
    fn validate_params(&self, params: Value) -> Result<Value, Error> {
        let mut params = match params {
            Value::Null => Value::Object(Map::new()),
            Value::Object(_) => params,
            other => {
                return Err(Error::invalid(
                    "params",
                    format!("must be an object, not {other}"),
                ));
            }
        };
        apply_defaults(&self.spec.parameters, &mut params);
        whole_numbers_as_integers(&mut params);
        let mut problems = Vec::new();
        inexact_numbers("params", &params, &mut problems);
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        let problems: Vec<Problem> = self
            .schema
            .iter_errors(&params)
            .map(|e| {
                Problem::new(
                    pointer_to_path("params", e.instance_path().as_str()),
                    e.to_string(),
                )
            })
            .collect();
        if problems.is_empty() {
            Ok(params)
        } else {
            Err(Error::Validation(problems))
        }
    }
}

/// Fills in `default`s of the schema's `properties` that `value` lacks, recursively into
/// nested objects.
fn apply_defaults(schema: &Value, value: &mut Value) {
    let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) else {
        return;
    };
    for (name, property) in properties {
        if let (false, Some(default)) = (object.contains_key(name), property.get("default")) {
            object.insert(name.clone(), default.clone());
        }
        if let Some(child) = object.get_mut(name) {
            apply_defaults(property, child);
        }
    }
}

/// Writes whole numbers given as decimals (`7.0`, `1e2`) as integers, so a parameter renders
/// as `7` wherever it is used; JSON Schema counts them as integers already.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(whole) = crate::catalog::job_flow::whole_number(n) {
                *value = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(members) => members.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// Numbers JSON cannot carry exactly here: past 64-bit integers, or decimals past 2^53, the
/// parser keeps only a double, so `18446744073709551616` would render as `18446744073709552000`
/// (a different id). Each is refused, naming its path, rather than rendered wrong.
fn inexact_numbers(path: &str, value: &Value, problems: &mut Vec<Problem>) {
    match value {
        Value::Number(n) if n.is_f64() && n.as_f64().is_some_and(|f| f.abs() >= 9_007_199_254_740_992.0) => {
            problems.push(Problem::new(
                path,
                format!(
                    "the number {n} is too large to be exact: JSON numbers are exact up to 64-bit \
                     integers ({}) and, with a fraction or exponent, up to 2^53; pass it as a string",
                    u64::MAX
                ),
            ));
        }
        Value::Array(items) => (items.iter().enumerate())
            .for_each(|(i, item)| inexact_numbers(&format!("{path}[{i}]"), item, problems)),
        Value::Object(members) => {
            (members.iter()).for_each(|(k, member)| inexact_numbers(&format!("{path}.{k}"), member, problems))
        }
        _ => {}
    }
}

/// A path in a request: member names and list indexes.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn display(path: &[Segment]) -> String {
    let mut text = String::from("overrides");
    for segment in path {
        match segment {
            Segment::Key(k) => text.push_str(&format!(".{k}")),
            Segment::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// Whether `path` is what `pointer` names (its RFC 6901 reference tokens; `*` is any one
/// member name or list index).
fn allowed(pointer: &Overridable, path: &[Segment]) -> bool {
    pointer.tokens.len() == path.len()
        && pointer
            .tokens
            .iter()
            .zip(path)
            .all(|(token, segment)| match segment {
                _ if token == "*" => true,
                Segment::Key(k) => token == k,
                Segment::Index(i) => *token == i.to_string(),
            })
}

fn merge(
    target: &mut Value,
    patch: &Value,
    path: &mut Vec<Segment>,
    allow: &[Overridable],
    problems: &mut Vec<Problem>,
) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                path.push(Segment::Key(key.clone()));
                match target.get_mut(key) {
                    Some(existing) => merge(existing, value, path, allow, problems),
                    None => set(
                        target.entry(key.clone()).or_insert(Value::Null),
                        value,
                        path,
                        allow,
                        problems,
                    ),
                }
                path.pop();
            }
        }
        (Value::Array(target), Value::Array(patch)) if patch.iter().any(Value::is_object) => {
            for (i, value) in patch.iter().enumerate() {
                path.push(Segment::Index(i));
                match target.get_mut(i) {
                    Some(existing) => merge(existing, value, path, allow, problems),
                    None => problems.push(Problem::new(
                        display(path),
                        format!("does not exist in the definition (it has {} elements); overrides change, never add", target.len()),
                    )),
                }
                path.pop();
            }
        }
        (target, patch) => set(target, patch, path, allow, problems),
    }
}

fn set(
    target: &mut Value,
    value: &Value,
    path: &[Segment],
    allow: &[Overridable],
    problems: &mut Vec<Problem>,
) {
    let Some(Overridable { schema, .. }) = allow.iter().find(|p| allowed(p, path)) else {
        let message = if allow.is_empty() {
            "is not overridable: this flow definition allows no overrides".to_owned()
        } else {
            let patterns: Vec<&str> = allow.iter().map(|p| p.pointer.as_str()).collect();
            format!("is not overridable; allowed: {}", patterns.join(", "))
        };
        problems.push(Problem::new(display(path), message));
        return;
    };
    let before = problems.len();
    problems.extend(
        schema
            .iter_errors(value)
            .map(|e| Problem::new(display(path), e.to_string())),
    );
    if problems.len() == before {
        *target = value.clone();
    }
}

/// A strict MiniJinja environment with the flow's variables.
struct Templates {
    env: Environment<'static>,
    context: minijinja::Value,
}

impl Templates {
    fn new(context: Value) -> Self {
        Self {
            env: environment(),
            context: minijinja::Value::from(minijinja::value::Serde(context)),
        }
    }

    fn render_str(&self, path: &str, template: &str, problems: &mut Vec<Problem>) -> String {
        if !is_template(template) {
            return template.to_owned();
        }
        self.env.render_str(template, &self.context).unwrap_or_else(|e| {
            let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
            problems.push(Problem::new(
                path,
                format!("template `{template}`: {}{detail}", e.kind()),
            ));
            String::new()
        })
    }

    /// Renders every string in `value`; keys are kept as written.
    fn render_value(&self, path: &str, value: &Value, problems: &mut Vec<Problem>) -> Value {
        match value {
            Value::String(s) => Value::String(self.render_str(path, s, problems)),
            Value::Array(items) => Value::Array(
                (items.iter().enumerate())
                    .map(|(i, v)| self.render_value(&format!("{path}[{i}]"), v, problems))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.render_value(&format!("{path}.{k}"), v, problems)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::definition::Catalog;
    use crate::model::FlowId;
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

    fn json_of(job_flow: &JobFlow) -> Value {
        Value::Object(job_flow.as_json().clone())
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
                assert!(!json_of(&rendered.request)["Steps"].as_array().unwrap().is_empty());
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
        let request = json_of(&rendered.job_flow);
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
        assert!(json_of(&a.job_flow).get("Tags").is_none());
        let b = d.render(json!({"domain_id": 1}), &Value::Null, &ctx).unwrap();
        assert_eq!(a.request_digest, b.request_digest);
        assert!(a.request_digest.starts_with("sha256:") && a.request_digest.len() == 7 + 64);
        let c = d.render(json!({"domain_id": 2}), &Value::Null, &ctx).unwrap();
        assert_ne!(a.request_digest, c.request_digest);
    }

    #[test]
    fn overrides_merge_deeply_where_allowed() {
        let overrides = json!({"Instances": {"InstanceGroups": [{}, {"InstanceCount": 8, "InstanceType": "r5.4xlarge"}]}});
        let rendered = definition(MINIMAL)
            .render(json!({"domain_id": 1}), &overrides, &context())
            .unwrap();
        let groups = json_of(&rendered.job_flow)["Instances"]["InstanceGroups"].clone();
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
        let request = json_of(&rendered.job_flow);
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
                include_str!("../../../events/real/jobflows/airflow-example-pi.json"),
            ),
            (
                "cdk-instance-fleets",
                include_str!("../../../tests/fixtures/cdk-instance-fleets.json"),
            ),
        ];
        for (name, text) in published {
            let rendered = pasted(name, text)
                .render(Value::Null, &Value::Null, &context())
                .unwrap();
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(json_of(&rendered.job_flow), expected, "{name}");
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
}
