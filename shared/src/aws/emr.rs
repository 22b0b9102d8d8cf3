//! The EMR adapter: RunJobFlow, DescribeCluster, ListClusters, ListSteps, DescribeStep and
//! TerminateJobFlows; for steps on a long-running cluster, AddJobFlowSteps and CancelSteps.
//!
//! RunJobFlow is not idempotent (it has no client token): a retry after a lost answer launches
//! a second cluster. So it is never retried blindly: only an answer that proves the request was
//! not applied (throttling) is retried; an unclear failure (timeout, dropped connection, server
//! error) is reported as [`Launch::Unknown`], and the cluster is then looked for by the flow-id
//! tag every launched cluster carries ([`Emr::tagged_clusters`]).
//!
//! RunJobFlow sends the rendered request exactly as checked (see [`crate::catalog::job_flow`]): EMR's
//! JSON protocol takes the API-shape document as the request body, so the SDK's operation is
//! sent with its body replaced by that document (an interceptor, before signing). The SDK still
//! resolves the endpoint, signs, retries and parses the answer; nothing of the request is lost in
//! a translation to builder calls, and a member EMR adds tomorrow works once the schema has it.

use aws_sdk_emr::config::retry::RetryConfig;
use chrono::{DateTime, Utc};

use crate::aws::once::{ExactBody, Sent, send_once};
use crate::aws::upstream;
use crate::catalog::cluster_steps::StepsRequest;
use crate::catalog::job_flow::{FLOW_ID_TAG, JobFlow, LOCAL_STACK, STACK_TAG};
use crate::error::Error;
use crate::model::{
    ClusterFacts, ClusterId, ClusterState, FlowId, ListedStep, StepFailureDetails, StepId, StepState,
};

/// The service as errors and the `AwsApiErrors` metric name it.
const EMR: &str = "EMR";

/// What RunJobFlow came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    /// EMR launched the job flow.
    Launched(ClusterId),
    /// EMR answered that it refused the request (e.g. `ValidationException: …`): nothing runs.
    Refused(String),
    /// The answer was lost (timeout, dropped connection, server error): the cluster may run.
    Unknown(String),
}

/// What AddJobFlowSteps came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AddSteps {
    /// EMR added the steps: their ids, in the request's order.
    Added(Vec<StepId>),
    /// EMR refused the request (e.g. `ValidationException: …`): nothing was added.
    Refused(String),
    /// The answer was lost (timeout, dropped connection, server error): the steps may exist.
    Unknown(String),
}

/// CancelSteps' answer for one step (EMR API reference, `CancelStepsInfo`): `SUBMITTED` means
/// EMR took the request, not that the step is cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCancellation {
    pub step_id: StepId,
    /// `SUBMITTED` or `FAILED`, as EMR answered.
    pub status: String,
    /// EMR's reason, when it gave one.
    pub reason: Option<String>,
}

/// The cluster states steps can be added in (AddJobFlowSteps refuses others).
pub const STEP_CLUSTER_STATES: [&str; 4] = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"];

/// How many step ids one ListSteps takes (`StepIds`, EMR API reference).
pub const LIST_STEPS_IDS: usize = 10;

/// A step as DescribeStep tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepDescription {
    pub failure_details: Option<StepFailureDetails>,
    /// The step's own log location, when it was added with one.
    pub log_uri: Option<String>,
}

/// A cluster as DescribeCluster tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterDescription {
    /// State, state change reason and `NormalizedInstanceHours` (no steps).
    pub facts: ClusterFacts,
    /// The `emr-flows:flow-id` tag, when present and a flow id.
    pub flow_id: Option<FlowId>,
    /// `LogUri` (`s3://bucket/prefix/`), where EMR pushes step logs.
    pub log_uri: Option<String>,
    /// The `emr-flows:stack` tag ([`STACK_TAG`]): the stack that launched the cluster; `None`
    /// on a cluster launched before stacks were tagged.
    pub stack: Option<String>,
    /// The cluster's `Name`.
    pub name: String,
    /// Every tag of the cluster, by key.
    pub tags: std::collections::BTreeMap<String, String>,
}

