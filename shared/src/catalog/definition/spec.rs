//! A flow definition's types: the file's keys as written, the checked definition with its
//! compiled schemas, a problem with its place, and `max_runtime`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Problem};
use crate::model::{CallbackTarget, Target};

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
    /// The run section (exactly one per definition; see [`FlowDefinition::section`]): the
    /// templated RunJobFlow request, in EMR's API shape, for a cluster of the flow's own.
    #[serde(default)]
    pub job_flow: Option<Value>,
    /// The run section for steps on a long-running cluster: which cluster (`id`, or `name`
    /// and/or `tags`) and the steps' runtime role (see [`crate::catalog::cluster_steps`]).
    #[serde(default)]
    pub cluster: Option<Value>,
    /// The run section of a job run on EMR Serverless: the templated StartJobRun request, in
    /// its API shape (see [`crate::catalog::serverless_job_run`]).
    #[serde(default)]
    pub serverless_job_run: Option<Value>,
    /// The run section of a job run on EMR on EKS: the templated emr-containers StartJobRun
    /// request, in its API shape (see [`crate::catalog::eks_job_run`]).
    #[serde(default)]
    pub eks_job_run: Option<Value>,
    /// Templated steps appended to `job_flow.Steps` (or added to the `cluster`): `StepConfig`s or short forms (see
    /// [`crate::catalog::steps`]).
    #[serde(default)]
    pub steps: Vec<Value>,
    /// What a caller may override: a JSON Pointer (RFC 6901) into the run section (`job_flow`)
    /// (`/Instances/InstanceGroups/1/InstanceCount`,
    /// `/Configurations/0/Properties/spark.executor.memory`; `*` as a whole reference token
    /// matches any one list index or member name, `~1` is a `/` inside a key and `~0` a `~`)
    /// and the JSON Schema the new value must satisfy (`{type: integer, minimum: 1, maximum:
    /// 20}`; `{}` for any value).
    #[serde(default)]
    pub overridable: BTreeMap<String, Value>,
    /// Targets told of every flow of this definition, before the caller's own.
    #[serde(default)]
    pub callbacks: Vec<CallbackTarget>,
    /// Named URI templates (e.g. the S3 output prefix), rendered onto the flow record.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
    /// How long a flow may stay active (`"6h"`, `"90m"`, `"1h 30m"`: humantime's format):
    /// past it, the reconcile sweep terminates the cluster and the flow ends `TIMED_OUT`.
    /// A submit may ask for less. None: no limit.
    #[serde(default)]
    pub max_runtime: Option<String>,
    /// An EMR Serverless job run's grace period when emr-flows cancels it (terminate,
    /// `max_runtime`): CancelJobRun's `shutdownGracePeriodInSeconds` (`"30s"`, `"2m"`:
    /// humantime's format, 15 seconds to 30 minutes; releases 7.9.0 and later). None: at once.
    #[serde(default)]
    pub shutdown_grace_period: Option<String>,
}

/// CancelJobRun's bounds on `shutdownGracePeriodInSeconds` (EMR Serverless API reference).
pub const SHUTDOWN_GRACE_PERIOD: std::ops::RangeInclusive<u64> = 15..=1800;

/// Parses a `shutdown_grace_period` (`"30s"`) into seconds, within [`SHUTDOWN_GRACE_PERIOD`].
pub(super) fn parse_grace_period(text: &str) -> Result<u32, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration such as `30s` or `2m`: {e}"))?;
    let seconds = duration.as_secs();
    if !SHUTDOWN_GRACE_PERIOD.contains(&seconds) || duration.subsec_nanos() != 0 {
        return Err(format!(
            "`{text}` is not a whole number of seconds from 15 seconds to 30 minutes (CancelJobRun's shutdownGracePeriodInSeconds)"
        ));
    }
    Ok(seconds as u32)
}

/// The longest `max_runtime` a definition or submit may give: EMR clusters run for days at
/// most in practice, and a flow record is followed that long.
pub const MAX_RUNTIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Parses a `max_runtime` (`"6h"`), 1 minute to [`MAX_RUNTIME_LIMIT`].
pub(super) fn parse_runtime(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration such as `6h` or `90m`: {e}"))?;
    if duration < std::time::Duration::from_secs(60) || duration > MAX_RUNTIME_LIMIT {
        return Err(format!("`{text}` is not between 1 minute and 30 days"));
    }
    Ok(duration)
}

impl FlowDefinition {
    /// The run section for `target` (`job_flow` for [`Target::Cluster`]), when written.
    pub fn section(&self, target: Target) -> Option<&Value> {
        match target {
            Target::Cluster => self.job_flow.as_ref(),
            Target::Steps => self.cluster.as_ref(),
            Target::ServerlessJobRun => self.serverless_job_run.as_ref(),
            Target::EksJobRun => self.eks_job_run.as_ref(),
        }
    }

    /// The targets whose run section the definition has, in [`Target::ALL`]'s order (a checked
    /// definition has exactly one).
    pub fn targets(&self) -> Vec<Target> {
        (Target::ALL.into_iter())
            .filter(|&t| self.section(t).is_some())
            .collect()
    }
}

pub(super) fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "additionalProperties": false})
}

/// A checked definition with its compiled parameter and override schemas.
#[derive(Debug)]
pub struct Definition {
    pub spec: FlowDefinition,
    /// What its flows run on: the target of its one run section.
    pub target: Target,
    pub(crate) schema: jsonschema::Validator,
    /// `overridable`, compiled.
    pub(crate) overridable: Vec<Overridable>,
}

/// One `overridable` entry: a JSON Pointer (RFC 6901) into the run section, its reference tokens and
/// the JSON Schema a new value must satisfy.
#[derive(Debug)]
pub struct Overridable {
    pub pointer: String,
    pub tokens: Vec<String>,
    pub schema: jsonschema::Validator,
}

/// One problem of a definition file and where it was written (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionProblem {
    pub at: Option<(u64, u64)>,
    pub problem: Problem,
}

impl fmt::Display for DefinitionProblem {
    /// `LINE:COLUMN: path: message`, as compilers write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.at {
            write!(f, "{line}:{column}: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

impl Definition {
    /// The run section as written (templated), `null` if absent (a checked definition has it).
    pub fn section(&self) -> &Value {
        self.spec.section(self.target).unwrap_or(&Value::Null)
    }

    /// The seconds EMR Serverless is given to shut a cancelled run down
    /// (`shutdown_grace_period`), when set; a checked definition's parses.
    pub fn shutdown_grace_period_seconds(&self) -> Option<u32> {
        (self.spec.shutdown_grace_period.as_deref()).and_then(|t| parse_grace_period(t).ok())
    }

    /// A flow's `max_runtime`: the `requested` one (a submit's, at most the definition's), else
    /// the definition's; `None` for no limit.
    ///
    /// Errors: [`Error::Validation`] (path `max_runtime`) for a malformed or longer request.
    pub fn max_runtime(&self, requested: Option<&str>) -> Result<Option<chrono::Duration>, Error> {
        let own = self
            .spec
            .max_runtime
            .as_deref()
            .and_then(|t| parse_runtime(t).ok());
        let chosen = match requested {
            None => own,
            Some(text) => {
                let asked = parse_runtime(text).map_err(|m| Error::invalid("max_runtime", m))?;
                if let (Some(own), Some(own_text)) = (own, &self.spec.max_runtime)
                    && asked > own
                {
                    return Err(Error::invalid(
                        "max_runtime",
                        format!("`{text}` is longer than the definition's `{own_text}`"),
                    ));
                }
                Some(asked)
            }
        };
        Ok(chosen.map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(30))))
    }
}
