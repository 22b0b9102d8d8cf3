//! Terminations emr-flows asks for (a caller's, the `max_runtime` sweep's), their attempts
//! until EMR accepts, and extra clusters carrying the flow's tag.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::outcome::TerminationKind;
use super::super::{ClusterId, ClusterState, bounded};
use super::{FlowRecord, MAX_EXTRA_CLUSTERS, MAX_MESSAGE_BYTES, MAX_TERMINATION_ATTEMPTS, TERMINATION_RETRY};

/// A termination emr-flows asked for: a caller's (`terminate`) or the `max_runtime` sweep's.
/// It counts for the outcome only once EMR accepted it (`accepted_at`): a refused request
/// (termination protection, a failed call) is an attempt with its error, never a termination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Termination {
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default = "cancel")]
    pub kind: TerminationKind,
    /// TerminateJobFlows calls made so far.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When EMR accepted TerminateJobFlows (for a step flow: CancelSteps answered `SUBMITTED`
    /// for every step asked, which is not yet `CANCELLED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    /// What EMR answered the last attempt, when it says more than yes or no (CancelSteps: each
    /// step's `SUBMITTED` or `FAILED` with its reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

fn cancel() -> TerminationKind {
    TerminationKind::Cancel
}

/// A second cluster carrying this flow's tag (launched by a RunJobFlow whose answer was lost):
/// it runs nobody's flow, so it is terminated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraCluster {
    pub cluster_id: ClusterId,
    pub found_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl FlowRecord {
    /// Whether the flow's cluster may still run (and cost money): the flow is active, or it
    /// ended while the cluster waited (`KeepJobFlowAliveWhenNoSteps`) and EMR has not reported
    /// it terminated since.
    /// A job run, likewise: the flow is active, or its run was not seen ended.
    pub fn cluster_may_run(&self) -> bool {
        if self.target == super::super::Target::Steps {
            return self.own_steps_may_run();
        }
        !self.status.is_terminal()
            || (self.cluster_id.is_some() && !self.cluster_state.as_ref().is_some_and(ClusterState::is_ended))
            || (self.any_job_run()).is_some_and(|r| r.id.is_some() && r.may_run)
    }

    /// Records a request to terminate the flow's cluster (`reason` bounded by the caller's
    /// edge). `false` when the cluster cannot be running any more, or a termination was
    /// requested before.
    pub fn request_termination(
        &mut self,
        kind: TerminationKind,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> bool {
        if !self.cluster_may_run() || self.termination.is_some() {
            return false;
        }
        self.termination = Some(Termination {
            requested_at: now,
            reason,
            kind,
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
            accepted_at: None,
            answer: None,
        });
        self.touch(now);
        true
    }

    /// Whether TerminateJobFlows should be called now: a termination is requested and not
    /// accepted yet, the cluster is known and may run, and the last refused attempt (if any) is
    /// [`TERMINATION_RETRY`] old, at most [`MAX_TERMINATION_ATTEMPTS`] times.
    pub fn termination_due(&self, now: DateTime<Utc>) -> bool {
        self.run_known()
            && self.cluster_may_run()
            && self.termination.as_ref().is_some_and(|t| {
                t.accepted_at.is_none()
                    && t.attempts < MAX_TERMINATION_ATTEMPTS
                    && t.last_attempt_at.is_none_or(|at| at + TERMINATION_RETRY <= now)
            })
    }

    /// Records a TerminateJobFlows attempt: accepted, or refused with EMR's message.
    pub fn termination_attempted(&mut self, result: Result<(), String>, now: DateTime<Utc>) -> bool {
        let Some(t) = self.termination.as_mut() else {
            return false;
        };
        if t.accepted_at.is_some() {
            return false;
        }
        t.attempts += 1;
        t.last_attempt_at = Some(now);
        match result {
            Ok(()) => {
                t.accepted_at = Some(now);
                t.last_error = None;
            }
            Err(e) => t.last_error = Some(bounded(&e, MAX_MESSAGE_BYTES)),
        }
        self.touch(now);
        true
    }

    /// Notes EMR's answer to a cancellation attempt (after [`FlowRecord::termination_attempted`]),
    /// or to a cancellation sent again because EMR took it and the steps still run: counted as
    /// an attempt then.
    pub fn termination_answered(&mut self, answer: &str, again: bool, now: DateTime<Utc>) -> bool {
        let Some(t) = self.termination.as_mut() else {
            return false;
        };
        if again {
            t.attempts += 1;
            t.last_attempt_at = Some(now);
        }
        t.answer = Some(bounded(answer, MAX_MESSAGE_BYTES));
        self.touch(now);
        true
    }

    /// Whether the flow outlived its deadline and its cluster should be terminated for it.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_terminal() && self.deadline_at.is_some_and(|d| d <= now)
    }

    /// Notes another cluster carrying this flow's tag. `false` when it is the flow's own
    /// cluster, noted before, or the list is full.
    pub fn note_extra_cluster(&mut self, cluster_id: &ClusterId, now: DateTime<Utc>) -> bool {
        if self.cluster_id.as_ref() == Some(cluster_id)
            || self.extra_clusters.iter().any(|c| &c.cluster_id == cluster_id)
            || self.extra_clusters.len() >= MAX_EXTRA_CLUSTERS
        {
            return false;
        }
        self.extra_clusters.push(ExtraCluster {
            cluster_id: cluster_id.clone(),
            found_at: now,
            terminated_at: None,
            last_error: None,
        });
        self.touch(now);
        true
    }

    /// Records the TerminateJobFlows call for an extra cluster.
    pub fn extra_cluster_terminated(
        &mut self,
        cluster_id: &ClusterId,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(extra) = self
            .extra_clusters
            .iter_mut()
            .find(|c| &c.cluster_id == cluster_id)
        else {
            return false;
        };
        if extra.terminated_at.is_some() {
            return false;
        }
        match result {
            Ok(()) => {
                extra.terminated_at = Some(now);
                extra.last_error = None;
            }
            Err(e) => extra.last_error = Some(bounded(&e, MAX_MESSAGE_BYTES)),
        }
        self.touch(now);
        true
    }
}