/// The EMR client.
#[derive(Debug, Clone)]
pub struct Emr {
    client: aws_sdk_emr::Client,
    stack: String,
    /// The tags a cluster must carry for this stack to add steps to it (the template's
    /// `StepClusterTags`, also its IAM condition); none: any cluster.
    step_cluster_tags: std::collections::BTreeMap<String, String>,
}

impl Emr {
    /// EMR for the stack [`LOCAL_STACK`] (local use and tests).
    pub fn new(client: aws_sdk_emr::Client) -> Self {
        Self::for_stack(client, LOCAL_STACK)
    }

    /// EMR for the stack named `stack`: the clusters it launches carry that name in their
    /// [`STACK_TAG`], and clusters tagged with another stack's name are no flow's here.
    pub fn for_stack(client: aws_sdk_emr::Client, stack: impl Into<String>) -> Self {
        Self {
            client,
            stack: stack.into(),
            step_cluster_tags: Default::default(),
        }
    }

    /// The same, adding steps only to clusters carrying every tag of `tags`.
    pub fn with_step_cluster_tags(self, tags: std::collections::BTreeMap<String, String>) -> Self {
        Self {
            step_cluster_tags: tags,
            ..self
        }
    }

    /// The tags a cluster must carry for this stack to add steps to it (none: any cluster).
    pub fn step_cluster_tags(&self) -> &std::collections::BTreeMap<String, String> {
        &self.step_cluster_tags
    }

    /// The stack this EMR view belongs to.
    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Launches `request` (from [`crate::catalog::render::Rendered::request`]) exactly as it is, sending
    /// it again only when EMR throttled it (jittered waits); never after an unclear failure.
    pub async fn run_job_flow(&self, request: &JobFlow) -> Launch {
        let sent = send_once("EMR", "RunJobFlow", || {
            (self.client.run_job_flow())
                .customize()
                .config_override(aws_sdk_emr::Config::builder().retry_config(RetryConfig::disabled()))
                .interceptor(ExactBody(request.to_body()))
                .send()
        })
        .await;
        match sent {
            Sent::Answered(output) => match output.job_flow_id().map(ClusterId::parse) {
                Some(Ok(id)) => Launch::Launched(id),
                // Launched, but we cannot tell which cluster: the tag search finds it.
                other => Launch::Unknown(format!("RunJobFlow answered JobFlowId {other:?}")),
            },
            Sent::Refused(message) => Launch::Refused(message),
            Sent::Unknown(message) => Launch::Unknown(message),
        }
    }

    /// The clusters carrying `flow_id`'s tag, oldest first: those named `cluster_name` created
    /// since `created_after` (ListClusters), confirmed by their tag (DescribeCluster).
    pub async fn tagged_clusters(
        &self,
        flow_id: FlowId,
        cluster_name: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Vec<ClusterId>, Error> {
        let mut pages = self
            .client
            .list_clusters()
            .created_after(aws_smithy_types::DateTime::from_secs(created_after.timestamp()))
            .into_paginator()
            .items()
            .send();
        let mut candidates = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(upstream(EMR, "ListClusters"))?;
            if summary.name() == Some(cluster_name)
                && let Some(id) = summary.id().and_then(|id| ClusterId::parse(id).ok())
            {
                let created = summary
                    .status()
                    .and_then(|s| s.timeline())
                    .and_then(|t| t.creation_date_time())
                    .map(|t| t.secs());
                candidates.push((created, id));
            }
        }
        candidates.sort();
        let mut tagged = Vec::new();
        for (_, id) in candidates {
            if self.describe(&id).await?.and_then(|d| d.flow_id) == Some(flow_id) {
                tagged.push(id);
            }
        }
        Ok(tagged)
    }

