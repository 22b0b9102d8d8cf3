//! Flow definitions and the catalog: the YAML files in `shared/flows/`, embedded at build time
//! (see `build.rs`), parsed and checked once per process.
//!
//! A definition file has the keys `name` (equal to the file name without `.yaml`), `version`,
//! `description`, `parameters` (a JSON Schema for the submitted `params`), `examples` (parameter
//! sets the tests render), `job_flow` (the RunJobFlow request in EMR's API shape, see
//! [`crate::job_flow`]), `steps` (more steps, appended to `job_flow.Steps`), `overridable`
//! (paths callers may override), `callbacks` (default targets) and `artifacts` (named URI
//! templates). Unknown keys are errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::callback::CallbackTarget;
use crate::error::{Error, Problem};

mod yaml;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// Template variables every definition may use; parameters may not take these names.
pub const BUILTINS: [&str; 8] = [
    "flow_id",
    "flow_name",
    "submitted_at",
    "submitted_date",
    "submitted_year",
    "submitted_month",
    "submitted_day",
    "aws_region",
];

/// A flow definition as written in `shared/flows/NAME.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema (draft 2020-12 unless `$schema` says otherwise) for `params`.
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
    /// Parameter sets that must validate and render (checked by the catalog tests).
    #[serde(default)]
    pub examples: Vec<Value>,
    /// The templated RunJobFlow request, in EMR's API shape.
    pub job_flow: Value,
    /// Templated steps appended to `job_flow.Steps`: `StepConfig`s or short forms (see
    /// [`crate::steps`]).
    #[serde(default)]
    pub steps: Vec<Value>,
    /// What a caller may override: a path in `job_flow` (`Instances.InstanceGroups.*.InstanceCount`;
    /// `*` matches any one member name or list index) and the JSON Schema the new value must
    /// satisfy (`{type: integer, minimum: 1, maximum: 20}`; `{}` for any value).
    #[serde(default)]
    pub overridable: BTreeMap<String, Value>,
    /// Targets told of every flow of this definition, before the caller's own.
    #[serde(default)]
    pub callbacks: Vec<CallbackTarget>,
    /// Named URI templates (e.g. the S3 output prefix), rendered onto the flow record.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "additionalProperties": false})
}

/// A checked definition with its compiled parameter and override schemas.
#[derive(Debug)]
pub struct Definition {
    pub spec: FlowDefinition,
    pub(crate) schema: jsonschema::Validator,
    /// `overridable`, compiled: `(path pattern, value schema)`.
    pub(crate) overridable: Vec<(String, jsonschema::Validator)>,
}

impl Definition {
    /// Parses and checks one definition file. `file_name` is e.g. `spark-pi.yaml`.
    ///
    /// Errors: [`Error::Definition`] listing every problem found.
    pub fn parse(file_name: &str, yaml: &str) -> Result<Self, Error> {
        let stem = file_name.strip_suffix(".yaml").unwrap_or(file_name);
        let broken = |problems| Error::Definition {
            name: stem.to_owned(),
            problems,
        };
        let spec: FlowDefinition =
            serde_saphyr::from_str(yaml).map_err(|e| broken(vec![Problem::new(file_name, e.to_string())]))?;

        let mut problems = Vec::new();
        if spec.name != stem {
            problems.push(Problem::new(
                "name",
                format!("`{}` differs from the file name `{file_name}`", spec.name),
            ));
        }
        if !spec.job_flow.is_object() {
            problems.push(Problem::new(
                "job_flow",
                "must be a RunJobFlow request (a mapping)",
            ));
        }
        if spec.parameters.get("type").and_then(Value::as_str) != Some("object") {
            problems.push(Problem::new(
                "parameters",
                "must be a JSON Schema with `type: object`",
            ));
        }
        if let Some(properties) = spec.parameters.get("properties").and_then(Value::as_object) {
            for builtin in BUILTINS.into_iter().filter(|b| properties.contains_key(*b)) {
                problems.push(Problem::new(
                    format!("parameters.properties.{builtin}"),
                    "is a built-in variable and cannot be a parameter",
                ));
            }
        }
        let schema = jsonschema::validator_for(&spec.parameters);
        if let Err(e) = &schema {
            problems.push(Problem::new(
                "parameters",
                format!("is not a valid JSON Schema: {e}"),
            ));
        }
        let mut overridable = Vec::new();
        for (pattern, schema) in &spec.overridable {
            match jsonschema::validator_for(schema) {
                Ok(validator) => overridable.push((pattern.clone(), validator)),
                Err(e) => problems.push(Problem::new(
                    format!("overridable.{pattern}"),
                    format!("is not a valid JSON Schema: {e}"),
                )),
            }
        }
        match schema {
            Ok(schema) if problems.is_empty() => Ok(Self {
                spec,
                schema,
                overridable,
            }),
            _ => Err(broken(problems)),
        }
    }
}

/// Every flow definition this deployment can launch, by name.
#[derive(Debug)]
pub struct Catalog {
    definitions: BTreeMap<String, Definition>,
}

impl Catalog {
    /// The definitions embedded from `shared/flows/` at build time.
    ///
    /// Errors: [`Error::Definition`] for the first definition that does not parse or check.
    pub fn embedded() -> Result<Self, Error> {
        Self::from_sources(embedded::EMBEDDED)
    }

    /// A catalog of `(file name, YAML text)` pairs.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Self, Error> {
        let definitions = sources
            .iter()
            .map(|(file, yaml)| Definition::parse(file, yaml).map(|d| (d.spec.name.clone(), d)))
            .collect::<Result<_, _>>()?;
        Ok(Self { definitions })
    }

    /// The definition named `name`. Errors: [`Error::UnknownFlowDefinition`].
    pub fn get(&self, name: &str) -> Result<&Definition, Error> {
        self.definitions
            .get(name)
            .ok_or_else(|| Error::UnknownFlowDefinition(name.to_owned()))
    }

    /// The definitions in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.definitions.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalog_holds_both_seed_definitions() {
        let catalog = Catalog::embedded().unwrap();
        let names: Vec<_> = catalog.iter().map(|d| d.spec.name.as_str()).collect();
        assert_eq!(names, ["pages-es-index-updater", "spark-pi"]);
        assert!(matches!(catalog.get("nope"), Err(Error::UnknownFlowDefinition(n)) if n == "nope"));
    }

    #[test]
    fn a_broken_definition_gets_every_problem_named() {
        let yaml = "name: other\nversion: '1'\nparameters:\n  type: object\n  properties:\n    flow_id: {type: string}\njob_flow: []\n";
        let Err(Error::Definition { name, problems }) = Definition::parse("mine.yaml", yaml) else {
            panic!("expected a definition error");
        };
        assert_eq!(name, "mine");
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["name", "job_flow", "parameters.properties.flow_id"]);
    }

    #[test]
    fn unknown_keys_in_a_definition_are_errors() {
        let yaml = "name: x\nversion: '1'\njob_flow: {}\nmax_runtim: 3600\n";
        let err = Definition::parse("x.yaml", yaml).unwrap_err().to_string();
        assert!(err.contains("max_runtim"), "{err}");
    }
}
