//! EMR's facts about a flow's cluster, applied through the record's rules: from an event or the
//! sweep's DescribeCluster, with the steps (ListSteps), the first failed step's FailureDetails
//! (DescribeStep) and the cluster's NormalizedInstanceHours fetched when the facts may end the
//! flow; the cluster's termination; a failed step's late cause and `stderr.gz`.

use crate::aws::emr::{ClusterDescription, StepDescription};
use crate::error::Error;
use crate::model::{ClusterFacts, ClusterId, FlowId, MAX_PROBABLE_CAUSE_BYTES, StepFailureDetails, StepId};
use crate::services::Services;
use crate::store::Versioned;

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
pub(crate) async fn failure_details(
    svc: &Services,
    flow_id: FlowId,
    cluster_id: &ClusterId,
    step_id: &StepId,
) -> Option<StepFailureDetails> {
    match svc.emr.describe_step(cluster_id, step_id).await {
        Ok(step) => step.failure_details,
        Err(e) => {
            tracing::warn!(%flow_id, %step_id, error = %e, "DescribeStep failed; cause recorded without details");
            None
        }
    }
}

/// Asks EMR about the flow's cluster (DescribeCluster, then ListSteps when it may end the flow)
/// and applies what it says, as an event would. A cluster EMR no longer knows is recorded as
/// checked; its flow ends by `max_runtime` or by hand.
///
/// Errors: [`Error::Upstream`] when EMR or DynamoDB fail.
pub async fn repair(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let Some(cluster_id) = read.record.cluster_id.clone() else {
        return Ok(read);
    };
    let Some(description) = svc.emr.describe(&cluster_id).await? else {
        tracing::error!(%flow_id, %cluster_id, "EMR does not describe the flow's cluster");
        return Ok(svc
            .store
            .update_from(read, |r| r.checked(svc.clock.now()))
            .await?
            .0);
    };
    let facts = description.facts.clone();
    let (written, changed) = apply_facts(svc, read, &cluster_id, facts, Some(&description)).await?;
    if changed {
        tracing::warn!(%flow_id, %cluster_id, status = %written.record.status, "repaired from EMR: events were missed");
        return Ok(written);
    }
    Ok(svc
        .store
        .update_from(written, |r| r.checked(svc.clock.now()))
        .await?
        .0)
}

/// Calls TerminateJobFlows for the flow's cluster (none yet: nothing to do) and records the
/// attempt: accepted, or refused with EMR's message. Returns the record and the call's result.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails; EMR's refusal is the returned result.
pub async fn cancel(svc: &Services, read: Versioned) -> Result<(Versioned, Result<(), Error>), Error> {
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

/// Where a failed step's `stderr.gz` is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepLog {
    /// Under the cluster's `LogUri` (a cluster of the flow's own: its steps log there).
    Cluster,
    /// Under the step's own log location when it has one (its `StepMonitoringConfiguration`,
    /// from DescribeStep), else the cluster's: a step flow's steps on a shared cluster.
    OwnFirst,
}

/// Fetches a failed flow's missing cause again: DescribeStep's FailureDetails and the end of the
/// step's `stderr.gz` under the cluster's `LogUri` (EMR analyses and pushes logs minutes after a
/// step ends). Failures are logged; the sweep tries again within the window.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails.
pub async fn fetch_cause(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    fetch_step_cause(svc, read, StepLog::Cluster).await
}

/// [`fetch_cause`] for a failed step logging where `log` says. One DescribeStep answers both
/// what a cause may lack: the step's FailureDetails and its own log location.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails.
pub(crate) async fn fetch_step_cause(
    svc: &Services,
    read: Versioned,
    log: StepLog,
) -> Result<Versioned, Error> {
    let record = &read.record;
    let (Some(cluster_id), Some(step)) = (
        record.cluster_id.as_ref(),
        record.failure.as_ref().and_then(|f| f.failed_step.as_ref()),
    ) else {
        return Ok(read);
    };
    let flow_id = record.flow_id;
    let want_details = (step.failure_details.as_ref()).is_none_or(StepFailureDetails::is_empty);
    let want_cause = step.probable_cause.is_none();
    let described = if want_details || (want_cause && log == StepLog::OwnFirst) {
        match svc.emr.describe_step(cluster_id, &step.id).await {
            Ok(described) => described,
            Err(e) => {
                tracing::warn!(%flow_id, step_id = %step.id, error = %e, "DescribeStep failed; cause recorded without details, the cluster's log location used");
                StepDescription::default()
            }
        }
    } else {
        StepDescription::default()
    };
    let details = described.failure_details.filter(|_| want_details);
    let mut probable_cause = None;
    if want_cause {
        let own = described.log_uri.filter(|_| log == StepLog::OwnFirst);
        let log_uri = match own {
            Some(uri) => Some(uri),
            None => match svc.emr.describe(cluster_id).await {
                Ok(description) => description.and_then(|d| d.log_uri),
                Err(e) => {
                    tracing::warn!(%flow_id, %cluster_id, error = %e, "DescribeCluster failed; step log not read");
                    None
                }
            },
        };
        if let Some(log_uri) = log_uri {
            match svc
                .logs
                .stderr_tail(&log_uri, cluster_id, &step.id, MAX_PROBABLE_CAUSE_BYTES)
                .await
            {
                Ok(text) => probable_cause = text,
                Err(e) => tracing::warn!(%flow_id, step_id = %step.id, error = %e, "step log not read"),
            }
        }
    }
    let step_id = step.id.clone();
    let (written, _) = svc
        .store
        .update_from(read, |r| {
            r.add_cause(&step_id, details.clone(), probable_cause.clone(), svc.clock.now())
        })
        .await?;
    Ok(written)
}
