//! EMR's facts about a step flow's own steps, applied through the record's rules: from a step
//! event, from the shared cluster ending, or from the sweep's ListSteps by the flow's step ids;
//! the cancellation of its steps (CancelSteps, never TerminateJobFlows); a failed step's late
//! cause and `stderr.gz` (the step's own log location wins over the cluster's).

use crate::error::Error;
use crate::model::{
    ClusterFacts, ClusterId, FlowRecord, ListedStep, MAX_TERMINATION_ATTEMPTS, StepId, StepState,
    TERMINATION_RETRY,
};
use crate::services::Services;
use crate::store::Versioned;
use crate::targets::cluster::facts::{self as cluster_facts, StepLog, failure_details};

/// Applies `steps` (the flow's own, as EMR reports them) and the cluster's facts when it ended,
/// fetching the first failed step's FailureDetails (DescribeStep) when the steps fail the flow.
/// `times` are the run times ListSteps gave with `steps`; without them (a step event), they are
/// read when the flow ends. Returns the record as written (or read) and whether it changed.
///
/// Errors: [`Error::Upstream`], [`Error::FlowNotFound`].
pub async fn apply_steps(
    svc: &Services,
    read: Versioned,
    cluster_id: &ClusterId,
    steps: &[ListedStep],
    times: Option<Vec<(StepId, u64)>>,
    cluster: Option<&ClusterFacts>,
) -> Result<(Versioned, bool), Error> {
    let mut preview = read.record.clone();
    preview.apply_own_steps(steps, cluster, None, svc.clock.now());
    let details = match preview.failure.as_ref().and_then(|f| f.failed_step.as_ref()) {
        Some(step) if step.state == StepState::Failed => {
            failure_details(svc, read.record.flow_id, cluster_id, &step.id)
                .await
                .map(|d| (step.id.clone(), d))
        }
        _ => None,
    };
    // The flow ends: its steps' run times (its cost) go with the ending's write, read now
    // unless ListSteps gave them with the steps.
    let times = match times {
        _ if !preview.status.is_terminal() || read.record.status.is_terminal() => Vec::new(),
        Some(times) => times,
        None => run_times(svc, &read.record, cluster_id).await,
    };
    svc.store
        .update_from(read, |r| {
            let now = svc.clock.now();
            let applied = r.apply_own_steps(steps, cluster, details.clone(), now);
            if applied {
                r.note_step_seconds(&times, now);
            }
            applied
        })
        .await
}

/// The run time in seconds of the flow's ended steps (ListSteps by their ids); none (logged)
/// when EMR fails: the cost is then left out.
async fn run_times(svc: &Services, record: &FlowRecord, cluster_id: &ClusterId) -> Vec<(StepId, u64)> {
    let ids: Vec<StepId> = record
        .ordered_steps()
        .into_iter()
        .map(|(id, _)| id.clone())
        .collect();
    match svc.emr.timed_steps_by_ids(cluster_id, &ids).await {
        Ok(steps) => (steps.into_iter())
            .filter_map(|(step, seconds)| Some((step.id, seconds?)))
            .collect(),
        Err(e) => {
            tracing::warn!(flow_id = %record.flow_id, error = %e, "ListSteps failed; step run times left out");
            Vec::new()
        }
    }
}

/// The flow's own steps as ListSteps reports them (by their ids, ten a call), and the run times
/// of those that ended.
async fn own_steps(
    svc: &Services,
    record: &FlowRecord,
    cluster_id: &ClusterId,
) -> Result<(Vec<ListedStep>, Vec<(StepId, u64)>), Error> {
    let ids: Vec<StepId> = record
        .ordered_steps()
        .into_iter()
        .map(|(id, _)| id.clone())
        .collect();
    let timed = svc.emr.timed_steps_by_ids(cluster_id, &ids).await?;
    let times = (timed.iter())
        .filter_map(|(step, seconds)| Some((step.id.clone(), (*seconds)?)))
        .collect();
    Ok((timed.into_iter().map(|(step, _)| step).collect(), times))
}

/// The shared cluster `cluster_id` ended (`facts`): each of its active step flows is read, its
/// own steps listed, and the facts applied (a flow whose steps all completed still succeeds;
/// one with steps pending or running ends `FAILED` naming the cluster's reason). The flows are
/// found through the index of active step flows: reads grow with the cluster's unfinished
/// flows, never with the flows that ended there.
///
/// Errors: [`Error::Upstream`] (the event is retried; every write is conditional).
pub async fn apply_cluster_end(
    svc: &Services,
    cluster_id: &ClusterId,
    facts: &ClusterFacts,
) -> Result<Vec<(Versioned, bool)>, Error> {
    let mut applied = Vec::new();
    for flow_id in svc.store.active_step_flows(cluster_id).await? {
        let Some(read) = svc.store.get(flow_id).await? else {
            continue;
        };
        let (steps, times) = own_steps(svc, &read.record, cluster_id).await?;
        applied.push(apply_steps(svc, read, cluster_id, &steps, Some(times), Some(facts)).await?);
    }
    Ok(applied)
}

