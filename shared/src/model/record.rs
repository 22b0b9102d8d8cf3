//! The flow record (one DynamoDB item per flow) and every change a fact can make to it. Each
//! change takes `now`, returns whether it changed anything (nothing is written otherwise), and
//! keeps the lifecycle's promises: a status never moves backwards, a terminal status is final,
//! and every string from outside is bounded, so no write can make the record too large to write.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::delivery::{AttemptOutcome, Delivery, DeliveryStatus};
use super::outcome::{ClusterFacts, TerminationKind, decide_outcome, is_error_code};
use super::{
    CallbackTarget, ClusterId, ClusterState, FlowId, FlowStatus, StepId, StepState, Target, bounded,
};

/// One EMR step of a flow, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's position in the job flow, from 0.
    pub index: u32,
    /// The step's `Name`.
    pub name: String,
    /// The most advanced state seen, from events or from EMR.
    pub state: StepState,
    /// When the state was last recorded.
    pub updated_at: DateTime<Utc>,
}

/// A step as EMR's ListSteps reports it, in job-flow order.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedStep {
    pub id: StepId,
    pub name: String,
    pub state: StepState,
}

mod cause;
mod eks_job_run;
mod flow_events;
mod job_run;
mod job_runs;
mod steps;
mod termination;

pub use cause::{FailedStep, FailureCause, StepFailureDetails};
pub use eks_job_run::EksJobRunRecord;
pub use job_run::{
    DEFAULT_EXECUTION_TIMEOUT_MINUTES, EXECUTION_TIMEOUT, JobRunRecord, START_JOB_RUN_FAILED,
    START_JOB_RUN_LOST,
};
pub use job_runs::{
    ExtraJobRun, JOB_RUN_CANCELLED, JOB_RUN_FAILED, NO_FAILURE_DETAILS, NO_S3_LOGS, NO_S3_LOGS_EKS,
    NO_STATE_DETAILS,
};
pub use steps::{ADD_STEPS_LOST, CLUSTER_ENDED};
pub use termination::{ExtraCluster, Termination};

/// The DynamoDB item for one flow: what was asked, what EMR did, and who was told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowRecord {
    pub flow_id: FlowId,
    /// The flow definition's name.
    pub flow: String,
    pub definition_version: String,
    /// What the flow runs on (absent on records written before targets: a cluster).
    #[serde(default)]
    pub target: Target,
    /// `sha256:…` of the RunJobFlow request as sent (see [`crate::catalog::render::Rendered`]).
    #[serde(default)]
    pub request_digest: String,
    pub status: FlowStatus,
    /// The parameters after defaults were applied.
    pub params: Value,
    #[serde(default)]
    pub callbacks: Vec<CallbackTarget>,
    /// Named URIs from the definition's `artifacts`, rendered for this flow.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
    /// The rendered job flow's `Name`.
    pub cluster_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<ClusterId>,
    /// The most advanced EMR cluster state seen (e.g. `WAITING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_state: Option<ClusterState>,
    /// The job flow's steps by id.
    #[serde(default)]
    pub steps: BTreeMap<StepId, StepRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureCause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<Termination>,
    /// Callback deliveries by key (`"0"`, `"1"`, … in `callbacks` order).
    #[serde(default)]
    pub deliveries: BTreeMap<String, Delivery>,
    /// The EventBridge bus (name or ARN) the flow's status changes are published to, as
    /// configured when it was submitted (`FLOW_EVENT_BUS`); none: no flow events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bus: Option<String>,
    /// The publication of each status the flow reached, by status (`"RUNNING"`): see
    /// `model/record/flow_events.rs`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flow_events: BTreeMap<String, Delivery>,
    /// The caller's idempotency key, when submit was given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Why RunJobFlow's answer is unknown (a timeout, a lost connection): the cluster is looked
    /// for by its flow-id tag before the flow is given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_error: Option<String>,
    /// Other clusters found carrying this flow's tag, terminated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_clusters: Vec<ExtraCluster>,
    /// When the flow must have ended (`submitted_at` + `max_runtime`); past it, the sweep
    /// terminates the cluster and the flow ends `TIMED_OUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_at: Option<DateTime<Utc>>,
    /// When EMR last told us something about the cluster (an event that changed the record, or
    /// the sweep's DescribeCluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contact_at: Option<DateTime<Utc>>,
    /// DescribeCluster's `NormalizedInstanceHours` once the cluster ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_instance_hours: Option<i32>,
    /// A step flow's cost: each of its ended steps' run time in seconds (ListSteps'
    /// `StartDateTime` to `EndDateTime`). Its cluster is shared, so it has no
    /// `NormalizedInstanceHours` of its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub step_seconds: BTreeMap<StepId, u64>,
    /// The flow's EMR Serverless job run (target `serverless_job_run`): its application from
    /// submit on, its id once started, state, attempt, log location and billed resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run: Option<JobRunRecord>,
    /// The flow's EMR on EKS job run (target `eks_job_run`): its virtual cluster from submit
    /// on, its id once started, state, attempt, log location and times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks_job_run: Option<EksJobRunRecord>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// The cause recorded when EMR refuses RunJobFlow.
