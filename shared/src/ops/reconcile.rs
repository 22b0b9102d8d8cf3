//! The reconcile sweep: outcomes that never depend on event luck. Run by a schedule (the
//! template's `ReconcileSchedule`, every 5 minutes by default) or by hand (`{"reconcile": true}`
//! to on-state-change). One sweep at a time (a lease in the table); it reads only the sparse
//! active-flows index (flows due by their `sweep_at`), so its cost grows with active flows,
//! never with history. For each due flow, through the same record rules as the events:
//!
//! - a `PENDING` flow older than [`LAUNCH_GRACE`] (its RunJobFlow answer was lost) adopts the
//!   cluster carrying its tag, terminating any other, or ends `FAILED` (`RUN_JOB_FLOW_LOST`);
//! - an active flow without word from EMR for [`REPAIR_AFTER`] is repaired from DescribeCluster
//!   and ListSteps, so a flow whose every event was lost still ends right;
//! - a flow past its deadline (`max_runtime`) has its cluster terminated and ends `TIMED_OUT`;
//! - a termination EMR refused is tried again; due callback deliveries are sent;
//! - a failed step's missing FailureDetails and log are fetched again while EMR catches up.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{FlowId, FlowRecord, FlowStatus, LAUNCH_GRACE, REPAIR_AFTER, TerminationKind};

use super::Services;
use super::settle::{self, Tagged};

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Another sweep held the lease: this one did nothing.
    pub skipped: bool,
    /// Flows that were due.
    pub due: usize,
    /// Flows looked at.
    pub examined: usize,
    /// Flows whose record changed.
    pub changed: usize,
    /// Flows left for the next sweep (the time ran out).
    pub remaining: usize,
    /// Flows whose reconcile failed, with the error (they stay due).
    pub errors: Vec<String>,
}

/// Time kept back from the invocation's budget, for the last flow's writes.
const MARGIN: Duration = Duration::from_secs(15);
/// How long before its creation time a lost launch's cluster is looked for (clock skew).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(2);

/// Runs one sweep within `budget` (the invocation's remaining time).
///
/// Errors: [`Error::Upstream`] when the index cannot be read or the lease taken; a failing flow
/// is reported in [`SweepReport::errors`] and does not stop the others.
pub async fn sweep(svc: &Services, budget: Duration) -> Result<SweepReport, Error> {
    let started = Instant::now();
    let now = svc.clock.now();
    let owner = ulid::Ulid::generate().to_string();
    let lease = chrono::Duration::from_std(budget).unwrap_or(chrono::Duration::minutes(15));
    if !svc.store.take_sweep_lease(&owner, now + lease, now).await? {
        tracing::info!("another sweep holds the lease; skipped");
        return Ok(SweepReport {
            skipped: true,
            ..Default::default()
        });
    }
    let result = sweep_due(svc, budget.saturating_sub(MARGIN), started).await;
    svc.store.release_sweep_lease(&owner).await?;
    let report = result?;
    tracing::info!(
        due = report.due,
        examined = report.examined,
        changed = report.changed,
        remaining = report.remaining,
        errors = report.errors.len(),
        "sweep done"
    );
    Ok(report)
}

async fn sweep_due(svc: &Services, budget: Duration, started: Instant) -> Result<SweepReport, Error> {
    let due = svc.store.due_for_sweep(svc.clock.now()).await?;
    let mut report = SweepReport {
        due: due.len(),
        ..Default::default()
    };
    for (i, flow_id) in due.iter().enumerate() {
        if started.elapsed() >= budget {
            report.remaining = due.len() - i;
            break;
        }
        report.examined += 1;
        match reconcile_flow(svc, *flow_id).await {
            Ok(true) => report.changed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(%flow_id, error = %e, "reconcile failed; the flow stays due");
                report.errors.push(format!("{flow_id}: {e}"));
            }
        }
    }
    Ok(report)
}

