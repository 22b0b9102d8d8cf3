//! What the event path and the reconcile sweep share: EMR's facts about a cluster applied
//! through the record's rules (with the steps and causes fetched from EMR when the facts may
//! end the flow), clusters found by their flow-id tag (adopted, or terminated as extras), and
//! the follow-up work a record asks for (a termination to carry out, deliveries due, a failure
//! cause to fetch).

use crate::aws::emr::ClusterDescription;
use crate::error::Error;
use crate::model::{
    ClusterFacts, ClusterId, FlowId, FlowRecord, MAX_PROBABLE_CAUSE_BYTES, StepFailureDetails, StepId,
};
use crate::store::Versioned;

use super::{Services, deliver};

/// Applies `facts` about the flow's cluster `cluster_id`. When the facts may end the flow
/// (`WAITING`, `TERMINATED…`), the steps are read from EMR's ListSteps first (step events may be
/// late or lost) and the first failed step's FailureDetails from DescribeStep; an ended cluster
/// is described for its `NormalizedInstanceHours`.
///
/// Starts from the record as read (`read`; a lost write race re-reads). Returns the record as
/// written (or read) with its version, and whether it changed.
/// Errors: [`Error::FlowNotFound`], [`Error::Upstream`].
pub async fn apply_facts(
    svc: &Services,
    read: Versioned,
    cluster_id: &ClusterId,
    mut facts: ClusterFacts,
    description: Option<&ClusterDescription>,
) -> Result<(Versioned, bool), Error> {
    let flow_id = read.record.flow_id;
    if facts.may_end_flow() && !read.record.status.is_terminal() {
        let steps = svc.emr.list_steps(cluster_id).await?;
        // Which step failed first, as the merged view will see it.
        let mut preview = read.record.clone();
        preview.apply_listed_steps(&steps, svc.clock.now());
        if let Some((step_id, _)) = preview.first_failed_step() {
            facts.failure_details = failure_details(svc, flow_id, cluster_id, step_id)
                .await
                .map(|d| (step_id.clone(), d));
        }
        facts.steps = Some(steps);
    }
    if facts.state.is_ended() && facts.normalized_instance_hours.is_none() {
        facts.normalized_instance_hours = match description {
            Some(d) => d.facts.normalized_instance_hours,
            None => match svc.emr.describe(cluster_id).await {
                Ok(d) => d.and_then(|d| d.facts.normalized_instance_hours),
                Err(e) => {
                    tracing::warn!(%flow_id, %cluster_id, error = %e, "DescribeCluster failed; instance hours left out");
                    None
                }
            },
        };
    }
    svc.store
        .update_from(read, |r| r.apply_cluster(&facts, svc.clock.now()))
        .await
}

/// DescribeStep's failure details, or `None` (logged) when EMR has none yet or fails: the cause
/// is then recorded without them and fetched again by the sweep.
async fn failure_details(
    svc: &Services,
    flow_id: FlowId,
    cluster_id: &ClusterId,
    step_id: &StepId,
) -> Option<StepFailureDetails> {
    match svc.emr.step_failure_details(cluster_id, step_id).await {
        Ok(details) => details,
        Err(e) => {
            tracing::warn!(%flow_id, %step_id, error = %e, "DescribeStep failed; cause recorded without details");
            None
        }
    }
}

/// What a cluster carrying a flow's tag turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Tagged {
    /// The flow's own cluster (recorded now if its launch was never recorded).
    Own(FlowId),
    /// Another cluster of a flow that has one (or has ended): terminated and noted.
    Extra(FlowId),
    /// Not a flow of this deployment.
    Stranger,
}

/// Finds the flow a cluster no record names belongs to, through its flow-id tag: a `PENDING`
/// flow takes it as its cluster (its launch answer was lost); a flow with another cluster, or
/// one that ended, gets it terminated and noted as an extra cluster.
pub async fn claim_tagged_cluster(svc: &Services, cluster_id: &ClusterId) -> Result<Tagged, Error> {
    let Some(flow_id) = svc.emr.tagged_flow_id(cluster_id).await? else {
        return Ok(Tagged::Stranger);
    };
    let Some(read) = svc.store.get(flow_id).await? else {
        // Tagged for a flow of another deployment (or table).
        return Ok(Tagged::Stranger);
    };
    adopt_or_terminate(svc, read, cluster_id).await
}

/// Adopts `cluster_id` for the flow read as `read`, or terminates it as an extra.
pub async fn adopt_or_terminate(
    svc: &Services,
    read: Versioned,
    cluster_id: &ClusterId,
) -> Result<Tagged, Error> {
    let flow_id = read.record.flow_id;
    if read.record.cluster_id.as_ref() == Some(cluster_id) {
        return Ok(Tagged::Own(flow_id));
    }
    if read.record.cluster_id.is_none() && !read.record.status.is_terminal() {
        let steps = svc.emr.list_steps(cluster_id).await?;
        let (written, adopted) = svc
            .store
            .update_from(read, |r| r.started(cluster_id, &steps, svc.clock.now()))
            .await?;
        if written.record.cluster_id.as_ref() == Some(cluster_id) {
            if adopted {
                tracing::warn!(%flow_id, %cluster_id, "adopted a cluster whose launch was never recorded");
            }
            svc.store.remember(cluster_id, flow_id);
            follow_up(svc, written).await?;
            return Ok(Tagged::Own(flow_id));
        }
        // Another writer recorded another cluster first: this one is an extra.
        return terminate_extra(svc, flow_id, cluster_id).await;
    }
    terminate_extra(svc, flow_id, cluster_id).await
}