pub const LAUNCH_FAILED: &str = "RUN_JOB_FLOW_FAILED";
/// The cause recorded when RunJobFlow's answer was lost and no cluster carries the flow's tag.
pub const LAUNCH_LOST: &str = "RUN_JOB_FLOW_LOST";
/// The cause recorded when a cluster ended without an error code, nothing failed, and yet not
/// every step completed (or none ran).
pub const STEPS_INCOMPLETE: &str = "STEPS_INCOMPLETE";
/// The cause recorded when a flow outlived its `max_runtime`.
pub const MAX_RUNTIME_EXCEEDED: &str = "MAX_RUNTIME_EXCEEDED";

/// The longest message (EMR's, or an error) kept on a record, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// The most of a failed step's `stderr` kept as its probable cause, in bytes.
pub const MAX_PROBABLE_CAUSE_BYTES: usize = 4096;
/// The most steps a record follows: EMR's 256 of the request, and some added by hand.
pub const MAX_RECORDED_STEPS: usize = 300;
/// The longest step name kept, in bytes (EMR's own limit for a step's `Name`).
pub const MAX_STEP_NAME_BYTES: usize = 256;
/// The most extra clusters a record notes.
pub const MAX_EXTRA_CLUSTERS: usize = 10;

/// How long after submit a `PENDING` flow is looked for by its tag (RunJobFlow answers in
/// seconds; submit gives up well within this).
pub const LAUNCH_GRACE: Duration = Duration::minutes(3);
/// How long a flow may go without word from EMR before the sweep asks EMR itself.
pub const REPAIR_AFTER: Duration = Duration::minutes(10);
/// How long after a flow ended its failed step's details and log are fetched again, while
/// EMR has not pushed them.
pub const CAUSE_WINDOW: Duration = Duration::minutes(30);
/// How often the sweep fetches a missing cause again.
pub const CAUSE_RETRY: Duration = Duration::minutes(5);
/// The wait between TerminateJobFlows attempts that EMR refused, and how many are made.
pub const TERMINATION_RETRY: Duration = Duration::minutes(15);
pub const MAX_TERMINATION_ATTEMPTS: u32 = 8;