    /// DescribeCluster: state, reason, instance hours, flow-id tag and log location. `None` for
    /// a cluster EMR does not know or this deployment may not describe (untagged: the template's
    /// policy allows tagged clusters only).
    pub async fn describe(&self, cluster_id: &ClusterId) -> Result<Option<ClusterDescription>, Error> {
        let output = match self
            .client
            .describe_cluster()
            .cluster_id(cluster_id.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if matches!(
                    e.as_service_error().and_then(|e| e.meta().code()),
                    Some("AccessDeniedException" | "InvalidRequestException")
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(upstream(EMR, "DescribeCluster")(e)),
        };
        let Some(cluster) = output.cluster() else {
            return Ok(None);
        };
        let status = cluster.status();
        let reason = status.and_then(|s| s.state_change_reason());
        let mut facts = ClusterFacts::new(
            ClusterState::from(status.and_then(|s| s.state()).map(|s| s.as_str()).unwrap_or("")),
            reason.and_then(|r| r.code()).map(|c| c.as_str().to_owned()),
            reason.and_then(|r| r.message()).map(str::to_owned),
        );
        facts.normalized_instance_hours = cluster.normalized_instance_hours();
        let tag = |key: &str| {
            (cluster.tags().iter())
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
        };
        let flow_id = tag(FLOW_ID_TAG).and_then(|v| FlowId::parse(v).ok());
        Ok(Some(ClusterDescription {
            facts,
            flow_id,
            log_uri: cluster.log_uri().map(str::to_owned),
            stack: tag(STACK_TAG).map(str::to_owned),
            name: cluster.name().unwrap_or_default().to_owned(),
            tags: (cluster.tags().iter())
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect(),
        }))
    }

    /// The flow id a cluster is tagged with ([`FLOW_ID_TAG`]); `None` for a cluster that is no
    /// flow's, including one EMR does not know, one this deployment may not describe, and one
    /// whose [`STACK_TAG`] names another stack (logged; nothing else is done with it).
    pub async fn tagged_flow_id(&self, cluster_id: &ClusterId) -> Result<Option<FlowId>, Error> {
        let Some(description) = self.describe(cluster_id).await? else {
            return Ok(None);
        };
        if let Some(stack) = description.stack.as_deref()
            && stack != self.stack
        {
            tracing::info!(%cluster_id, stack, "cluster of another stack; ignored");
            return Ok(None);
        }
        Ok(description.flow_id)
    }

    /// The cluster's steps in job-flow order (ListSteps answers newest first).
    pub async fn list_steps(&self, cluster_id: &ClusterId) -> Result<Vec<ListedStep>, Error> {
        let mut pages = self
            .client
            .list_steps()
            .cluster_id(cluster_id.as_str())
            .into_paginator()
            .items()
            .send();
        let mut steps = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(upstream(EMR, "ListSteps"))?;
            steps.extend(listed_step(&summary).transpose()?);
        }
        steps.reverse();
        Ok(steps)
    }

    /// DescribeStep: the step's `Status.FailureDetails` and its own `LogUri` (its
    /// `StepMonitoringConfiguration`), each when EMR has one.
    pub async fn describe_step(
        &self,
        cluster_id: &ClusterId,
        step_id: &StepId,
    ) -> Result<StepDescription, Error> {
        let output = self
            .client
            .describe_step()
            .cluster_id(cluster_id.as_str())
            .step_id(step_id.as_str())
            .send()
            .await
            .map_err(upstream(EMR, "DescribeStep"))?;
        let step = output.step();
        Ok(StepDescription {
            failure_details: (step.and_then(|s| s.status()).and_then(|s| s.failure_details())).map(|d| {
                StepFailureDetails {
                    reason: d.reason().map(str::to_owned),
                    message: d.message().map(str::to_owned),
                    log_file: d.log_file().map(str::to_owned),
                }
            }),
            log_uri: step.and_then(|s| s.log_uri()).map(str::to_owned),
        })
    }

