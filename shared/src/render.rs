//! Rendering: a definition plus submitted parameters becomes the exact RunJobFlow request, the
//! artifacts and the parameters as recorded. Pure: no clock, no I/O; the caller passes the flow
//! id and submission time.
//!
//! Parameters are validated with JSON Schema (defaults applied first); every violation is
//! reported with its path. String values are MiniJinja templates (`{{ partitions }}`) rendered
//! with undefined variables as errors.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::definition::Definition;
use crate::error::{Error, Problem};
use crate::job_flow::JobFlow;
use crate::model::FlowId;

/// What a flow launches and records.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The submitted parameters with the schema's defaults applied.
    pub params: Value,
    /// The RunJobFlow request, `steps` appended to `job_flow.Steps`.
    pub job_flow: JobFlow,
    pub artifacts: BTreeMap<String, String>,
}

impl Definition {
    /// Validates `params` (an object, or `null` for none) and renders the definition.
    ///
    /// Errors: [`Error::Validation`] listing every parameter problem under `params…`;
    /// [`Error::Definition`] when a template or the rendered request is broken (undefined
    /// variable, unknown key, wrong type), with its path in the definition.
    pub fn render(
        &self,
        params: Value,
        flow_id: FlowId,
        submitted_at: DateTime<Utc>,
    ) -> Result<Rendered, Error> {
        let params = self.validate_params(params)?;
        let broken = |problems| Error::Definition {
            name: self.spec.name.clone(),
            problems,
        };

        let mut context = params.as_object().cloned().unwrap_or_default();
        context.insert("flow_id".into(), flow_id.to_string().into());
        context.insert("flow_name".into(), self.spec.name.clone().into());
        context.insert(
            "submitted_at".into(),
            submitted_at.format("%Y-%m-%dT%H:%M:%SZ").to_string().into(),
        );
        context.insert(
            "submitted_date".into(),
            submitted_at.format("%Y-%m-%d").to_string().into(),
        );
        let templates = Templates::new(Value::Object(context));

        let mut problems = Vec::new();
        let mut job_flow = templates.render_value("job_flow", &self.spec.job_flow, &mut problems);
        let steps: Vec<Value> = (self.spec.steps.iter().enumerate())
            .map(|(i, step)| templates.render_value(&format!("steps[{i}]"), step, &mut problems))
            .collect();
        let artifacts: BTreeMap<String, String> = (self.spec.artifacts.iter())
            .map(|(name, uri)| {
                let path = format!("artifacts.{name}");
                (name.clone(), templates.render_str(&path, uri, &mut problems))
            })
            .collect();
        if !problems.is_empty() {
            return Err(broken(problems));
        }

        if let Some(object) = job_flow.as_object_mut() {
            let all_steps = object.entry("Steps").or_insert_with(|| Value::Array(vec![]));
            if let Some(list) = all_steps.as_array_mut() {
                list.extend(steps);
            }
        }
        let job_flow: JobFlow = serde_path_to_error::deserialize(job_flow).map_err(|e| {
            broken(vec![Problem::new(
                format!("job_flow.{}", e.path()),
                e.inner().to_string(),
            )])
        })?;
        Ok(Rendered {
            params,
            job_flow,
            artifacts,
        })
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

/// `("params", "/a/0/b")` → `params.a[0].b` (JSON Pointer, RFC 6901, to a readable path).
fn pointer_to_path(root: &str, pointer: &str) -> String {
    let mut path = root.to_owned();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.parse::<usize>().is_ok() {
            path.push_str(&format!("[{token}]"));
        } else {
            path.push('.');
            path.push_str(&token);
        }
    }
    path
}

/// A strict MiniJinja environment with the flow's variables.
struct Templates {
    env: Environment<'static>,
    context: minijinja::Value,
}

impl Templates {
    fn new(context: Value) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        Self {
            env,
            context: minijinja::Value::from(minijinja::value::Serde(context)),
        }
    }

    fn render_str(&self, path: &str, template: &str, problems: &mut Vec<Problem>) -> String {
        if !template.contains("{{") && !template.contains("{%") && !template.contains("{#") {
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
    use crate::definition::Catalog;
    use chrono::TimeZone;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 8, 30, 0).unwrap()
    }

    fn definition(yaml: &str) -> Definition {
        Definition::parse("t.yaml", yaml).unwrap()
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
job_flow:
  Name: "t {{ flow_id }}"
  Instances:
    InstanceGroups:
      - {InstanceRole: MASTER, InstanceType: m5.xlarge, InstanceCount: "{{ size }}"}
steps:
  - Name: index
    HadoopJarStep: {Jar: command-runner.jar, Args: [run, "--domain-id", "{{ domain_id }}"]}
artifacts:
  output: "s3://bucket/{{ flow_name }}/{{ submitted_date }}/{{ flow_id }}/"
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
                let rendered = definition.render(example.clone(), FlowId::generate(), at());
                let rendered = rendered.unwrap_or_else(|e| panic!("{}: {e}", definition.spec.name));
                assert!(!rendered.job_flow.steps.is_empty());
            }
        }
    }

    #[test]
    fn parameters_render_into_the_request_with_defaults_applied() {
        let id = FlowId::generate();
        let rendered = definition(MINIMAL)
            .render(json!({"domain_id": 42}), id, at())
            .unwrap();
        assert_eq!(rendered.params, json!({"domain_id": 42, "size": 2}));
        assert_eq!(rendered.job_flow.name, format!("t {id}"));
        assert_eq!(rendered.job_flow.instances.instance_groups[0].instance_count, 2);
        assert_eq!(
            rendered.job_flow.steps[0].hadoop_jar_step.args,
            ["run", "--domain-id", "42"]
        );
        assert_eq!(
            rendered.artifacts["output"],
            format!("s3://bucket/t/2026-11-29/{id}/")
        );
    }

    #[test]
    fn every_parameter_violation_is_reported_with_its_path() {
        let err = definition(MINIMAL)
            .render(json!({"size": 0, "colour": "red"}), FlowId::generate(), at())
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
    fn params_must_be_an_object() {
        let err = definition(MINIMAL)
            .render(json!([1]), FlowId::generate(), at())
            .unwrap_err();
        assert!(err.to_string().contains("params: must be an object"), "{err}");
    }

    #[test]
    fn an_undefined_variable_is_a_definition_error_naming_the_place() {
        let yaml = MINIMAL.replace("{{ domain_id }}", "{{ domain }}");
        let err = definition(&yaml)
            .render(json!({"domain_id": 1}), FlowId::generate(), at())
            .unwrap_err();
        let Error::Definition { problems, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(problems[0].path, "steps[0].HadoopJarStep.Args[2]");
        assert!(
            problems[0].message.contains("undefined"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn a_misspelled_request_key_is_a_definition_error_naming_the_place() {
        let yaml = MINIMAL.replace("InstanceType:", "InstanceTyp:");
        let err = definition(&yaml)
            .render(json!({"domain_id": 1}), FlowId::generate(), at())
            .unwrap_err();
        let Error::Definition { problems, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(
            problems[0].path,
            "job_flow.Instances.InstanceGroups[0].InstanceTyp"
        );
    }

    #[test]
    fn pointers_become_readable_paths() {
        assert_eq!(pointer_to_path("params", ""), "params");
        assert_eq!(pointer_to_path("params", "/a/0/b~1c"), "params.a[0].b/c");
    }
}
