//! Rendering: a definition plus submitted parameters (and overrides) becomes the exact run
//! request ([`Request`]: RunJobFlow for a cluster of the flow's own), the artifacts and the
//! parameters as recorded. Pure: no clock, no I/O; the caller
//! passes the flow id, submission time and region in a [`Context`].
//!
//! Order: parameters get the schema's defaults and are validated (every violation reported with
//! its path); every string of the run section, `steps` and `artifacts` that holds `{{` is rendered as
//! a MiniJinja template (`{{ partitions }}`; only `{{ }}` is a marker, other strings are used
//! byte for byte; see [`environment`]); short-form steps become
//! `StepConfig`s and are appended to `job_flow.Steps`; `overrides` are deep-merged where the
//! definition allows; the result is checked against EMR's RunJobFlow model and limits.

use std::collections::BTreeMap;

use minijinja::Environment;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::cluster_steps::StepsRequest;
use crate::catalog::definition::{Definition, Overridable};
use crate::catalog::eks_job_run::EksJobRun;
use crate::catalog::job_flow::{FLOW_ID_TAG, FLOW_TAG, JobFlow, STACK_TAG};
use crate::catalog::serverless_job_run::ServerlessJobRun;
use crate::catalog::start_job_run::{JobRunService, StartJobRun};
use crate::catalog::steps::to_step_config;
use crate::catalog::template::{Context, environment, is_template, pointer_to_path};
use crate::error::{Error, Problem};
use crate::model::Target;

/// What a flow launches and records.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The submitted parameters with the schema's defaults applied.
    pub params: Value,
    /// What the service receives: the run section as the definition, parameters and overrides
    /// make it, with the flow's tags (`emr-flows:flow-id`, `emr-flows:flow`,
    /// `emr-flows:stack`).
    pub request: Request,
    /// `sha256:` and the hex SHA-256 of `request` as JSON (keys sorted).
    pub request_digest: String,
    pub artifacts: BTreeMap<String, String>,
}

/// A flow's run request as sent, one variant per [`Target`].
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// RunJobFlow, for a cluster of the flow's own ([`Target::Cluster`]).
    JobFlow(JobFlow),
    /// AddJobFlowSteps, for steps on a long-running cluster ([`Target::Steps`]).
    Steps(StepsRequest),
    /// StartJobRun, for a job run on EMR Serverless ([`Target::ServerlessJobRun`]).
    ServerlessJobRun(ServerlessJobRun),
    /// StartJobRun, for a job run on EMR on EKS ([`Target::EksJobRun`]).
    EksJobRun(EksJobRun),
}

impl Request {
    /// The target the request runs on.
    pub fn target(&self) -> Target {
        match self {
            Self::JobFlow(_) => Target::Cluster,
            Self::Steps(_) => Target::Steps,
            Self::ServerlessJobRun(_) => Target::ServerlessJobRun,
            Self::EksJobRun(_) => Target::EksJobRun,
        }
    }

    /// The run's name as the request gives it (RunJobFlow's `Name`, StartJobRun's `name`).
    pub fn name(&self) -> &str {
        match self {
            Self::JobFlow(job_flow) => job_flow.name(),
            Self::Steps(steps) => steps.name(),
            Self::ServerlessJobRun(run) => run.name().unwrap_or_default(),
            Self::EksJobRun(run) => run.name().unwrap_or_default(),
        }
    }

    /// The request as JSON, in the service's API shape.
    pub fn as_json(&self) -> &Map<String, Value> {
        match self {
            Self::JobFlow(job_flow) => job_flow.as_json(),
            Self::Steps(steps) => steps.as_json(),
            Self::ServerlessJobRun(run) => run.as_json(),
            Self::EksJobRun(run) => run.as_json(),
        }
    }