impl FlowRecord {
    /// A `PENDING` record of a flow just submitted: nothing launched, seen or delivered yet.
    /// The submission's other facts (params, callbacks, artifacts, digest, key, deadline) are
    /// set with struct update syntax: `FlowRecord { params, ..FlowRecord::pending(…) }`.
    pub fn pending(
        flow_id: FlowId,
        flow: &str,
        definition_version: &str,
        cluster_name: &str,
        submitted_at: DateTime<Utc>,
    ) -> Self {
        Self {
            flow_id,
            flow: flow.to_owned(),
            definition_version: definition_version.to_owned(),
            target: Target::Cluster,
            request_digest: String::new(),
            status: FlowStatus::Pending,
            params: Value::Object(Default::default()),
            callbacks: Vec::new(),
            artifacts: BTreeMap::new(),
            cluster_name: cluster_name.to_owned(),
            cluster_id: None,
            cluster_state: None,
            steps: BTreeMap::new(),
            failure: None,
            termination: None,
            deliveries: BTreeMap::new(),
            event_bus: None,
            flow_events: BTreeMap::new(),
            idempotency_key: None,
            launch_error: None,
            extra_clusters: Vec::new(),
            deadline_at: None,
            last_contact_at: None,
            normalized_instance_hours: None,
            step_seconds: BTreeMap::new(),
            job_run: None,
            eks_job_run: None,
            submitted_at,
            updated_at: submitted_at,
            ended_at: None,
        }
    }
    /// The steps in job-flow order.
    pub fn ordered_steps(&self) -> Vec<(&StepId, &StepRecord)> {
        let mut steps: Vec<_> = self.steps.iter().collect();
        steps.sort_by_key(|(_, s)| s.index);
        steps
    }

    /// The first step (in job-flow order) that failed, was cancelled or interrupted.
    pub fn first_failed_step(&self) -> Option<(&StepId, &StepRecord)> {
        self.ordered_steps()
            .into_iter()
            .find(|(_, s)| s.state.is_failure())
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
    }

    fn advance(&mut self, status: FlowStatus, now: DateTime<Utc>) -> bool {
        if !status.predecessors().contains(&self.status) {
            return false;
        }
        self.status = status;
        self.touch(now);
        self.note_status_event(now);
        true
    }

    /// The kind of our termination, once EMR accepted it.
    pub fn accepted_termination(&self) -> Option<TerminationKind> {
        self.termination
            .as_ref()
            .filter(|t| t.accepted_at.is_some())
            .map(|t| t.kind)
    }

    /// EMR accepted the job flow: `PENDING` → `STARTING` with its cluster and steps.
    pub fn started(&mut self, cluster_id: &ClusterId, steps: &[ListedStep], now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending {
            return false;
        }
        self.cluster_id = Some(cluster_id.clone());
        self.last_contact_at = Some(now);
        self.steps = (steps.iter().enumerate())
            .take(MAX_RECORDED_STEPS)
            .map(|(index, step)| {
                let record = StepRecord {
                    index: index as u32,
                    name: bounded(&step.name, MAX_STEP_NAME_BYTES),
                    state: step.state.clone(),
                    updated_at: now,
                };
                (step.id.clone(), record)
            })
            .collect();
        self.advance(FlowStatus::Starting, now)
    }

    /// RunJobFlow's answer was lost (timeout, connection dropped): the flow stays `PENDING`
    /// while its cluster is looked for by the flow-id tag.
    pub fn launch_uncertain(&mut self, error: &str, now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending || self.launch_error.is_some() {
            return false;
        }
        self.launch_error = Some(bounded(error, MAX_MESSAGE_BYTES));
        self.touch(now);
        true
    }

    /// EMR refused the job flow: `PENDING` → `FAILED` with EMR's message, and the callbacks
    /// are told like for every other ending.
    pub fn launch_failed(&mut self, message: &str, now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending {
            return false;
        }
        self.finish(
            FlowStatus::Failed,
            Some(FailureCause::ours(
                match self.target {
                    Target::Cluster | Target::Steps => LAUNCH_FAILED,
                    Target::ServerlessJobRun | Target::EksJobRun => START_JOB_RUN_FAILED,
                },
                message.to_owned(),
            )),
            now,
        )
    }

