//! The steps target's request: the definition's `cluster` section (which long-running cluster
//! the steps go to) with its `steps`, rendered into AddJobFlowSteps' request (EMR API reference,
//! `AddJobFlowSteps`: `JobFlowId`, `Steps`, `ExecutionRoleArn`).
//!
//! ```yaml
//! cluster:
//!   id: "{{ cluster_id }}"           # or name and/or tags, looked up at submit
//!   execution_role_arn: arn:aws:iam::123456789012:role/index-updater   # a runtime role
//! steps:
//!   - name: index domain {{ domain_id }}
//!     spark: {application: s3://bucket/index.py}
//! ```
//!
//! The cluster is shared, so a step may never end it: `ActionOnFailure` defaults to `CONTINUE`
//! (EMR's own default, `TERMINATE_CLUSTER`, is never sent) and `TERMINATE_CLUSTER` is refused.
//! Each step's `Name` carries the flow's marker ([`marker`]): AddJobFlowSteps has no
//! idempotency token, so a lost answer is resolved by finding the marked steps with ListSteps,
//! and an event names its flow by the step's name (`detail.name` is whole; `message` truncates).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::catalog::job_flow::{JobFlow, MAX_STEPS, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS};
use crate::catalog::steps::to_step_config;
use crate::error::Problem;
use crate::model::{ClusterId, FlowId, MAX_STEP_NAME_BYTES};

/// The `cluster` section as written (after rendering).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterSection {
    /// The cluster's id (`j-…`), usually a parameter: `{{ cluster_id }}`.
    #[serde(default)]
    id: Option<String>,
    /// The cluster's `Name`, looked up among active clusters.
    #[serde(default)]
    name: Option<String>,
    /// Tags the cluster must carry, looked up among active clusters.
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// The steps' runtime role (AddJobFlowSteps' `ExecutionRoleArn`; EMR 6.7.0+, a cluster with
    /// `EnableApplicationScopedIAMRole`).
    #[serde(default)]
    execution_role_arn: Option<String>,
}

/// How the cluster is found: by id, or by name and/or tags among clusters in STARTING,
/// BOOTSTRAPPING, RUNNING or WAITING.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSelector {
    pub id: Option<ClusterId>,
    pub name: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl std::fmt::Display for ClusterSelector {
    /// What was looked for, for errors: `id j-…`, `name "x" and tags team=search`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(id) = &self.id {
            parts.push(format!("id {id}"));
        }
        if let Some(name) = &self.name {
            parts.push(format!("name \"{name}\""));
        }
        if !self.tags.is_empty() {
            let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("tags {}", tags.join(", ")));
        }
        f.write_str(&parts.join(" and "))
    }
}

/// AddJobFlowSteps' request for one flow: the cluster (found at submit when not given by id),
/// the marked `StepConfig`s and the runtime role.
#[derive(Debug, Clone, PartialEq)]
pub struct StepsRequest {
    pub selector: ClusterSelector,
    /// The request in AddJobFlowSteps' API shape (`JobFlowId` once the cluster is known).
    json: Map<String, Value>,
}

/// The marker a flow's step names end with: ` [flow <flow_id>]`.
pub fn marker(flow_id: FlowId) -> String {
    format!(" [flow {flow_id}]")
}

/// The flow a step's name marks, if it carries a marker ([`marker`]).
pub fn marked_flow(name: &str) -> Option<FlowId> {
    let inner = name.strip_suffix(']')?;
    let at = inner.rfind(" [flow ")?;
    FlowId::parse(&inner[at + " [flow ".len()..]).ok()
}

/// `name` with the flow's marker, the name shortened (on a character boundary) so the whole
/// stays within EMR's 256 bytes.
pub fn mark(name: &str, flow_id: FlowId) -> String {
    let marker = marker(flow_id);
    let mut end = name.len().min(MAX_STEP_NAME_BYTES - marker.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &name[..end])
}