    /// The request body the service receives: compact JSON, keys sorted.
    pub fn to_body(&self) -> Vec<u8> {
        match self {
            Self::JobFlow(job_flow) => job_flow.to_body(),
            Self::Steps(steps) => steps.to_body(),
            Self::ServerlessJobRun(run) => run.to_body(),
            Self::EksJobRun(run) => run.to_body(),
        }
    }
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
                problems.extend(self.merge_overrides(&mut self.section().clone(), overrides));
                return Err(Error::Validation(problems));
            }
            Err(e) => return Err(e),
        };
        let templates = Templates::new(self.variables(&params, context));

        let mut broken = Vec::new();
        let section = templates.render_value(self.target.section(), self.section(), &mut broken);
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

        let flow_id = context.flow_id.to_string();
        let tags = [
            (FLOW_ID_TAG, flow_id.as_str()),
            (FLOW_TAG, self.spec.name.as_str()),
            (STACK_TAG, context.stack.as_str()),
        ];
        let request = match self.target {
            Target::Cluster => self.job_flow(section, steps, overrides, &context.region, &tags)?,
            Target::Steps => self.cluster_steps(section, steps, overrides, context)?,
            Target::ServerlessJobRun => Request::ServerlessJobRun(self.job_run(
                Target::ServerlessJobRun,
                section,
                steps,
                overrides,
                context,
                &tags,
            )?),
            Target::EksJobRun => Request::EksJobRun(self.job_run(
                Target::EksJobRun,
                section,
                steps,
                overrides,
                context,
                &tags,
            )?),
        };
        let request_digest = format!("sha256:{}", hex::encode(Sha256::digest(request.to_body())));
        Ok(Rendered {
            params,
            request,
            request_digest,
            artifacts,
        })
    }

    /// The RunJobFlow request: the rendered `job_flow` with the rendered `steps` appended,
    /// `overrides` merged, checked against EMR's model and limits, and tagged with `tags`.
    fn job_flow(
        &self,
        job_flow: Value,
        steps: Vec<Value>,
        overrides: &Value,
        region: &str,
        tags: &[(&str, &str)],
    ) -> Result<Request, Error> {
        let mut problems = Vec::new();
        let mut job_flow = Self::assemble_steps(job_flow, steps, region, &mut problems);
        problems.extend(self.merge_overrides(&mut job_flow, overrides));
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        let job_flow = JobFlow::check("job_flow", job_flow)
            .map_err(|problems| Error::Validation(self.sources("job_flow", problems, overrides)))?;
        let request = job_flow.with_tags("job_flow", tags).map_err(Error::Validation)?;
        Ok(Request::JobFlow(request))
    }

    /// AddJobFlowSteps' request: the rendered `cluster` section and `steps`, checked and
    /// marked with the flow (see [`StepsRequest::check`]), `overrides` merged into its API
    /// shape (`/Steps/0/HadoopJarStep/Args/1`) and checked again.
    fn cluster_steps(
        &self,
        section: Value,
        steps: Vec<Value>,
        overrides: &Value,
        context: &Context,
    ) -> Result<Request, Error> {
        let request = StepsRequest::check(section.clone(), steps, &context.region, context.flow_id)
            .map_err(Error::Validation)?;
        if overrides.as_object().is_none_or(Map::is_empty) {
            return Ok(Request::Steps(request));
        }
        // Merged into the API shape, then checked again from the merged steps.
        let mut shape = Value::Object(request.as_json().clone());
        let problems = self.merge_overrides(&mut shape, overrides);
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        let steps = shape
            .get("Steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let request = StepsRequest::check(section, steps, &context.region, context.flow_id)
            .map_err(Error::Validation)?;
        Ok(Request::Steps(request))
    }

    /// A StartJobRun request (EMR Serverless' or EMR on EKS'): the rendered run section of
    /// `target` with `overrides` merged, checked against the service's model, named after the
    /// definition when it has no `name`, tagged with `tags` and given the flow's
    /// `clientToken`. `steps` belong to `job_flow`: any is a problem.
    fn job_run<S: JobRunService>(
        &self,
        target: Target,
        mut run: Value,
        steps: Vec<Value>,
        overrides: &Value,
        context: &Context,
        tags: &[(&str, &str)],
    ) -> Result<StartJobRun<S>, Error> {
        let path = target.section();
        let mut problems = Vec::new();
        if !steps.is_empty() {
            problems.push(Problem::new(
                "steps",
                format!("only a `job_flow` has steps; a `{path}` runs its jobDriver"),
            ));
        }
        problems.extend(self.merge_overrides(&mut run, overrides));
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        Ok(StartJobRun::<S>::check(path, run)
            .map_err(|problems| Error::Validation(self.sources(path, problems, overrides)))?
            .with_default_name(&self.spec.name)
            .with_tags(path, tags)
            .map_err(Error::Validation)?
            .with_client_token(context.flow_id))
    }

    /// `problems` of the rendered run section `section` (`eks_job_run.name`), each told where
    /// its value came from when a caller gave it: the overrides (`overrides` names the
    /// problem's JSON Pointer) or the parameters (the definition writes a template there). A
    /// value the definition wrote as it is needs no word.
    fn sources(&self, section: &str, problems: Vec<Problem>, overrides: &Value) -> Vec<Problem> {
        problems
            .into_iter()
            .map(|mut problem| {
                let Some(pointer) = problem.path.strip_prefix(section).map(pointer_of) else {
                    return problem;
                };
                if overrides.pointer(&pointer).is_some() {
                    problem
                        .message
                        .push_str(&format!(" (the value the overrides give at `{pointer}`)"));
                } else if let Some(template) =
                    (self.section().pointer(&pointer).and_then(Value::as_str)).filter(|t| t.contains("{{"))
                {
                    problem.message.push_str(&format!(
                        " (rendered from the parameters by the definition's `{template}`)"
                    ));
                }
                problem
            })
            .collect()
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
            let len = target.len();
            for (i, (existing, value)) in target.iter_mut().zip(patch).enumerate() {
                path.push(Segment::Index(i));
                merge(existing, value, path, allow, problems);
                path.pop();
            }
            if patch.len() > len {
                // Named once, at the last element (the one asked for; the ones before it are
                // `{}`, "leave it"), however long the list: never one problem per element.
                path.push(Segment::Index(patch.len() - 1));
                problems.push(Problem::new(
                    display(path),
                    format!(
                        "does not exist in the definition (it has {len} elements; this list has {}); overrides change, never add",
                        patch.len()
                    ),
                ));
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
mod tests;

/// The JSON Pointer of a problem's path below its section (`.Instances.InstanceGroups[1].Name`
/// → `/Instances/InstanceGroups/1/Name`); best effort: a key holding `.` or `[` is split.
fn pointer_of(path: &str) -> String {
    let mut pointer = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            pointer.push('/');
            pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        }
        for index in pieces {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    pointer
}
