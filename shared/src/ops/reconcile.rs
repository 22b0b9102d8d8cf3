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
use crate::model::{FlowId, FlowStatus, LAUNCH_GRACE, REPAIR_AFTER, TerminationKind};

use crate::services::Services;
use crate::targets::Target;

use super::follow_up::follow_up;

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
    let Some(mut read) = svc.store.get(flow_id).await? else {
        return Ok(false);
    };
    let version = read.version;
    let now = svc.clock.now();
    let record = &read.record;
    let target = Target::of(record);
    if record.status == FlowStatus::Pending && now >= record.submitted_at + LAUNCH_GRACE {
        read = target.recover_launch(svc, read).await?;
    } else if !record.status.is_terminal() && record.run_known() {
        if record.overdue(now) {
            let (written, requested) = svc
                .store
                .update_from(read, |r| {
                    r.request_termination(TerminationKind::Timeout, None, now)
                })
                .await?;
            if requested {
                tracing::warn!(%flow_id, deadline = written.record.deadline_at.map(|d| d.to_rfc3339()), "flow outlived its max_runtime; terminating");
            }
            read = written;
        }
        if read.record.last_contact_at.unwrap_or(read.record.submitted_at) + REPAIR_AFTER <= now {
            read = target.repair(svc, read).await?;
        }
    }
    read = follow_up(svc, read).await?;
    if read.record.status.is_terminal() && read.record.cause_pending(now) {
        read = target.fetch_cause(svc, read).await?;
    }
    // Nothing left due, yet the record still says so (a fast event write leaves `sweep_at` as
    // it was): write it again so it leaves the sweep's list until its next due time.
    let stale = read.sweep_at.is_some_and(|at| at <= now);
    if stale {
        read = svc.store.update_from(read, |_| true).await?.0;
    }
    Ok(read.version != version)
}