impl StepsRequest {
    /// Checks the rendered `cluster` section and `steps` (API shape or short forms) of flow
    /// `flow_id`, marking each step's name. `region` locates `script-runner.jar`.
    ///
    /// Errors: every problem, with its path (`cluster.id`, `steps[0].ActionOnFailure`, …).
    pub fn check(
        section: Value,
        steps: Vec<Value>,
        region: &str,
        flow_id: FlowId,
    ) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let section: Option<ClusterSection> = match serde_path_to_error::deserialize(section) {
            Ok(section) => Some(section),
            Err(e) => {
                problems.push(Problem::from_serde("cluster", e));
                None
            }
        };
        let selector = section.as_ref().and_then(|s| selector(s, &mut problems));
        if let Some(role) = section.as_ref().and_then(|s| s.execution_role_arn.as_deref())
            && !(role.starts_with("arn:") && role.contains(":role/"))
        {
            problems.push(Problem::new(
                "cluster.execution_role_arn",
                format!("`{role}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
            ));
        }
        if steps.is_empty() {
            problems.push(Problem::new(
                "steps",
                "a flow on a long-running cluster needs at least one step",
            ));
        } else if steps.len() > MAX_STEPS {
            problems.push(Problem::new(
                "steps",
                format!("has {} steps; EMR adds at most {MAX_STEPS} at once", steps.len()),
            ));
        }
        let mut configs = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            let path = format!("steps[{i}]");
            match to_step_config(&path, shared_cluster_default(step), region) {
                Ok(config) => configs.push(config),
                Err(found) => problems.extend(found),
            }
        }
        for (i, config) in configs.iter_mut().enumerate() {
            if config.get("ActionOnFailure").and_then(Value::as_str) == Some("TERMINATE_CLUSTER") {
                problems.push(Problem::new(
                    format!("steps[{i}].ActionOnFailure"),
                    "TERMINATE_CLUSTER would end a shared cluster; use CONTINUE (the default here) \
                     or CANCEL_AND_WAIT",
                ));
            }
            if let Some(name) = config.get("Name").and_then(Value::as_str) {
                config["Name"] = mark(name, flow_id).into();
            }
        }
        // The StepConfigs against EMR's model, as RunJobFlow's `Steps` (the same shape).
        let shape = json!({"Name": "steps", "Instances": {}, "Steps": configs});
        if let Err(found) = JobFlow::check("request", shape) {
            problems.extend(found.into_iter().map(|p| {
                let path = p.path.replacen("request.Steps", "steps", 1);
                Problem::new(path, p.message)
            }));
        }
        let (Some(selector), Some(section), true) = (selector, section, problems.is_empty()) else {
            return Err(problems);
        };
        let mut json = Map::new();
        if let Some(id) = &selector.id {
            json.insert("JobFlowId".into(), id.as_str().into());
        }
        json.insert("Steps".into(), Value::Array(configs));
        if let Some(role) = section.execution_role_arn {
            json.insert("ExecutionRoleArn".into(), role.into());
        }
        Ok(Self { selector, json })
    }

    /// The request for the cluster `cluster_id` (found at submit by name or tags).
    pub fn for_cluster(&self, cluster_id: &ClusterId) -> Self {
        let mut json = self.json.clone();
        json.insert("JobFlowId".into(), cluster_id.as_str().into());
        Self {
            selector: ClusterSelector {
                id: Some(cluster_id.clone()),
                ..self.selector.clone()
            },
            json,
        }
    }

    /// The cluster's id, once known.
    pub fn cluster_id(&self) -> Option<ClusterId> {
        (self.json.get("JobFlowId").and_then(Value::as_str)).and_then(|id| ClusterId::parse(id).ok())
    }

    /// The marked `StepConfig`s, in order.
    pub fn steps(&self) -> &[Value] {
        self.json
            .get("Steps")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The runtime role, when given.
    pub fn execution_role_arn(&self) -> Option<&str> {
        self.json.get("ExecutionRoleArn").and_then(Value::as_str)
    }

    /// What the flow runs on, for the record's `cluster_name`: the cluster as looked for.
    pub fn name(&self) -> &str {
        self.selector.name.as_deref().unwrap_or("")
    }

    /// The request in AddJobFlowSteps' API shape.
    pub fn as_json(&self) -> &Map<String, Value> {
        &self.json
    }

    /// The request body: compact JSON, keys sorted.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json).expect("a JSON map always serializes")
    }
}

/// A step without `ActionOnFailure` gets `CONTINUE`: on a shared cluster, EMR's default
/// (`TERMINATE_CLUSTER`) would end everyone's cluster.
fn shared_cluster_default(mut step: Value) -> Value {
    let api_shape = step.get("HadoopJarStep").is_some() || step.get("Name").is_some();
    let key = if api_shape {
        "ActionOnFailure"
    } else {
        "action_on_failure"
    };
    if let Some(object) = step.as_object_mut() {
        object.entry(key).or_insert_with(|| "CONTINUE".into());
    }
    step
}