    /// The launch's answer was lost and nothing carries the flow's identity after
    /// [`LAUNCH_GRACE`] (no cluster or job run its tag, no step on the shared cluster its
    /// marker): `PENDING` → `FAILED` with the target's code.
    pub fn launch_lost(&mut self, now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending {
            return false;
        }
        let error = (self.launch_error.as_deref()).unwrap_or("its answer was never recorded");
        let (code, message) = match self.target {
            Target::Cluster => (
                LAUNCH_LOST,
                format!("no cluster carries this flow's tag {LAUNCH_GRACE} after RunJobFlow ({error})"),
            ),
            Target::ServerlessJobRun => (
                START_JOB_RUN_LOST,
                format!("no job run carries this flow's tag {LAUNCH_GRACE} after StartJobRun ({error})"),
            ),
            Target::EksJobRun => (
                START_JOB_RUN_LOST,
                format!(
                    "no job run carries this flow's client token {LAUNCH_GRACE} after StartJobRun ({error})"
                ),
            ),
            Target::Steps => (
                ADD_STEPS_LOST,
                format!(
                    "no step on cluster {} carries this flow's marker after AddJobFlowSteps ({error})",
                    (self.cluster_id.as_ref()).map_or_else(|| "(none)".to_owned(), ToString::to_string)
                ),
            ),
        };
        self.finish(FlowStatus::Failed, Some(FailureCause::ours(code, message)), now)
    }

    /// Merges EMR's list of the steps (in job-flow order): each step keeps the most advanced
    /// state known, from events or from EMR, and takes EMR's position.
    pub fn apply_listed_steps(&mut self, steps: &[ListedStep], now: DateTime<Utc>) -> bool {
        let mut changed = false;
        for (index, step) in steps.iter().enumerate() {
            changed |= self.apply_step(&step.id, &step.name, &step.state, Some(index as u32), now);
        }
        changed
    }

