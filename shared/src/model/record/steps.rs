//! A step flow's record (steps on a long-running cluster that is not the flow's): it holds
//! exactly the steps its AddJobFlowSteps answered, never another's, and its outcome is decided
//! from those steps alone ([`decide_steps_outcome`]); the cluster only ends it when the cluster
//! ends under steps still pending or running.

use chrono::{DateTime, Utc};

use super::super::outcome::{ClusterFacts, decide_steps_outcome};
use super::super::{ClusterState, FlowStatus, StepState, Target};
use super::{
    FailedStep, FailureCause, FlowRecord, ListedStep, MAX_RUNTIME_EXCEEDED, StepFailureDetails, StepId,
};

/// The cause recorded when the shared cluster ended under the flow's unfinished steps.
pub const CLUSTER_ENDED: &str = "CLUSTER_ENDED";
/// The cause recorded when AddJobFlowSteps' answer was lost and no step on the cluster carries
/// the flow's marker.
pub const ADD_STEPS_LOST: &str = "ADD_JOB_FLOW_STEPS_LOST";

impl FlowRecord {
    /// Whether the step `id` is this flow's: one its record holds; for a cluster of the flow's
    /// own, also any other step of that cluster while the flow is followed (an operator's step
    /// added mid-flow runs on the flow's cluster). A step flow owns only what AddJobFlowSteps
    /// answered.
    pub fn owns_step(&self, id: &StepId) -> bool {
        self.steps.contains_key(id)
            || (self.target == Target::Cluster && !self.status.is_terminal() && self.cluster_id.is_some())
    }

    /// Applies what EMR says about a step flow's own steps (`steps`: ListSteps by the flow's
    /// step ids, or one step's event; any other step is ignored), the shared cluster's facts
    /// when it ended (`cluster`), and the failed step's FailureDetails when fetched; then the
    /// outcome, when the steps decide it. Returns whether anything changed.
    pub fn apply_own_steps(
        &mut self,
        steps: &[ListedStep],
        cluster: Option<&ClusterFacts>,
        failure_details: Option<(StepId, StepFailureDetails)>,
        now: DateTime<Utc>,
    ) -> bool {
        if self.target != Target::Steps || self.status.is_terminal() {
            return false;
        }
        let mut changed = false;
        for step in steps {
            if self.steps.contains_key(&step.id) {
                changed |= self.apply_step(&step.id, &step.name, &step.state, None, now);
            }
        }
        let cluster = cluster.filter(|c| c.state.is_ended());
        if let Some(facts) = cluster
            && self.cluster_state.as_ref() != Some(&facts.state)
        {
            self.cluster_state = Some(facts.state.clone());
            changed = true;
        }
        let Some(outcome) = decide_steps_outcome(&self.steps, cluster.is_some(), self.accepted_termination())
        else {
            if changed {
                self.last_contact_at = Some(now);
                self.touch(now);
            }
            return changed;
        };
        let failure =
            (outcome != FlowStatus::Succeeded).then(|| self.steps_cause(outcome, cluster, failure_details));
        self.last_contact_at = Some(now);
        self.finish(outcome, failure, now) || changed
    }

    /// Why a step flow did not succeed: its first own step that failed (else, when emr-flows
    /// asked for nothing, one cancelled or interrupted), `max_runtime`, or the cluster ending
    /// under it with EMR's reason.
    fn steps_cause(
        &self,
        outcome: FlowStatus,
        cluster: Option<&ClusterFacts>,
        failure_details: Option<(StepId, StepFailureDetails)>,
    ) -> FailureCause {
        let ordered = self.ordered_steps();
        let blamed = (ordered.iter().find(|(_, s)| s.state == StepState::Failed)).or_else(|| {
            (outcome == FlowStatus::Failed && self.accepted_termination().is_none())
                .then(|| ordered.iter().find(|(_, s)| s.state.is_failure()))
                .flatten()
        });
        let failed_step = blamed.map(|(id, step)| FailedStep {
            id: (*id).clone(),
            name: step.name.clone(),
            state: step.state.clone(),
            failure_details: (failure_details.as_ref())
                .filter(|(d_id, _)| d_id == *id)
                .map(|(_, d)| d.clone()),
            probable_cause: None,
        });
        if outcome == FlowStatus::TimedOut {
            let mut cause = FailureCause::ours(
                MAX_RUNTIME_EXCEEDED,
                format!(
                    "still active at {}, its deadline; its steps were cancelled",
                    self.deadline_at.map(|d| d.to_rfc3339()).unwrap_or_default()
                ),
            );
            cause.failed_step = failed_step;
            return cause;
        }
        if failed_step.is_none()
            && let Some(facts) = cluster
        {
            let unfinished: Vec<String> = (ordered.iter())
                .filter(|(_, s)| s.state.rank() < StepState::Completed.rank())
                .map(|(id, s)| format!("{} ({id}) {}", s.name, s.state.as_str()))
                .collect();
            let reason = match (&facts.reason_code, &facts.reason_message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(text), None) | (None, Some(text)) => text.clone(),
                (None, None) => "no reason given".into(),
            };
            let cluster_id = self
                .cluster_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            return FailureCause::ours(
                CLUSTER_ENDED,
                format!(
                    "cluster {cluster_id} ended {} ({reason}) with the flow's steps not finished: {}",
                    facts.state,
                    unfinished.join(", ")
                ),
            );
        }
        FailureCause::new(None, None, failed_step)
    }

    /// Whether the flow's own steps may still run (a step flow's [`FlowRecord::cluster_may_run`]:
    /// the cluster is not the flow's, its steps are).
    pub fn own_steps_may_run(&self) -> bool {
        !self.status.is_terminal()
            || (self.steps.values()).any(|s| s.state.rank() < StepState::Completed.rank())
                && !self.cluster_state.as_ref().is_some_and(ClusterState::is_ended)
    }

    /// Notes the run time (seconds) of the flow's own ended steps, for its cost. Returns
    /// whether anything changed.
    pub fn note_step_seconds(&mut self, times: &[(StepId, u64)], now: DateTime<Utc>) -> bool {
        let mut changed = false;
        for (id, seconds) in times {
            if self.steps.contains_key(id) && self.step_seconds.get(id) != Some(seconds) {
                self.step_seconds.insert(id.clone(), *seconds);
                changed = true;
            }
        }
        if changed {
            self.touch(now);
        }
        changed
    }

    /// The flow's steps still pending or running, in order (what CancelSteps is asked for).
    pub fn unfinished_steps(&self) -> Vec<StepId> {
        (self.ordered_steps().into_iter())
            .filter(|(_, s)| s.state.rank() < StepState::Completed.rank())
            .map(|(id, _)| id.clone())
            .collect()
    }
}