fn selector(section: &ClusterSection, problems: &mut Vec<Problem>) -> Option<ClusterSelector> {
    let before = problems.len();
    let id = match section.id.as_deref() {
        Some(id) => match ClusterId::parse(id) {
            Ok(id) => Some(id),
            Err(m) => {
                problems.push(Problem::new("cluster.id", m));
                None
            }
        },
        None => None,
    };
    let name = section.name.clone().filter(|n| !n.is_empty());
    if section.id.is_none() && name.is_none() && section.tags.is_empty() {
        problems.push(Problem::new(
            "cluster",
            "names no cluster: give `id`, or `name` and/or `tags` to find it among active clusters",
        ));
    }
    if section.tags.len() > MAX_TAGS {
        problems.push(Problem::new("cluster.tags", format!("at most {MAX_TAGS} tags")));
    }
    for (k, v) in &section.tags {
        if k.is_empty() || k.len() > MAX_TAG_KEY || v.len() > MAX_TAG_VALUE {
            problems.push(Problem::new(
                format!("cluster.tags.{k}"),
                format!("a tag key is 1 to {MAX_TAG_KEY} bytes, a value at most {MAX_TAG_VALUE}"),
            ));
        }
    }
    (problems.len() == before).then(|| ClusterSelector {
        id,
        name,
        tags: section.tags.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowId {
        FlowId::parse("01JDQ3V4X8M6Z0B1C2D3E4F5G6").unwrap()
    }

    fn spark(name: &str) -> Value {
        json!({"name": name, "spark": {"application": "s3://b/index.py", "args": ["7"]}})
    }

    #[test]
    fn steps_are_marked_and_continue_on_failure() {
        let request = StepsRequest::check(
            json!({"id": "j-ABCDEFGHIJKLM", "execution_role_arn": "arn:aws:iam::123456789012:role/r"}),
            vec![spark("index domain 7")],
            "us-east-1",
            flow(),
        )
        .unwrap();
        let step = &request.steps()[0];
        assert_eq!(step["Name"], "index domain 7 [flow 01JDQ3V4X8M6Z0B1C2D3E4F5G6]");
        assert_eq!(step["ActionOnFailure"], "CONTINUE");
        assert_eq!(marked_flow(step["Name"].as_str().unwrap()), Some(flow()));
        assert_eq!(request.cluster_id().unwrap().as_str(), "j-ABCDEFGHIJKLM");
        assert_eq!(
            request.execution_role_arn(),
            Some("arn:aws:iam::123456789012:role/r")
        );
        assert_eq!(request.as_json()["JobFlowId"], "j-ABCDEFGHIJKLM");
    }

    #[test]
    fn a_long_name_is_shortened_to_keep_its_marker() {
        let name = "é".repeat(200);
        let marked = mark(&name, flow());
        assert!(marked.len() <= MAX_STEP_NAME_BYTES, "{}", marked.len());
        assert_eq!(marked_flow(&marked), Some(flow()));
        assert_eq!(marked_flow("adhoc-debug"), None);
        assert_eq!(marked_flow("x [flow not-a-ulid]"), None);
    }

    #[test]
    fn terminate_cluster_no_cluster_and_bad_ids_are_refused_by_path() {
        let problems = StepsRequest::check(
            json!({"id": "i-123", "execution_role_arn": "role"}),
            vec![
                json!({"Name": "x", "ActionOnFailure": "TERMINATE_CLUSTER",
                       "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}}),
                json!({"name": "y", "action_on_failure": "TERMINATE_CLUSTER", "jar": {"jar": "s3://b/x.jar"}}),
            ],
            "us-east-1",
            flow(),
        )
        .unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "cluster.id",
                "cluster.execution_role_arn",
                "steps[0].ActionOnFailure",
                "steps[1].ActionOnFailure"
            ],
            "{problems:?}"
        );
        let none = StepsRequest::check(json!({}), vec![], "us-east-1", flow()).unwrap_err();
        let paths: Vec<&str> = none.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["cluster", "steps"]);
        let unknown = StepsRequest::check(
            json!({"cluster_id": "j-1"}),
            vec![spark("a")],
            "us-east-1",
            flow(),
        )
        .unwrap_err();
        assert!(unknown[0].to_string().contains("cluster_id"), "{unknown:?}");
    }

    #[test]
    fn a_cluster_found_by_name_and_tags_says_what_was_looked_for() {
        let request = StepsRequest::check(
            json!({"name": "shared-etl", "tags": {"team": "search"}}),
            vec![spark("a")],
            "us-east-1",
            flow(),
        )
        .unwrap();
        assert_eq!(request.cluster_id(), None);
        assert_eq!(
            request.selector.to_string(),
            "name \"shared-etl\" and tags team=search"
        );
        let found = request.for_cluster(&ClusterId::parse("j-FOUND0000001").unwrap());
        assert_eq!(found.as_json()["JobFlowId"], "j-FOUND0000001");
        assert_eq!(
            found.selector.id,
            found.cluster_id(),
            "found once, then named by id"
        );
    }
}