    /// Adds the request's steps to the cluster `cluster_id` (its `JobFlowId`), sent exactly as
    /// checked (API-shape `StepConfig`s, the runtime role when given). AddJobFlowSteps has no
    /// idempotency token, so it is sent again only when EMR throttled it; an unclear failure is
    /// [`AddSteps::Unknown`] and the steps are then looked for by their flow's marker
    /// ([`Emr::marked_steps`]).
    pub async fn add_job_flow_steps(&self, cluster_id: &ClusterId, request: &StepsRequest) -> AddSteps {
        let (body, steps) = (request.to_body(), request.steps());
        let sent = send_once("EMR", "AddJobFlowSteps", || {
            (self.client.add_job_flow_steps())
                .job_flow_id(cluster_id.as_str())
                .customize()
                .config_override(aws_sdk_emr::Config::builder().retry_config(RetryConfig::disabled()))
                .interceptor(ExactBody(body.clone()))
                .send()
        })
        .await;
        match sent {
            Sent::Answered(output) => {
                let ids: Result<Vec<StepId>, String> =
                    output.step_ids().iter().map(|id| StepId::parse(id)).collect();
                match ids {
                    Ok(ids) if ids.len() == steps.len() => AddSteps::Added(ids),
                    other => AddSteps::Unknown(format!("AddJobFlowSteps answered StepIds {other:?}")),
                }
            }
            Sent::Refused(message) => AddSteps::Refused(message),
            Sent::Unknown(message) => AddSteps::Unknown(message),
        }
    }

    /// The steps of the cluster whose name ends with `marker`, created since `created_after`,
    /// in job-flow order: ListSteps answers newest first, so the listing stops at the first
    /// older step.
    pub async fn marked_steps(
        &self,
        cluster_id: &ClusterId,
        marker: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Vec<ListedStep>, Error> {
        let mut pages = self
            .client
            .list_steps()
            .cluster_id(cluster_id.as_str())
            .into_paginator()
            .items()
            .send();
        let mut steps = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(upstream(EMR, "ListSteps"))?;
            let created = (summary.status())
                .and_then(|s| s.timeline())
                .and_then(|t| t.creation_date_time())
                .map(|t| t.secs());
            if created.is_some_and(|c| c < created_after.timestamp()) {
                break;
            }
            if summary.name().unwrap_or_default().ends_with(marker) {
                steps.extend(listed_step(&summary).transpose()?);
            }
        }
        steps.reverse();
        Ok(steps)
    }

    /// The steps `step_ids` of the cluster, as ListSteps reports them ([`LIST_STEPS_IDS`] a
    /// call), in the order given, each with its run time in seconds once it ended (its
    /// timeline's `StartDateTime` to `EndDateTime`); a step EMR does not list is left out.
    pub async fn timed_steps_by_ids(
        &self,
        cluster_id: &ClusterId,
        step_ids: &[StepId],
    ) -> Result<Vec<(ListedStep, Option<u64>)>, Error> {
        let mut found = std::collections::HashMap::new();
        for chunk in step_ids.chunks(LIST_STEPS_IDS) {
            let output = self
                .client
                .list_steps()
                .cluster_id(cluster_id.as_str())
                .set_step_ids(Some(chunk.iter().map(|id| id.as_str().to_owned()).collect()))
                .send()
                .await
                .map_err(upstream(EMR, "ListSteps"))?;
            for summary in output.steps() {
                let Some(step) = listed_step(summary).transpose()? else {
                    continue;
                };
                let timeline = summary.status().and_then(|s| s.timeline());
                let seconds = match (
                    timeline.and_then(|t| t.start_date_time()),
                    timeline.and_then(|t| t.end_date_time()),
                ) {
                    (Some(start), Some(end)) => u64::try_from(end.secs() - start.secs()).ok(),
                    _ => None,
                };
                found.insert(step.id.as_str().to_owned(), (step, seconds));
            }
        }
        Ok(step_ids
            .iter()
            .filter_map(|id| found.remove(id.as_str()))
            .collect())
    }