/// The sweep's repair of a quiet step flow: its own steps from ListSteps by their ids and the
/// cluster's state (DescribeCluster), applied as events would be. A cancellation EMR took
/// (`SUBMITTED`) whose steps still run after [`TERMINATION_RETRY`] is sent again.
///
/// Errors: [`Error::Upstream`] when EMR or DynamoDB fail.
pub async fn repair(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let Some(cluster_id) = read.record.cluster_id.clone() else {
        return Ok(read);
    };
    let (steps, times) = own_steps(svc, &read.record, &cluster_id).await?;
    let cluster = svc.emr.describe(&cluster_id).await?.map(|d| d.facts);
    let (mut written, changed) =
        apply_steps(svc, read, &cluster_id, &steps, Some(times), cluster.as_ref()).await?;
    if changed {
        tracing::warn!(%flow_id, %cluster_id, status = %written.record.status, "repaired from EMR: events were missed");
    }
    let now = svc.clock.now();
    let resend = written.record.termination.as_ref().is_some_and(|t| {
        t.accepted_at.is_some()
            && t.attempts < MAX_TERMINATION_ATTEMPTS
            && t.last_attempt_at.is_some_and(|at| at + TERMINATION_RETRY <= now)
    }) && !written.record.status.is_terminal();
    if resend {
        tracing::warn!(%flow_id, %cluster_id, "the steps still run after CancelSteps was taken; asking again");
        written = send_cancel(svc, written, &cluster_id, true).await?.0;
    }
    if changed || resend {
        return Ok(written);
    }
    Ok(svc.store.update_from(written, |r| r.checked(now)).await?.0)
}

/// Calls CancelSteps for the flow's steps still pending or running (never anything else, and
/// never TerminateJobFlows: the cluster is not the flow's) and records what EMR answered. EMR
/// taking every step (`SUBMITTED`) is accepted, not yet cancelled: the flow ends when EMR
/// reports the steps `CANCELLED`. A step EMR refused (`FAILED`) makes the attempt refused, tried
/// again by the sweep.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails; EMR's refusal is the returned result.
pub async fn cancel(svc: &Services, read: Versioned) -> Result<(Versioned, Result<(), Error>), Error> {
    let Some(cluster_id) = read.record.cluster_id.clone() else {
        return Ok((read, Ok(())));
    };
    send_cancel(svc, read, &cluster_id, false).await
}

async fn send_cancel(
    svc: &Services,
    read: Versioned,
    cluster_id: &ClusterId,
    again: bool,
) -> Result<(Versioned, Result<(), Error>), Error> {
    let flow_id = read.record.flow_id;
    let unfinished = read.record.unfinished_steps();
    if unfinished.is_empty() {
        return Ok((read, Ok(())));
    }
    let result = svc.emr.cancel_steps(cluster_id, &unfinished).await;
    let (outcome, answer): (Result<(), String>, String) = match &result {
        Ok(infos) => {
            let answer = (infos.iter())
                .map(|i| match &i.reason {
                    Some(reason) => format!("{} {} ({reason})", i.step_id, i.status),
                    None => format!("{} {}", i.step_id, i.status),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let refused = infos.iter().any(|i| i.status != "SUBMITTED") || infos.len() < unfinished.len();
            let outcome = if refused {
                Err(format!("CancelSteps answered: {answer}"))
            } else {
                Ok(())
            };
            (outcome, format!("CancelSteps: {answer}"))
        }
        Err(e) => (Err(e.to_string()), e.to_string()),
    };
    match &outcome {
        Ok(()) => {
            tracing::info!(%flow_id, %cluster_id, %answer, "cancellation taken by EMR (not yet cancelled)")
        }
        Err(e) => {
            tracing::warn!(%flow_id, %cluster_id, error = %e, "cancellation refused or failed; recorded as an attempt")
        }
    }
    let now = svc.clock.now();
    let (written, _) = svc
        .store
        .update_from(read, |r| {
            let attempted = !again && r.termination_attempted(outcome.clone(), now);
            r.termination_answered(&answer, again, now) || attempted
        })
        .await?;
    let result = match outcome {
        Ok(()) => Ok(()),
        Err(message) => Err(Error::Upstream {
            service: "EMR",
            operation: "CancelSteps",
            message,
        }),
    };
    Ok((written, result))
}

/// Fetches a failed step flow's missing cause: DescribeStep's FailureDetails and the end of the
/// step's `stderr.gz` under the step's own `LogUri` (its `StepMonitoringConfiguration`), else
/// the cluster's. Failures are logged; the sweep tries again within the window.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails.
pub async fn fetch_cause(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    cluster_facts::fetch_step_cause(svc, read, StepLog::OwnFirst).await
}