/// Notes `cluster_id` as an extra cluster of `flow_id` and terminates it.
async fn terminate_extra(svc: &Services, flow_id: FlowId, cluster_id: &ClusterId) -> Result<Tagged, Error> {
    let (record, _) = svc
        .store
        .update(flow_id, |r| r.note_extra_cluster(cluster_id, svc.clock.now()))
        .await?;
    let noted = record.extra_clusters.iter().find(|c| &c.cluster_id == cluster_id);
    if noted.is_some_and(|c| c.terminated_at.is_some()) {
        return Ok(Tagged::Extra(flow_id));
    }
    let result = svc.emr.terminate(cluster_id).await.map_err(|e| e.to_string());
    match &result {
        Ok(()) => {
            tracing::warn!(%flow_id, %cluster_id, "terminated an extra cluster carrying the flow's tag")
        }
        Err(e) => tracing::error!(%flow_id, %cluster_id, error = %e, "could not terminate an extra cluster"),
    }
    svc.store
        .update(flow_id, |r| {
            r.extra_cluster_terminated(cluster_id, result.clone(), svc.clock.now())
        })
        .await?;
    Ok(Tagged::Extra(flow_id))
}

/// Carries out the work a record (as just read or written) asks for now: a termination not yet
/// accepted by EMR (also one asked while the cluster id was unknown), and due callback
/// deliveries. Starts from `read` without reading again.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails; a refused termination or a failed delivery
/// is recorded on the flow, not returned.
pub async fn follow_up(svc: &Services, mut read: Versioned) -> Result<Versioned, Error> {
    if read.record.termination_due(svc.clock.now()) {
        read = attempt_termination(svc, read).await?.0;
    }
    if read.record.deliveries.values().any(|d| d.is_due(svc.clock.now())) {
        read = deliver::deliver_due(svc, read).await?;
    }
    Ok(read)
}

/// Calls TerminateJobFlows for the flow's cluster and records the attempt: accepted, or refused
/// with EMR's message. Returns the record and the call's result.
pub async fn attempt_termination(
    svc: &Services,
    read: Versioned,
) -> Result<(Versioned, Result<(), Error>), Error> {
    let Some(cluster_id) = read.record.cluster_id.clone() else {
        return Ok((read, Ok(())));
    };
    let flow_id = read.record.flow_id;
    let result = svc.emr.terminate(&cluster_id).await;
    match &result {
        Ok(()) => tracing::info!(%flow_id, %cluster_id, "termination accepted by EMR"),
        Err(e) => {
            tracing::warn!(%flow_id, %cluster_id, error = %e, "termination refused or failed; recorded as an attempt")
        }
    }
    let outcome = result.as_ref().map(|_| ()).map_err(ToString::to_string);
    let (written, _) = svc
        .store
        .update_from(read, |r| {
            r.termination_attempted(outcome.clone(), svc.clock.now())
        })
        .await?;
    Ok((written, result))
}

/// Fetches a failed flow's missing cause again: DescribeStep's FailureDetails and the end of the
/// step's `stderr.gz` under the cluster's `LogUri` (EMR analyses and pushes logs minutes after a
/// step ends). Failures are logged; the sweep tries again within the window.
pub async fn fetch_cause(svc: &Services, record: &FlowRecord) -> Result<FlowRecord, Error> {
    let (Some(cluster_id), Some(step)) = (
        record.cluster_id.as_ref(),
        record.failure.as_ref().and_then(|f| f.failed_step.as_ref()),
    ) else {
        return Ok(record.clone());
    };
    let flow_id = record.flow_id;
    let details = if step
        .failure_details
        .as_ref()
        .is_none_or(StepFailureDetails::is_empty)
    {
        failure_details(svc, flow_id, cluster_id, &step.id).await
    } else {
        None
    };
    let mut probable_cause = None;
    if step.probable_cause.is_none() {
        match svc.emr.describe(cluster_id).await {
            Ok(Some(ClusterDescription {
                log_uri: Some(log_uri),
                ..
            })) => {
                match svc
                    .logs
                    .stderr_tail(&log_uri, cluster_id, &step.id, MAX_PROBABLE_CAUSE_BYTES)
                    .await
                {
                    Ok(text) => probable_cause = text,
                    Err(e) => tracing::warn!(%flow_id, step_id = %step.id, error = %e, "step log not read"),
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%flow_id, %cluster_id, error = %e, "DescribeCluster failed; step log not read")
            }
        }
    }
    let step_id = step.id.clone();
    let (record, _) = svc
        .store
        .update(flow_id, |r| {
            r.add_cause(&step_id, details.clone(), probable_cause.clone(), svc.clock.now())
        })
        .await?;
    Ok(record)
}