    /// The clusters in [`STEP_CLUSTER_STATES`] named `name` (when given) and carrying every tag
    /// of `tags`, oldest first (ListClusters, then DescribeCluster for the tags).
    pub async fn active_clusters(
        &self,
        name: Option<&str>,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<ClusterDescriptionWithId>, Error> {
        let states: Vec<aws_sdk_emr::types::ClusterState> = STEP_CLUSTER_STATES
            .iter()
            .map(|s| aws_sdk_emr::types::ClusterState::from(*s))
            .collect();
        let mut pages = self
            .client
            .list_clusters()
            .set_cluster_states(Some(states))
            .into_paginator()
            .items()
            .send();
        let mut candidates = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(upstream(EMR, "ListClusters"))?;
            if name.is_some_and(|n| summary.name() != Some(n)) {
                continue;
            }
            if let Some(id) = summary.id().and_then(|id| ClusterId::parse(id).ok()) {
                let created = (summary.status())
                    .and_then(|s| s.timeline())
                    .and_then(|t| t.creation_date_time())
                    .map(|t| t.secs());
                candidates.push((created, id));
            }
        }
        candidates.sort();
        let mut found = Vec::new();
        for (_, id) in candidates {
            let Some(description) = self.describe(&id).await? else {
                continue;
            };
            if tags.iter().all(|(k, v)| description.tags.get(k) == Some(v)) {
                found.push(ClusterDescriptionWithId { id, description });
            }
        }
        Ok(found)
    }

    /// Asks EMR to cancel the steps (CancelSteps, `SEND_INTERRUPT`): asynchronous and not
    /// guaranteed, so the answer is EMR's per step, `SUBMITTED` or `FAILED` with its reason.
    ///
    /// Errors: [`Error::Upstream`] with EMR's message when it refuses or fails the call.
    pub async fn cancel_steps(
        &self,
        cluster_id: &ClusterId,
        step_ids: &[StepId],
    ) -> Result<Vec<StepCancellation>, Error> {
        let output = self
            .client
            .cancel_steps()
            .cluster_id(cluster_id.as_str())
            .set_step_ids(Some(step_ids.iter().map(|id| id.as_str().to_owned()).collect()))
            .send()
            .await
            .map_err(upstream(EMR, "CancelSteps"))?;
        Ok((output.cancel_steps_info_list().iter())
            .filter_map(|info| {
                Some(StepCancellation {
                    step_id: StepId::parse(info.step_id()?).ok()?,
                    status: info.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    reason: info.reason().map(str::to_owned),
                })
            })
            .collect())
    }

    /// Asks EMR to terminate the cluster. Terminating a terminated cluster is not an error.
    ///
    /// Errors: [`Error::Upstream`] with EMR's message, e.g. for a cluster with termination
    /// protection (`ValidationException: Could not shut down one or more job flows since they
    /// are termination protected.`).
    pub async fn terminate(&self, cluster_id: &ClusterId) -> Result<(), Error> {
        self.client
            .terminate_job_flows()
            .job_flow_ids(cluster_id.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(upstream(EMR, "TerminateJobFlows"))
    }
}

/// A ListSteps summary as the model's step; `None` for one without an id or status.
///
/// Errors: [`Error::Internal`] for an id that is not EMR's `s-…`.
fn listed_step(summary: &aws_sdk_emr::types::StepSummary) -> Option<Result<ListedStep, Error>> {
    let (id, status) = (summary.id()?, summary.status()?);
    Some(StepId::parse(id).map_err(Error::Internal).map(|id| ListedStep {
        id,
        name: summary.name().unwrap_or_default().to_owned(),
        state: StepState::from(status.state().map(|s| s.as_str()).unwrap_or("").to_owned()),
    }))
}

/// A cluster found by [`Emr::active_clusters`], with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterDescriptionWithId {
    pub id: ClusterId,
    pub description: ClusterDescription,
}
