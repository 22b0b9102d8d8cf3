//! The domain model: ids, flow and step states, the flow record. No AWS types live here; the
//! adapters (`store`, `emr`, `callback`) convert between these types and the SDKs'.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::callback::CallbackTarget;

/// A flow's id: a ULID (26 Crockford base32 characters), so ids sort by submission time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FlowId(ulid::Ulid);

impl FlowId {
    /// A new id for a flow submitted now.
    pub fn generate() -> Self {
        Self(ulid::Ulid::generate())
    }

    /// Parses a ULID such as `01JDQ3V4X8M6Z0B1C2D3E4F5G6` in its canonical form (upper case,
    /// at most `7ZZZ…`); anything else is an error naming it, so two spellings never name one
    /// flow.
    pub fn parse(s: &str) -> Result<Self, String> {
        ulid::Ulid::from_string(s)
            .ok()
            .filter(|id| id.to_string() == s)
            .map(Self)
            .ok_or_else(|| format!("`{s}` is not a flow id (a 26-character ULID)"))
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for FlowId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<FlowId> for String {
    fn from(id: FlowId) -> Self {
        id.to_string()
    }
}

/// Declares a validated string id with an EMR prefix (`j-…`, `s-…`).
macro_rules! emr_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses `", $prefix, "` followed by 1 to 64 upper-case letters or digits.")]
            pub fn parse(s: &str) -> Result<Self, String> {
                let ok = s.strip_prefix($prefix).is_some_and(|rest| {
                    (1..=64).contains(&rest.len())
                        && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                });
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(format!(concat!("`{}` is not ", $what, " (`", $prefix, "…`)"), s))
                }
            }

            /// The id as EMR writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

emr_id!(
    /// An EMR cluster id, `j-…` (the same value as the job flow id).
    ClusterId,
    "j-",
    "an EMR cluster id"
);
emr_id!(
    /// An EMR step id, `s-…`.
    StepId,
    "s-",
    "an EMR step id"
);

/// Where a flow is in its lifecycle: `PENDING` → `STARTING` → `RUNNING` → one terminal status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowStatus {
    /// The record is written; RunJobFlow has not answered yet.
    Pending,
    /// EMR accepted the job flow; the cluster is starting or bootstrapping.
    Starting,
    /// The cluster runs steps.
    Running,
    /// Every step completed and the cluster ended (or waits) without error.
    Succeeded,
    /// A step or the cluster failed, or the cluster never ran.
    Failed,
    /// Terminated on request.
    Cancelled,
    /// Terminated because it outlived the definition's `max_runtime`.
    TimedOut,
}

impl FlowStatus {
    /// All statuses, in lifecycle order.
    pub const ALL: [FlowStatus; 7] = [
        Self::Pending,
        Self::Starting,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::TimedOut,
    ];

    /// The statuses a flow is active in (its cluster may still cost money).
    pub const ACTIVE: [FlowStatus; 3] = [Self::Pending, Self::Starting, Self::Running];

    /// The status as stored and sent (`"RUNNING"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::TimedOut => "TIMED_OUT",
        }
    }

    /// A terminal status is final: nothing moves a flow out of it.
    pub fn is_terminal(self) -> bool {
        !Self::ACTIVE.contains(&self)
    }

    fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Starting => 1,
            Self::Running => 2,
            _ => 3,
        }
    }

    /// The statuses a flow may move to `self` from: strictly earlier, never terminal. A status
    /// never moves backwards, and a duplicate event (the same status again) changes nothing.
    pub fn predecessors(self) -> Vec<FlowStatus> {
        Self::ACTIVE
            .into_iter()
            .filter(|s| s.rank() < self.rank())
            .collect()
    }
}

impl fmt::Display for FlowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An EMR step state, as EMR names it (`StepState` in the EMR API reference). A state EMR adds
/// later is kept as `Other` and never counts as completion.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StepState {
    Pending,
    CancelPending,
    Running,
    Completed,
    Cancelled,
    Failed,
    Interrupted,
    Other(String),
}

