//! Flow definitions and the catalog: the YAML files in `shared/flows/`, embedded at build time
//! (see `build.rs`), parsed and checked once per process.
//!
//! A definition file has the keys `name` (equal to the file name without `.yaml`), `version`,
//! `description`, `parameters` (a JSON Schema for the submitted `params`), `examples` (parameter
//! sets the tests render), `job_flow` (the RunJobFlow request in EMR's API shape, see
//! [`crate::catalog::job_flow`]), `steps` (more steps, appended to `job_flow.Steps`), `overridable`
//! (paths callers may override), `callbacks` (default targets) and `artifacts` (named URI
//! templates). Unknown keys are errors.

use std::collections::BTreeMap;

use crate::error::{Error, Problem, nearest};
use yaml::{Source, SyntaxError};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

mod checks;
mod spec;
mod yaml;

pub use checks::FORMAT_SCHEMA;
pub use spec::{BUILTINS, Definition, DefinitionProblem, FlowDefinition, MAX_RUNTIME_LIMIT, Overridable};

impl Definition {
    /// Parses and checks one definition file. `file_name` is e.g. `spark-pi.yaml`.
    ///
    /// Errors: [`Error::Definition`] listing every problem found, each message ending with its
    /// place (`(line 12, column 5)`); see [`Definition::check`].
    pub fn parse(file_name: &str, yaml: &str) -> Result<Self, Error> {
        Self::parse_source(file_name, Source::parse(yaml))
    }

    /// [`Definition::parse`] of a file already parsed (by `build.rs`, for the embedded catalog).
    fn parse_source(file_name: &str, parsed: Result<Source, SyntaxError>) -> Result<Self, Error> {
        checks::check_source(file_name, parsed).map_err(|found| Error::Definition {
            name: file_name.strip_suffix(".yaml").unwrap_or(file_name).to_owned(),
            problems: found
                .into_iter()
                .map(|p| match p.at {
                    Some((line, column)) => Problem::new(
                        p.problem.path,
                        format!("{} (line {line}, column {column})", p.problem.message),
                    ),
                    None => p.problem,
                })
                .collect(),
        })
    }

    /// Parses and checks one definition file, finding every problem at once: YAML syntax; the
    /// definition format (the generated JSON Schema [`FORMAT_SCHEMA`]: unknown keys with "did you
    /// mean", types, EMR's shapes and enums, the step short forms); the name; the parameter
    /// schema; every template (syntax, and each variable a parameter or built-in that always
    /// has a value); `overridable` (JSON Pointers that can match, valid schemas); and every
    /// example, validated and rendered to a request checked against EMR's model and limits.
    /// Numbers and booleans written where EMR's model wants a string are taken as written.
    ///
    /// Errors: every problem, with where it was written.
    pub fn check(file_name: &str, yaml: &str) -> Result<Self, Vec<DefinitionProblem>> {
        checks::check_source(file_name, Source::parse(yaml))
    }
}

/// Every flow definition this deployment can launch, by name.
#[derive(Debug)]
pub struct Catalog {
    definitions: BTreeMap<String, Definition>,
}

impl Catalog {
    /// `(file name, YAML text)` of every definition embedded from `shared/flows/` at build time.
    pub fn embedded_sources() -> &'static [(&'static str, &'static str)] {
        embedded::EMBEDDED
    }

    /// The definitions embedded from `shared/flows/` at build time, as `build.rs` parsed them
    /// (so the functions carry no YAML parser), checked like [`Catalog::from_sources`].
    ///
    /// Errors: [`Error::Definition`] for the first definition that does not parse or check
    /// (`make check` lists every problem of every definition).
    pub fn embedded() -> Result<Self, Error> {
        let definitions = embedded::EMBEDDED
            .iter()
            .zip(embedded::PARSED)
            .map(|((file, _), parsed)| {
                let parsed = match parsed {
                    Ok(json) => Ok(Source::from_json(json).ok_or_else(|| {
                        Error::Internal(format!(
                            "{file}: the catalog embedded by build.rs does not read back"
                        ))
                    })?),
                    Err((message, at)) => Err(SyntaxError {
                        message: (*message).to_owned(),
                        at: *at,
                    }),
                };
                Definition::parse_source(file, parsed).map(|d| (d.spec.name.clone(), d))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { definitions })
    }

    /// A catalog of `(file name, YAML text)` pairs.
    ///
    /// Errors: [`Error::Definition`] for the first definition that does not parse or check.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Self, Error> {
        let definitions = sources
            .iter()
            .map(|(file, yaml)| Definition::parse(file, yaml).map(|d| (d.spec.name.clone(), d)))
            .collect::<Result<_, _>>()?;
        Ok(Self { definitions })
    }

    /// Checks every `(file name, YAML text)` pair (see [`Definition::check`]).
    ///
    /// Errors: every problem of every definition, by file name, in the order given.
    pub fn check(sources: &[(&str, &str)]) -> Result<Self, Vec<(String, Vec<DefinitionProblem>)>> {
        let mut definitions = BTreeMap::new();
        let mut broken = Vec::new();
        for (file, yaml) in sources {
            match Definition::check(file, yaml) {
                Ok(d) => {
                    definitions.insert(d.spec.name.clone(), d);
                }
                Err(problems) => broken.push(((*file).to_owned(), problems)),
            }
        }
        if broken.is_empty() {
            Ok(Self { definitions })
        } else {
            Err(broken)
        }
    }

    /// The definition named `name`.
    ///
    /// Errors: [`Error::UnknownFlowDefinition`] with up to three similar names.
    pub fn get(&self, name: &str) -> Result<&Definition, Error> {
        self.definitions
            .get(name)
            .ok_or_else(|| Error::UnknownFlowDefinition {
                name: crate::model::bounded(name, 128),
                suggestions: nearest(name, self.definitions.keys().map(String::as_str), 3)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })
    }

    /// The definitions in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.definitions.values()
    }
}

#[cfg(test)]
mod tests;