    /// Records a step's state, if it is further along than the one recorded. `index` is the
    /// step's position when known (from ListSteps); a step first seen in an event goes last.
    /// A step that runs or completed means the cluster runs.
    pub fn apply_step(
        &mut self,
        id: &StepId,
        name: &str,
        state: &StepState,
        index: Option<u32>,
        now: DateTime<Utc>,
    ) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        let next_index = self.steps.len() as u32;
        let full = self.steps.len() >= MAX_RECORDED_STEPS;
        // Ownership: a step the record does not hold is taken in only where it can be the
        // flow's ([`FlowRecord::owns_step`]); one that is not changes nothing, status included.
        if !self.owns_step(id) {
            return false;
        }
        let mut changed = match self.steps.get_mut(id) {
            Some(step) => {
                let mut changed = false;
                if step.state.rank() < state.rank() {
                    step.state = state.clone();
                    step.updated_at = now;
                    changed = true;
                }
                if let Some(index) = index.filter(|i| *i != step.index) {
                    step.index = index;
                    changed = true;
                }
                changed
            }
            None if full => false,
            None => {
                let step = StepRecord {
                    index: index.unwrap_or(next_index),
                    name: bounded(name, MAX_STEP_NAME_BYTES),
                    state: state.clone(),
                    updated_at: now,
                };
                self.steps.insert(id.clone(), step);
                true
            }
        };
        if matches!(state, StepState::Running | StepState::Completed) {
            changed |= self.advance(FlowStatus::Running, now);
        }
        if changed {
            self.last_contact_at = Some(now);
            self.touch(now);
        }
        changed
    }

    /// Records a cluster state: it follows EMR, never back to an earlier state, and an unknown
    /// state never replaces a known one. A started cluster moves the flow to `STARTING`, a
    /// running or waiting one to `RUNNING`.
    fn apply_cluster_state(&mut self, state: &ClusterState, now: DateTime<Utc>) -> bool {
        let late = self
            .cluster_state
            .as_ref()
            .is_some_and(|current| state.rank() < current.rank() || current.is_ended());
        let mut changed = !late && self.cluster_state.as_ref() != Some(state);
        if changed {
            self.cluster_state = Some(state.clone());
        }
        if !self.status.is_terminal() {
            changed |= match state {
                ClusterState::Starting | ClusterState::Bootstrapping => {
                    self.advance(FlowStatus::Starting, now)
                }
                ClusterState::Running | ClusterState::Waiting => self.advance(FlowStatus::Running, now),
                _ => false,
            };
        }
        if changed {
            self.touch(now);
        }
        changed
    }

    /// Applies what EMR says about the flow's cluster ([`ClusterFacts`]): the steps it listed,
    /// the cluster state, and, when the facts decide it ([`decide_outcome`]), the outcome with
    /// its cause. An ended flow only notes that its cluster ended (and its instance hours).
    pub fn apply_cluster(&mut self, facts: &ClusterFacts, now: DateTime<Utc>) -> bool {
        if self.cluster_id.is_none() {
            return false;
        }
        let mut changed = false;
        if facts.normalized_instance_hours.is_some()
            && self.normalized_instance_hours != facts.normalized_instance_hours
        {
            self.normalized_instance_hours = facts.normalized_instance_hours;
            changed = true;
        }
        if self.status.is_terminal() {
            changed |= self.apply_cluster_state(&facts.state, now);
            return changed;
        }
        if let Some(steps) = &facts.steps {
            changed |= self.apply_listed_steps(steps, now);
        }
        self.last_contact_at = Some(now);
        // EMR's own list, when fetched, is the whole truth about the steps: a step only an event
        // named (never listed by EMR) does not decide the outcome.
        let listed: Option<BTreeMap<StepId, StepRecord>> =
            facts.steps.as_ref().filter(|l| !l.is_empty()).map(|list| {
                (self.steps.iter())
                    .filter(|(id, _)| list.iter().any(|l| &l.id == *id))
                    .map(|(id, step)| (id.clone(), step.clone()))
                    .collect()
            });
        let outcome = decide_outcome(
            &facts.state,
            facts.reason_code.as_deref(),
            listed.as_ref().unwrap_or(&self.steps),
            self.accepted_termination(),
        );
        let Some(outcome) = outcome else {
            return self.apply_cluster_state(&facts.state, now) || changed;
        };
        let failure = (outcome != FlowStatus::Succeeded).then(|| self.cause(outcome, facts));
        self.apply_cluster_state(&facts.state, now);
        self.finish(outcome, failure, now) || changed
    }

    fn cause(&self, outcome: FlowStatus, facts: &ClusterFacts) -> FailureCause {
        // The step to blame: the first that FAILED; else, for a failure EMR gave no error code
        // for, the first cancelled or interrupted one. A step cancelled because the cluster
        // failed (bootstrap, instances) or was terminated is a consequence, not the cause.
        let cluster_error = is_error_code(facts.reason_code.as_deref());
        let ordered = self.ordered_steps();
        let blamed = (ordered.iter().find(|(_, s)| s.state == StepState::Failed)).or_else(|| {
            (outcome == FlowStatus::Failed && !cluster_error)
                .then(|| ordered.iter().find(|(_, s)| s.state.is_failure()))
                .flatten()
        });
        let failed_step = blamed.map(|(id, step)| FailedStep {
            id: (*id).clone(),
            name: step.name.clone(),
            state: step.state.clone(),
            failure_details: (facts.failure_details.as_ref())
                .filter(|(d_id, _)| d_id == *id)
                .map(|(_, d)| d.clone()),
            probable_cause: None,
        });
        if outcome == FlowStatus::TimedOut {
            let mut cause = FailureCause::ours(
                MAX_RUNTIME_EXCEEDED,
                format!(
                    "still active at {}, its deadline; terminated",
                    self.deadline_at.map(|d| d.to_rfc3339()).unwrap_or_default()
                ),
            );
            cause.failed_step = failed_step;
            return cause;
        }
        let cluster_error = is_error_code(facts.reason_code.as_deref());
        if outcome == FlowStatus::Failed && failed_step.is_none() && !cluster_error {
            // Nothing failed, yet not every step completed (or the cluster never ran): say so,
            // rather than pass on a reason such as ALL_STEPS_COMPLETED.
            let unfinished: Vec<String> = (self.ordered_steps().into_iter())
                .filter(|(_, s)| s.state != StepState::Completed)
                .map(|(id, s)| format!("{} ({id}) {}", s.name, s.state.as_str()))
                .collect();
            let message = if unfinished.is_empty() {
                format!("the cluster ended {} without running the flow", facts.state)
            } else {
                format!(
                    "the cluster ended {} with steps not completed: {}",
                    facts.state,
                    unfinished.join(", ")
                )
            };
            return FailureCause::ours(STEPS_INCOMPLETE, message);
        }
        FailureCause::new(
            facts.reason_code.as_deref(),
            facts.reason_message.as_deref(),
            failed_step,
        )
    }

    /// Ends the flow with `outcome` and queues one delivery per callback, due at once.
    fn finish(&mut self, outcome: FlowStatus, failure: Option<FailureCause>, now: DateTime<Utc>) -> bool {
        if !outcome.is_terminal() || !self.advance(outcome, now) {
            return false;
        }
        self.failure = failure;
        self.ended_at = Some(now);
        self.deliveries = (0..self.callbacks.len())
            .map(|i| (i.to_string(), Delivery::new(outcome, now)))
            .collect();
        true
    }

    /// Whether the flow's run is known: its cluster, or its job run's id.
    pub fn run_known(&self) -> bool {
        self.cluster_id.is_some() || self.any_job_run_id().is_some()
    }

    /// The sweep asked EMR about the cluster and found nothing new.
    pub fn checked(&mut self, now: DateTime<Utc>) -> bool {
        self.last_contact_at = Some(now);
        self.touch(now);
        true
    }

    /// Whether a callback delivery still waits for an attempt.
    pub fn has_pending_deliveries(&self) -> bool {
        self.deliveries
            .values()
            .any(|d| d.status == DeliveryStatus::Pending)
    }

    /// Claims every delivery due at `now` (see [`Delivery::claim`]): `(key, attempt)` pairs to
    /// send, each counted (and entered in its history) before it is sent. The deliveries may
    /// change without a claim: an attempt that never reported is marked so, and a delivery
    /// whose last attempt never reported is given up.
    pub fn claim_deliveries(&mut self, now: DateTime<Utc>) -> Vec<(String, u32)> {
        let before = self.deliveries.clone();
        let claimed: Vec<_> = (self.deliveries.iter_mut())
            .filter_map(|(key, d)| d.claim(now).map(|attempt| (key.clone(), attempt)))
            .collect();
        if self.deliveries != before {
            self.touch(now);
        }
        claimed
    }

    /// Records the result of attempt `attempt` of delivery `key`.
    pub fn record_delivery(
        &mut self,
        key: &str,
        attempt: u32,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> bool {
        let changed = self
            .deliveries
            .get_mut(key)
            .is_some_and(|d| d.record(attempt, outcome, now));
        if changed {
            self.touch(now);
        }
        changed
    }

    /// When the reconcile sweep should next look at this flow, or `None` when it never needs
    /// to: a pending launch after [`LAUNCH_GRACE`], an active flow without word from EMR for
    /// [`REPAIR_AFTER`] or past its deadline, a due termination, a due delivery or flow
    /// event, a missing failure cause.
    pub fn next_sweep_at(&self) -> Option<DateTime<Utc>> {
        let mut times = Vec::new();
        match self.status {
            FlowStatus::Pending => times.push(self.submitted_at + LAUNCH_GRACE),
            s if !s.is_terminal() => {
                times.push(self.last_contact_at.unwrap_or(self.submitted_at) + REPAIR_AFTER);
                // Past the deadline, the sweep asks for the termination once; then EMR's end decides.
                if self.termination.is_none() {
                    times.extend(self.deadline_at);
                }
            }
            _ => {}
        }
        if let Some(t) = self.termination.as_ref().filter(|t| {
            t.accepted_at.is_none() && t.attempts < MAX_TERMINATION_ATTEMPTS && self.cluster_may_run()
        }) {
            times.push(
                t.last_attempt_at
                    .map_or(t.requested_at, |at| at + TERMINATION_RETRY),
            );
        }
        times.extend(
            (self.deliveries.values().chain(self.flow_events.values()))
                .filter(|d| d.status == DeliveryStatus::Pending)
                .filter_map(|d| d.next_attempt_at),
        );
        // `cause_pending` holds only for a failure whose cause the target can still fetch.
        if let Some(end) = self.ended_at
            && self.cause_pending(end)
        {
            let next = self.last_contact_at.unwrap_or(end) + CAUSE_RETRY;
            if next < end + CAUSE_WINDOW {
                times.push(next);
            }
        }
        times.into_iter().min()
    }
}

#[cfg(test)]
mod tests;