impl StepState {
    /// EMR's name for the state.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "PENDING",
            Self::CancelPending => "CANCEL_PENDING",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
            Self::Interrupted => "INTERRUPTED",
            Self::Other(s) => s,
        }
    }

    /// How far along a step is; states only move forward. Unknown states rank lowest.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Other(_) => 0,
            Self::Pending => 1,
            Self::Running => 2,
            Self::CancelPending => 3,
            Self::Completed | Self::Cancelled | Self::Failed | Self::Interrupted => 4,
        }
    }

    /// `FAILED`, `CANCELLED` or `INTERRUPTED`: the flow cannot succeed.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Interrupted)
    }

    /// Every known state that ranks below `self`: the states a step may move to `self` from.
    pub fn predecessors(&self) -> Vec<StepState> {
        [
            Self::Pending,
            Self::Running,
            Self::CancelPending,
            Self::Completed,
            Self::Cancelled,
            Self::Failed,
            Self::Interrupted,
        ]
        .into_iter()
        .filter(|s| s.rank() < self.rank())
        .collect()
    }
}

impl From<String> for StepState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "PENDING" => Self::Pending,
            "CANCEL_PENDING" => Self::CancelPending,
            "RUNNING" => Self::Running,
            "COMPLETED" => Self::Completed,
            "CANCELLED" => Self::Cancelled,
            "FAILED" => Self::Failed,
            "INTERRUPTED" => Self::Interrupted,
            _ => Self::Other(s),
        }
    }
}

impl From<StepState> for String {
    fn from(s: StepState) -> Self {
        s.as_str().to_owned()
    }
}

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

/// Why a step failed, from DescribeStep's `Status.FailureDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepFailureDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
}

/// The step that failed a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedStep {
    pub id: StepId,
    pub name: String,
    pub state: StepState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_details: Option<StepFailureDetails>,
}

/// Why a flow failed: the cluster's state change reason and the first failed step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureCause {
    /// The cluster's `StateChangeReason.Code` (e.g. `STEP_FAILURE`), when EMR gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The cluster's `StateChangeReason.Message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<FailedStep>,
}

impl FailureCause {
    /// The cause from the cluster's state change reason and the first failed step. A cluster
    /// that ended "cleanly" (`ALL_STEPS_COMPLETED`, or no code) after a step failed with
    /// `ActionOnFailure: CONTINUE` is reported as that step's failure, not as a success reason.
    pub fn new(code: Option<&str>, message: Option<&str>, failed_step: Option<FailedStep>) -> Self {
        let (code, message) = match (code, &failed_step) {
            (None | Some("ALL_STEPS_COMPLETED"), Some(step)) => (
                Some("STEP_FAILURE".to_owned()),
                Some(format!(
                    "step {} ({}) {}",
                    step.name,
                    step.id,
                    step.state.as_str()
                )),
            ),
            _ => (code.map(str::to_owned), message.map(str::to_owned)),
        };
        Self {
            code,
            message,
            failed_step,
        }
    }
}

/// A caller's request to terminate a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminationRequest {
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether a callback reached its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Not attempted yet, or attempted and to be retried.
    Pending,
    Delivered,
    /// The last attempt failed and no more will be made.
    Failed,
}

