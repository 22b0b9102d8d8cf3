//! Adding a flow's steps to a long-running cluster, once. AddJobFlowSteps has no idempotency
//! token, so it is never sent twice: every step's name carries the flow's marker
//! ([`crate::catalog::cluster_steps::marker`]), and a lost answer is resolved by finding the
//! marked steps with ListSteps (at once, then by the sweep); with none, the flow ends `FAILED`.

use crate::aws::emr::{AddSteps, STEP_CLUSTER_STATES};
use crate::catalog::cluster_steps::{StepsRequest, marker};
use crate::error::{Error, Problem};
use crate::model::{ClusterId, FlowRecord, ListedStep, StepState};
use crate::services::Services;
use crate::store::Versioned;
use crate::targets::cluster::launch::CLOCK_SKEW;
use crate::targets::seam::{Launched, refused};

/// A step flow's record before launch: its shared cluster is known from the start.
pub fn pending(record: FlowRecord, steps: &StepsRequest) -> FlowRecord {
    FlowRecord {
        cluster_id: steps.cluster_id(),
        ..record
    }
}

/// Finds the cluster `request` names (by id, or by name and/or tags among clusters in
/// STARTING, BOOTSTRAPPING, RUNNING or WAITING) and checks that this stack may add steps to it
/// (the tags the template's `StepClusterTags` names). Returns the request for that cluster.
///
/// Errors: [`Error::Validation`] at `cluster`, naming what was looked for, when no cluster or
/// several match, the cluster is not active, or the stack may not use it; [`Error::Upstream`].
pub async fn resolve(svc: &Services, request: &StepsRequest) -> Result<StepsRequest, Error> {
    let selector = &request.selector;
    let invalid = |message: String| Error::Validation(vec![Problem::new("cluster", message)]);
    let (cluster_id, description) = match &selector.id {
        Some(id) => {
            let Some(description) = svc.emr.describe(id).await? else {
                return Err(invalid(format!(
                    "EMR describes no cluster with {selector} (none, or not one this stack may use)"
                )));
            };
            (id.clone(), description)
        }
        None => {
            let mut found = svc
                .emr
                .active_clusters(selector.name.as_deref(), &selector.tags)
                .await?;
            match found.len() {
                1 => {
                    let one = found.remove(0);
                    (one.id, one.description)
                }
                0 => {
                    return Err(invalid(format!(
                        "no cluster in {} has {selector}",
                        STEP_CLUSTER_STATES.join(", ")
                    )));
                }
                n => {
                    let ids: Vec<String> = found.iter().map(|c| c.id.to_string()).collect();
                    return Err(invalid(format!(
                        "{n} clusters have {selector} ({}); name one by id or narrow the tags",
                        ids.join(", ")
                    )));
                }
            }
        }
    };
    let state = description.facts.state.as_str();
    if !STEP_CLUSTER_STATES.contains(&state) {
        return Err(invalid(format!(
            "cluster {cluster_id} is {state}; steps are added only in {}",
            STEP_CLUSTER_STATES.join(", ")
        )));
    }
    let allowed = svc.emr.step_cluster_tags();
    if let Some((key, value)) = allowed.iter().find(|(k, v)| description.tags.get(*k) != Some(*v)) {
        return Err(invalid(format!(
            "cluster {cluster_id} does not carry the tag {key}={value}: this stack adds steps only \
             to clusters tagged so (the template's StepClusterTags)"
        )));
    }
    Ok(request.for_cluster(&cluster_id))
}

/// Sends AddJobFlowSteps once for the flow recorded as `record` and records what came of it;
/// a lost answer is followed at once by a look for the flow's marked steps.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails (EMR's refusal is [`Launched::Refused`]).
pub async fn launch(svc: &Services, request: &StepsRequest, created: Versioned) -> Result<Launched, Error> {
    let flow_id = created.record.flow_id;
    let Some(cluster_id) = request.cluster_id() else {
        return Err(Error::Internal(format!(
            "flow {flow_id}: steps launched before their cluster was found"
        )));
    };
    let steps: Vec<ListedStep> = match svc.emr.add_job_flow_steps(&cluster_id, request).await {
        AddSteps::Added(ids) => (ids.into_iter().zip(request.steps()))
            .map(|(id, config)| ListedStep {
                id,
                name: config["Name"].as_str().unwrap_or_default().to_owned(),
                state: StepState::Pending,
            })
            .collect(),
        AddSteps::Refused(message) => {
            tracing::error!(%flow_id, %cluster_id, error = %message, "EMR refused AddJobFlowSteps; flow FAILED");
            return refused(svc, created, "EMR", "AddJobFlowSteps", message).await;
        }
        AddSteps::Unknown(message) => {
            tracing::warn!(%flow_id, %cluster_id, error = %message, "AddJobFlowSteps' answer was lost; looking for the flow's marked steps");
            let (record, _) = svc
                .store
                .update(flow_id, |r| r.launch_uncertain(&message, svc.clock.now()))
                .await?;
            let read = match marked(svc, &record, &cluster_id).await {
                Ok(found) if !found.is_empty() => start(svc, flow_id, &cluster_id, &found).await?,
                Ok(_) => svc.store.read(flow_id).await?,
                Err(e) => {
                    tracing::warn!(%flow_id, error = %e, "marked steps not listed; the sweep looks again");
                    svc.store.read(flow_id).await?
                }
            };
            return Ok(Launched::Unknown(read));
        }
    };
    let written = start(svc, flow_id, &cluster_id, &steps).await?;
    tracing::info!(%flow_id, %cluster_id, steps = steps.len(), "steps added");
    Ok(Launched::Started(written))
}

/// The flow's marked steps on the cluster, added since shortly before it was submitted.
async fn marked(
    svc: &Services,
    record: &FlowRecord,
    cluster_id: &ClusterId,
) -> Result<Vec<ListedStep>, Error> {
    svc.emr
        .marked_steps(
            cluster_id,
            &marker(record.flow_id),
            record.submitted_at - CLOCK_SKEW,
        )
        .await
}

async fn start(
    svc: &Services,
    flow_id: crate::model::FlowId,
    cluster_id: &ClusterId,
    steps: &[ListedStep],
) -> Result<Versioned, Error> {
    let read = svc.store.read(flow_id).await?;
    Ok(svc
        .store
        .update_from(read, |r| r.started(cluster_id, steps, svc.clock.now()))
        .await?
        .0)
}

/// A `PENDING` step flow whose AddJobFlowSteps answer was lost (seen by the sweep): its marked
/// steps are its own; with none, the flow ends `FAILED` (`ADD_JOB_FLOW_STEPS_LOST`).
///
/// Errors: [`Error::Upstream`] when EMR cannot list steps or DynamoDB fails.
pub async fn recover_launch(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let Some(cluster_id) = read.record.cluster_id.clone() else {
        return Ok(read);
    };
    let found = marked(svc, &read.record, &cluster_id).await?;
    if found.is_empty() {
        let (written, ended) = svc
            .store
            .update_from(read, |r| r.launch_lost(svc.clock.now()))
            .await?;
        if ended {
            tracing::error!(%flow_id, %cluster_id, "AddJobFlowSteps' answer was lost and no step carries the flow's marker; flow FAILED");
        }
        return Ok(written);
    }
    let (written, _) = svc
        .store
        .update_from(read, |r| r.started(&cluster_id, &found, svc.clock.now()))
        .await?;
    tracing::info!(%flow_id, %cluster_id, steps = found.len(), "found the flow's steps by their marker");
    Ok(written)
}