/// Reconciles one flow: whatever its record says is due. Returns whether its record changed.
pub async fn reconcile_flow(svc: &Services, flow_id: FlowId) -> Result<bool, Error> {
    let Some(read) = svc.store.get(flow_id).await? else {
        return Ok(false);
    };
    let version = read.version;
    let mut record = read.record.clone();
    let now = svc.clock.now();

    if record.status == FlowStatus::Pending && now >= record.submitted_at + LAUNCH_GRACE {
        record = recover_launch(svc, read).await?;
    } else if !record.status.is_terminal() && record.cluster_id.is_some() {
        if record.overdue(now) {
            let (r, requested) = svc
                .store
                .update(flow_id, |r| {
                    r.request_termination(TerminationKind::Timeout, None, svc.clock.now())
                })
                .await?;
            if requested {
                tracing::warn!(%flow_id, deadline = ?r.deadline_at, "flow outlived its max_runtime; terminating");
            }
            record = r;
        }
        if record.last_contact_at.unwrap_or(record.submitted_at) + REPAIR_AFTER <= now {
            record = repair(svc, &record).await?;
        }
    }
    record = settle::follow_up(svc, &record).await?;
    if record.status.is_terminal() && record.cause_pending(svc.clock.now()) {
        settle::fetch_cause(svc, &record).await?;
    }
    // Nothing left due, yet the record still says so (its `sweep_at` was written before the
    // work it named was dropped or ran out): write it again so it leaves the sweep's list.
    let latest = svc
        .store
        .get(flow_id)
        .await?
        .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?;
    let stale = latest.sweep_at.is_some_and(|at| at <= svc.clock.now());
    if stale {
        svc.store.update_from(latest.clone(), |_| true).await?;
    }
    Ok(latest.version != version || stale)
}

/// A `PENDING` flow whose RunJobFlow answer was lost: the oldest cluster carrying its tag is
/// its own, any other is terminated; with none, the flow ends `FAILED`.
async fn recover_launch(svc: &Services, read: crate::store::Versioned) -> Result<FlowRecord, Error> {
    let record = read.record.clone();
    let flow_id = record.flow_id;
    let clusters = svc
        .emr
        .tagged_clusters(flow_id, &record.cluster_name, record.submitted_at - CLOCK_SKEW)
        .await?;
    let Some((own, extras)) = clusters.split_first() else {
        let (record, ended) = svc
            .store
            .update_from(read, |r| r.launch_lost(svc.clock.now()))
            .await?;
        if ended {
            tracing::error!(%flow_id, "RunJobFlow's answer was lost and no cluster carries the flow's tag; flow FAILED");
        }
        return Ok(record);
    };
    settle::adopt_or_terminate(svc, read, own).await?;
    for extra in extras {
        let read = svc
            .store
            .get(flow_id)
            .await?
            .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?;
        if settle::adopt_or_terminate(svc, read, extra).await? != Tagged::Extra(flow_id) {
            tracing::error!(%flow_id, cluster_id = %extra, "a second tagged cluster was taken as the flow's own");
        }
    }
    svc.store
        .get(flow_id)
        .await?
        .map(|v| v.record)
        .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))
}

/// Asks EMR about the flow's cluster (DescribeCluster, then ListSteps when it may end the flow)
/// and applies what it says, as an event would. A cluster EMR no longer knows is recorded as
/// checked; its flow ends by `max_runtime` or by hand.
async fn repair(svc: &Services, record: &FlowRecord) -> Result<FlowRecord, Error> {
    let flow_id = record.flow_id;
    let Some(cluster_id) = record.cluster_id.clone() else {
        return Ok(record.clone());
    };
    let description = svc.emr.describe(&cluster_id).await?;
    let Some(description) = description else {
        tracing::error!(%flow_id, %cluster_id, "EMR does not describe the flow's cluster");
        return Ok(svc.store.update(flow_id, |r| r.checked(svc.clock.now())).await?.0);
    };
    let (mut record, changed) = settle::apply_facts(
        svc,
        flow_id,
        &cluster_id,
        description.facts.clone(),
        Some(&description),
    )
    .await?;
    if changed {
        tracing::warn!(%flow_id, %cluster_id, status = %record.status, "repaired from EMR: events were missed");
    } else {
        record = svc.store.update(flow_id, |r| r.checked(svc.clock.now())).await?.0;
    }
    Ok(record)
}