/// One callback's delivery for a flow's outcome, kept on the flow record under the callback's
/// index in [`FlowRecord::callbacks`] (the target is not copied, so the record stays small).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The flow status the delivery reports.
    pub outcome: FlowStatus,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The DynamoDB item for one flow: what was asked, what EMR did, and who was told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowRecord {
    pub flow_id: FlowId,
    /// The flow definition's name.
    pub flow: String,
    pub definition_version: String,
    /// `sha256:…` of the RunJobFlow request as sent (see [`crate::render::Rendered`]).
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
    /// The last EMR cluster state seen (`ClusterState`, e.g. `WAITING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_state: Option<String>,
    /// The job flow's steps by id.
    #[serde(default)]
    pub steps: BTreeMap<StepId, StepRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureCause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<TerminationRequest>,
    /// Callback deliveries by key (`"0"`, `"1"`, … in `callbacks` order).
    #[serde(default)]
    pub deliveries: BTreeMap<String, Delivery>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// How many times a callback is attempted before its delivery is marked failed.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 5;

/// The cause recorded when EMR refuses RunJobFlow.
pub const LAUNCH_FAILED: &str = "RUN_JOB_FLOW_FAILED";

/// Changes to a flow record. Each returns whether it changed anything; none changes a record
/// whose status is terminal, except to record a callback delivery.
impl FlowRecord {
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

    fn advance(&mut self, status: FlowStatus, now: DateTime<Utc>) -> bool {
        if !status.predecessors().contains(&self.status) {
            return false;
        }
        self.status = status;
        self.updated_at = now;
        true
    }

    /// EMR accepted the job flow: `PENDING` → `STARTING` with its cluster and steps.
    pub fn started(&mut self, cluster_id: &ClusterId, steps: &[ListedStep], now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending {
            return false;
        }
        self.cluster_id = Some(cluster_id.clone());
        self.steps = (steps.iter().enumerate())
            .map(|(index, step)| {
                let record = StepRecord {
                    index: index as u32,
                    name: step.name.clone(),
                    state: step.state.clone(),
                    updated_at: now,
                };
                (step.id.clone(), record)
            })
            .collect();
        self.advance(FlowStatus::Starting, now)
    }

    /// Merges EMR's list of the steps (in job-flow order): each step keeps the most advanced
    /// state known, from events or from EMR.
    pub fn apply_listed_steps(&mut self, steps: &[ListedStep], now: DateTime<Utc>) -> bool {
        let mut changed = false;
        for (index, step) in steps.iter().enumerate() {
            changed |= self.apply_step(&step.id, &step.name, &step.state, Some(index as u32), now);
        }
        changed
    }

    /// EMR refused the job flow: `PENDING` → `FAILED` with EMR's message. No callback is
    /// delivered: the caller learns it from submit's error.
    pub fn launch_failed(&mut self, message: &str, now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending {
            return false;
        }
        self.failure = Some(FailureCause {
            code: Some(LAUNCH_FAILED.into()),
            message: Some(message.into()),
            failed_step: None,
        });
        self.ended_at = Some(now);
        self.advance(FlowStatus::Failed, now)
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
        let mut changed = match self.steps.get_mut(id) {
            Some(step) if step.state.rank() < state.rank() => {
                step.state = state.clone();
                step.updated_at = now;
                true
            }
            Some(_) => false,
            None => {
                let step = StepRecord {
                    index: index.unwrap_or(next_index),
                    name: name.to_owned(),
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
            self.updated_at = now;
        }
        changed
    }

    /// Records a cluster state that does not end the flow (`STARTING`, `RUNNING`, …).
    pub fn apply_cluster_state(&mut self, state: &str, now: DateTime<Utc>) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        // RUNNING and WAITING alternate; nothing goes back to STARTING or BOOTSTRAPPING.
        let rank = |s: &str| match s {
            "STARTING" => 0,
            "BOOTSTRAPPING" => 1,
            "RUNNING" | "WAITING" => 2,
            "TERMINATING" => 3,
            _ => 4,
        };
        let late = self
            .cluster_state
            .as_deref()
            .is_some_and(|current| rank(state) < rank(current));
        let mut changed = !late && self.cluster_state.as_deref() != Some(state);
        if changed {
            self.cluster_state = Some(state.to_owned());
        }
        changed |= match state {
            "STARTING" | "BOOTSTRAPPING" => self.advance(FlowStatus::Starting, now),
            "RUNNING" | "WAITING" => self.advance(FlowStatus::Running, now),
            _ => false,
        };
        if changed {
            self.updated_at = now;
        }
        changed
    }

    /// Ends the flow with `outcome` and queues one delivery per callback.
    pub fn finish(
        &mut self,
        outcome: FlowStatus,
        cluster_state: &str,
        failure: Option<FailureCause>,
        now: DateTime<Utc>,
    ) -> bool {
        if !outcome.is_terminal() || !self.advance(outcome, now) {
            return false;
        }
        self.cluster_state = Some(cluster_state.to_owned());
        self.failure = failure;
        self.ended_at = Some(now);
        self.deliveries = (0..self.callbacks.len())
            .map(|i| {
                let delivery = Delivery {
                    outcome,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    last_error: None,
                    delivered_at: None,
                };
                (i.to_string(), delivery)
            })
            .collect();
        true
    }

    /// Whether the flow's cluster may still run (and cost money): the flow is active, or it
    /// ended while the cluster waited (`KeepJobFlowAliveWhenNoSteps`) and EMR has not reported
    /// it terminated since.
    pub fn cluster_may_run(&self) -> bool {
        !self.status.is_terminal()
            || (self.cluster_id.is_some()
                && !matches!(
                    self.cluster_state.as_deref(),
                    Some("TERMINATED" | "TERMINATED_WITH_ERRORS")
                ))
    }

    /// Records that EMR reports the cluster of an ended flow terminated; the flow's status stays.
    pub fn cluster_terminated_after_end(&mut self, cluster_state: &str, now: DateTime<Utc>) -> bool {
        if !self.status.is_terminal() || self.cluster_state.as_deref() == Some(cluster_state) {
            return false;
        }
        self.cluster_state = Some(cluster_state.to_owned());
        self.updated_at = now;
        true
    }

    /// Whether a callback delivery still waits for an attempt.
    pub fn has_pending_deliveries(&self) -> bool {
        self.deliveries
            .values()
            .any(|d| d.status == DeliveryStatus::Pending)
    }

    /// Records a caller's request to terminate. `false` when the cluster cannot be running any
    /// more or the request was recorded before.
    pub fn request_termination(&mut self, reason: Option<String>, now: DateTime<Utc>) -> bool {
        if !self.cluster_may_run() || self.termination.is_some() {
            return false;
        }
        self.termination = Some(TerminationRequest {
            requested_at: now,
            reason,
        });
        self.updated_at = now;
        true
    }

    /// Records one attempt of the delivery `key`: delivered, or failed with `error` (marked
    /// failed for good after [`MAX_DELIVERY_ATTEMPTS`]).
    pub fn record_delivery(&mut self, key: &str, result: Result<(), String>, now: DateTime<Utc>) -> bool {
        let Some(delivery) = self
            .deliveries
            .get_mut(key)
            .filter(|d| d.status == DeliveryStatus::Pending)
        else {
            return false;
        };
        delivery.attempts += 1;
        match result {
            Ok(()) => {
                delivery.status = DeliveryStatus::Delivered;
                delivery.delivered_at = Some(now);
                delivery.last_error = None;
            }
            Err(error) => {
                delivery.last_error = Some(error);
                if delivery.attempts >= MAX_DELIVERY_ATTEMPTS {
                    delivery.status = DeliveryStatus::Failed;
                }
            }
        }
        self.updated_at = now;
        true
    }
}

/// How a cluster's terminal (or waiting) state decides a flow's outcome.
///
/// `cluster_state` is EMR's `ClusterState`; `reason_code` its `StateChangeReason.Code`
/// (`None` or empty when EMR gave none). Returns `None` while the flow should stay active.
/// Unknown states never count as success.
pub fn decide_outcome(
    cluster_state: &str,
    reason_code: Option<&str>,
    steps: &BTreeMap<StepId, StepRecord>,
    termination_requested: bool,
) -> Option<FlowStatus> {
    let all_completed = steps.values().all(|s| s.state == StepState::Completed);
    let any_failed = steps.values().any(|s| s.state.is_failure());
    let reason_code = reason_code.filter(|c| !c.is_empty());
    match cluster_state {
        "WAITING" if all_completed => Some(FlowStatus::Succeeded),
        "WAITING" if any_failed => Some(FlowStatus::Failed),
        "TERMINATED" | "TERMINATED_WITH_ERRORS" => {
            let clean = cluster_state == "TERMINATED"
                && !matches!(
                    reason_code,
                    Some(
                        "STEP_FAILURE"
                            | "INTERNAL_ERROR"
                            | "VALIDATION_ERROR"
                            | "INSTANCE_FAILURE"
                            | "INSTANCE_FLEET_TIMEOUT"
                            | "BOOTSTRAP_FAILURE"
                    )
                );
            if clean && all_completed {
                Some(FlowStatus::Succeeded)
            } else if termination_requested || (clean && reason_code == Some("USER_REQUEST")) {
                Some(FlowStatus::Cancelled)
            } else {
                Some(FlowStatus::Failed)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(states: &[&str]) -> BTreeMap<StepId, StepRecord> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    StepId::parse(&format!("s-{i}")).unwrap(),
                    StepRecord {
                        index: i as u32,
                        name: format!("step {i}"),
                        state: StepState::from(s.to_string()),
                        updated_at: Utc::now(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn status_never_moves_backwards_and_terminal_is_final() {
        assert_eq!(FlowStatus::Pending.predecessors(), vec![]);
        assert_eq!(
            FlowStatus::Running.predecessors(),
            vec![FlowStatus::Pending, FlowStatus::Starting]
        );
        assert_eq!(FlowStatus::Failed.predecessors(), FlowStatus::ACTIVE.to_vec());
        for s in FlowStatus::ALL {
            assert!(!s.predecessors().contains(&s), "{s} may not follow itself");
            assert!(s.predecessors().iter().all(|p| !p.is_terminal()));
        }
    }

    #[test]
    fn step_states_only_move_forward() {
        assert!(StepState::Completed.predecessors().contains(&StepState::Running));
        assert!(!StepState::Running.predecessors().contains(&StepState::Completed));
        assert!(StepState::Failed.predecessors().iter().all(|s| s.rank() < 4));
        assert_eq!(StepState::from("NEW_STATE".to_owned()).rank(), 0);
    }

    #[test]
    fn ids_are_validated() {
        assert!(ClusterId::parse("j-1Y4W9F10RFJO6").is_ok());
        assert!(ClusterId::parse("s-1Y4W9F10RFJO6").is_err());
        assert!(ClusterId::parse("j-").is_err());
        assert!(ClusterId::parse("j-abc").is_err());
        assert!(StepId::parse("s-ZYXWVUTSRQPON").is_ok());
        assert!(FlowId::parse("not-a-ulid").unwrap_err().contains("not-a-ulid"));
        // Overflowing and lower-case spellings are not other names for a flow.
        assert!(FlowId::parse("81M8KAS44QGDYGCRPAA1S0HDSF").is_err());
        assert!(FlowId::parse("ZZZZZZZZZZZZZZZZZZZZZZZZZZ").is_err());
        assert!(FlowId::parse("01m8kas44qgdygcrpaa1s0hdsf").is_err());
        let id = FlowId::generate();
        assert_eq!(FlowId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn outcome_of_a_clean_run_is_success() {
        let s = steps(&["COMPLETED", "COMPLETED"]);
        assert_eq!(
            decide_outcome("TERMINATED", Some("ALL_STEPS_COMPLETED"), &s, false),
            Some(FlowStatus::Succeeded)
        );
        assert_eq!(
            decide_outcome("WAITING", Some(""), &s, false),
            Some(FlowStatus::Succeeded)
        );
    }

    #[test]
    fn outcome_of_a_failed_step_is_failure() {
        let s = steps(&["COMPLETED", "FAILED"]);
        assert_eq!(
            decide_outcome("TERMINATED_WITH_ERRORS", Some("STEP_FAILURE"), &s, false),
            Some(FlowStatus::Failed)
        );
        // A step that failed with ActionOnFailure CONTINUE still fails the flow.
        assert_eq!(
            decide_outcome("TERMINATED", Some("ALL_STEPS_COMPLETED"), &s, false),
            Some(FlowStatus::Failed)
        );
        assert_eq!(
            decide_outcome("WAITING", None, &s, false),
            Some(FlowStatus::Failed)
        );
    }

    #[test]
    fn unfinished_or_unknown_steps_never_count_as_success() {
        let s = steps(&["COMPLETED", "PENDING"]);
        assert_eq!(
            decide_outcome("TERMINATED", Some("ALL_STEPS_COMPLETED"), &s, false),
            Some(FlowStatus::Failed)
        );
        let s = steps(&["SOMETHING_NEW"]);
        assert_eq!(
            decide_outcome("TERMINATED", None, &s, false),
            Some(FlowStatus::Failed)
        );
        assert_eq!(decide_outcome("WAITING", None, &s, false), None);
    }

    #[test]
    fn a_clean_cluster_end_after_a_failed_step_is_reported_as_the_steps_failure() {
        let step = FailedStep {
            id: StepId::parse("s-1").unwrap(),
            name: "load".into(),
            state: StepState::Failed,
            failure_details: None,
        };
        let cause = FailureCause::new(
            Some("ALL_STEPS_COMPLETED"),
            Some("Steps completed"),
            Some(step.clone()),
        );
        assert_eq!(cause.code.as_deref(), Some("STEP_FAILURE"));
        assert_eq!(cause.message.as_deref(), Some("step load (s-1) FAILED"));
        let cause = FailureCause::new(Some("STEP_FAILURE"), Some("Shut down as step failed"), Some(step));
        assert_eq!(cause.message.as_deref(), Some("Shut down as step failed"));
        let cause = FailureCause::new(Some("USER_REQUEST"), Some("Terminated by user request"), None);
        assert_eq!(cause.code.as_deref(), Some("USER_REQUEST"));
    }

    #[test]
    fn termination_on_request_is_cancellation() {
        let s = steps(&["RUNNING"]);
        assert_eq!(
            decide_outcome("TERMINATED", Some("USER_REQUEST"), &s, true),
            Some(FlowStatus::Cancelled)
        );
        assert_eq!(
            decide_outcome("TERMINATED", Some("USER_REQUEST"), &s, false),
            Some(FlowStatus::Cancelled)
        );
    }

    fn record(callbacks: usize) -> FlowRecord {
        let now = Utc::now();
        FlowRecord {
            flow_id: FlowId::generate(),
            flow: "spark-pi".into(),
            definition_version: "1".into(),
            request_digest: String::new(),
            status: FlowStatus::Pending,
            params: serde_json::json!({}),
            callbacks: (0..callbacks)
                .map(|i| CallbackTarget::Lambda(format!("f{i}")))
                .collect(),
            artifacts: BTreeMap::new(),
            cluster_name: "c".into(),
            cluster_id: None,
            cluster_state: None,
            steps: BTreeMap::new(),
            failure: None,
            termination: None,
            deliveries: BTreeMap::new(),
            submitted_at: now,
            updated_at: now,
            ended_at: None,
        }
    }

    fn step_id(s: &str) -> StepId {
        StepId::parse(s).unwrap()
    }

    #[test]
    fn a_started_flow_records_its_cluster_and_steps_once() {
        let mut r = record(0);
        let cluster = ClusterId::parse("j-ABC").unwrap();
        let steps = [ListedStep {
            id: step_id("s-1"),
            name: "one".to_owned(),
            state: StepState::Pending,
        }];
        assert!(r.started(&cluster, &steps, Utc::now()));
        assert_eq!(r.status, FlowStatus::Starting);
        assert_eq!(r.steps[&step_id("s-1")].name, "one");
        assert!(
            !r.started(&cluster, &steps, Utc::now()),
            "only a PENDING flow starts"
        );
    }

    #[test]
    fn step_events_only_move_steps_forward_and_a_running_step_means_a_running_flow() {
        let mut r = record(0);
        r.status = FlowStatus::Starting;
        let now = Utc::now();
        assert!(r.apply_step(&step_id("s-1"), "one", &StepState::Completed, None, now));
        assert!(
            !r.apply_step(&step_id("s-1"), "one", &StepState::Running, None, now),
            "late event"
        );
        assert_eq!(r.steps[&step_id("s-1")].state, StepState::Completed);
        assert!(r.apply_step(&step_id("s-2"), "two", &StepState::Running, None, now));
        assert_eq!(r.steps[&step_id("s-2")].index, 1);
        assert_eq!(r.status, FlowStatus::Running);
    }

    #[test]
    fn the_cluster_state_never_moves_back_to_starting() {
        let mut r = record(0);
        let now = Utc::now();
        assert!(r.apply_cluster_state("RUNNING", now));
        assert!(!r.apply_cluster_state("STARTING", now), "late event");
        assert_eq!(r.cluster_state.as_deref(), Some("RUNNING"));
        assert!(r.apply_cluster_state("WAITING", now));
        assert!(
            r.apply_cluster_state("RUNNING", now),
            "RUNNING and WAITING alternate"
        );
    }

    #[test]
    fn finishing_queues_one_delivery_per_callback_and_is_final() {
        let mut r = record(2);
        r.status = FlowStatus::Running;
        let now = Utc::now();
        assert!(r.finish(FlowStatus::Succeeded, "TERMINATED", None, now));
        assert_eq!(r.deliveries.len(), 2);
        assert!(
            r.deliveries
                .values()
                .all(|d| d.status == DeliveryStatus::Pending && d.outcome == FlowStatus::Succeeded)
        );
        assert!(
            !r.finish(FlowStatus::Failed, "TERMINATED_WITH_ERRORS", None, now),
            "terminal is final"
        );
        assert!(!r.apply_cluster_state("RUNNING", now));
        assert!(!r.apply_step(&step_id("s-9"), "late", &StepState::Failed, None, now));
        assert!(!r.request_termination(None, now));
        assert_eq!(r.status, FlowStatus::Succeeded);
    }

    #[test]
    fn deliveries_record_attempts_until_delivered_or_given_up() {
        let mut r = record(2);
        r.status = FlowStatus::Running;
        let now = Utc::now();
        r.finish(FlowStatus::Failed, "TERMINATED_WITH_ERRORS", None, now);
        assert!(r.record_delivery("0", Ok(()), now));
        assert!(
            !r.record_delivery("0", Ok(()), now),
            "a delivered callback is not delivered again"
        );
        for _ in 0..MAX_DELIVERY_ATTEMPTS {
            assert!(r.record_delivery("1", Err("HTTP 503".into()), now));
        }
        let given_up = &r.deliveries["1"];
        assert_eq!(given_up.status, DeliveryStatus::Failed);
        assert_eq!(given_up.attempts, MAX_DELIVERY_ATTEMPTS);
        assert_eq!(given_up.last_error.as_deref(), Some("HTTP 503"));
        assert!(!r.record_delivery("1", Ok(()), now));
    }

    #[test]
    fn a_refused_launch_fails_the_flow_with_emrs_message() {
        let mut r = record(1);
        assert!(r.launch_failed("ValidationException: bad instance type", Utc::now()));
        assert_eq!(r.status, FlowStatus::Failed);
        assert_eq!(r.failure.as_ref().unwrap().code.as_deref(), Some(LAUNCH_FAILED));
        assert!(r.deliveries.is_empty());
    }

    #[test]
    fn active_cluster_states_keep_the_flow_active() {
        let s = steps(&["RUNNING"]);
        for state in ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"] {
            assert_eq!(decide_outcome(state, None, &s, false), None, "{state}");
        }
    }
}
