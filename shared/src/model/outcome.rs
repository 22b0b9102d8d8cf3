//! The outcome rule: what a cluster's facts mean for its flow. An outcome is a function of the
//! facts (the steps, the cluster's state and state change reason, and whether EMR accepted a
//! termination emr-flows asked for), never of the order events arrived in.
//!
//! The rule as a table, first match wins, is kept once: the README's "Lifecycle" section (its
//! rows are the cases of [`decide_outcome`], each tested below). Steps on a long-running
//! cluster have their own rule, [`decide_steps_outcome`] (the README's "Steps on a long-running
//! cluster" table): only the flow's own steps count, and the cluster is not the flow's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::eks_job_run::EksJobRunState;
use super::job_run::JobRunState;
use super::{ClusterState, FlowStatus, ListedStep, StepFailureDetails, StepId, StepRecord, StepState};

/// Reason codes (`StateChangeReason.Code`) that mean the cluster itself failed (EMR API
/// reference, `ClusterStateChangeReason`); see [`is_error_code`].
pub const ERROR_CODES: [&str; 6] = [
    "STEP_FAILURE",
    "INTERNAL_ERROR",
    "VALIDATION_ERROR",
    "INSTANCE_FAILURE",
    "INSTANCE_FLEET_TIMEOUT",
    "BOOTSTRAP_FAILURE",
];

/// Whether a cluster's state change reason `code` is one of EMR's error codes
/// ([`ERROR_CODES`]): the cluster itself failed. `None`, `ALL_STEPS_COMPLETED`, `USER_REQUEST`
/// and codes EMR may add are not.
pub fn is_error_code(code: Option<&str>) -> bool {
    code.is_some_and(|c| ERROR_CODES.contains(&c))
}

/// Why emr-flows itself asked EMR to terminate a flow's cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TerminationKind {
    /// A caller asked (`terminate`): the flow ends `CANCELLED`.
    Cancel,
    /// The flow outlived its `max_runtime`: it ends `TIMED_OUT`.
    Timeout,
}

/// What EMR says about a cluster at one moment: a cluster state-change event, or
/// DescribeCluster read by the reconcile sweep, with what was fetched alongside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterFacts {
    pub state: ClusterState,
    /// `StateChangeReason.Code`; `None` when EMR gave none (or an empty one).
    pub reason_code: Option<String>,
    pub reason_message: Option<String>,
    /// ListSteps, in job-flow order, when it was fetched (always for a state that may end the
    /// flow).
    pub steps: Option<Vec<ListedStep>>,
    /// DescribeStep's failure details of the first failed step, when fetched.
    pub failure_details: Option<(StepId, StepFailureDetails)>,
    /// DescribeCluster's `NormalizedInstanceHours`, when fetched.
    pub normalized_instance_hours: Option<i32>,
}

impl ClusterFacts {
    /// Facts with only a state and reason (a bare event).
    pub fn new(state: ClusterState, reason_code: Option<String>, reason_message: Option<String>) -> Self {
        Self {
            state,
            reason_code: reason_code.filter(|c| !c.is_empty()),
            reason_message: reason_message.filter(|m| !m.is_empty()),
            steps: None,
            failure_details: None,
            normalized_instance_hours: None,
        }
    }

    /// Whether this state may end a flow, so the steps must be fetched to decide.
    pub fn may_end_flow(&self) -> bool {
        matches!(
            self.state,
            ClusterState::Waiting | ClusterState::Terminated | ClusterState::TerminatedWithErrors
        )
    }
}

/// How a cluster's state decides a flow's outcome (the table in this module's docs).
///
/// `reason_code` is the cluster's `StateChangeReason.Code`; `termination` the kind of a
/// termination emr-flows asked for *and EMR accepted* (a refused request counts for nothing).
/// Returns `None` while the flow should stay active. Unknown states never count as success.
pub fn decide_outcome(
    state: &ClusterState,
    reason_code: Option<&str>,
    steps: &BTreeMap<StepId, StepRecord>,
    termination: Option<TerminationKind>,
) -> Option<FlowStatus> {
    let all_completed = steps.values().all(|s| s.state == StepState::Completed);
    let step_failed = steps.values().any(|s| s.state == StepState::Failed);
    let step_stopped = steps
        .values()
        .any(|s| matches!(s.state, StepState::Cancelled | StepState::Interrupted));
    let reason_code = reason_code.filter(|c| !c.is_empty());
    let cluster_error = *state == ClusterState::TerminatedWithErrors || is_error_code(reason_code);
    let ours = |kind: TerminationKind| match kind {
        TerminationKind::Cancel => FlowStatus::Cancelled,
        TerminationKind::Timeout => FlowStatus::TimedOut,
    };
    match state {
        ClusterState::Waiting => {
            if step_failed {
                Some(FlowStatus::Failed)
            } else if all_completed {
                Some(FlowStatus::Succeeded)
            } else if step_stopped && termination.is_none() {
                Some(FlowStatus::Failed)
            } else {
                None
            }
        }
        ClusterState::Terminated | ClusterState::TerminatedWithErrors => {
            Some(if step_failed || cluster_error {
                FlowStatus::Failed
            } else if all_completed {
                FlowStatus::Succeeded
            } else if let Some(kind) = termination {
                ours(kind)
            } else if reason_code == Some("USER_REQUEST") {
                FlowStatus::Cancelled
            } else {
                FlowStatus::Failed
            })
        }
        _ => None,
    }
}

/// How a step flow's own steps decide its outcome (the README's table for steps on a
/// long-running cluster), first match wins:
///
/// | own steps | cluster | termination by emr-flows | outcome |
/// | --- | --- | --- | --- |
/// | one `FAILED` (whatever its `ActionOnFailure`) | any | any | `FAILED` |
/// | all `COMPLETED` | any | any | `SUCCEEDED` |
/// | one `CANCELLED`/`INTERRUPTED` | any | none | `FAILED` |
/// | all ended, one `CANCELLED`/`INTERRUPTED` | any | accepted | `CANCELLED` (`TIMED_OUT` for `max_runtime`) |
/// | some pending or running (or none recorded) | ended (`cluster_ended`) | any | `FAILED` |
/// | otherwise | | | still active |
///
/// `steps` are the flow's own steps only (never another flow's or an operator's); `WAITING`
/// never ends a step flow (it is not `cluster_ended`). Unknown step states never count as
/// success.
pub fn decide_steps_outcome(
    steps: &BTreeMap<StepId, StepRecord>,
    cluster_ended: bool,
    termination: Option<TerminationKind>,
) -> Option<FlowStatus> {
    let states = || steps.values().map(|s| &s.state);
    let stopped = |s: &StepState| matches!(s, StepState::Cancelled | StepState::Interrupted);
    if states().any(|s| *s == StepState::Failed) {
        return Some(FlowStatus::Failed);
    }
    if !steps.is_empty() && states().all(|s| *s == StepState::Completed) {
        return Some(FlowStatus::Succeeded);
    }
    let all_ended = !steps.is_empty() && states().all(|s| *s == StepState::Completed || stopped(s));
    match termination {
        None if states().any(stopped) => return Some(FlowStatus::Failed),
        Some(TerminationKind::Cancel) if all_ended => return Some(FlowStatus::Cancelled),
        Some(TerminationKind::Timeout) if all_ended => return Some(FlowStatus::TimedOut),
        _ => {}
    }
    cluster_ended.then_some(FlowStatus::Failed)
}

/// How an EMR Serverless job run's state decides its flow's outcome (the README's "EMR
/// Serverless" table, each row a case tested below):
///
/// | run state | outcome |
/// | --- | --- |
/// | `SUCCESS` | `SUCCEEDED` (a terminate of ours that came too late does not undo it) |
/// | `FAILED` | `FAILED` |
/// | `CANCELLED`, our accepted terminate | `CANCELLED` |
/// | `CANCELLED`, our accepted `max_runtime` termination | `TIMED_OUT` |
/// | `CANCELLED`, the run's `executionTimeoutMinutes` passed | `TIMED_OUT` |
/// | `CANCELLED`, otherwise (someone else cancelled it) | `CANCELLED` |
/// | anything else, known or not (`QUEUED`, `CANCELLING`, …) | none: the flow stays active |
///
/// `termination` is the kind of a termination emr-flows asked for *and EMR Serverless
/// accepted*; `execution_timeout_elapsed` whether the run had reached its own execution
/// timeout (EMR Serverless reports a timeout as `CANCELLED`: only the figures tell them apart).
pub fn decide_job_run_outcome(
    state: &JobRunState,
    termination: Option<TerminationKind>,
    execution_timeout_elapsed: bool,
) -> Option<FlowStatus> {
    match state {
        JobRunState::Success => Some(FlowStatus::Succeeded),
        JobRunState::Failed => Some(FlowStatus::Failed),
        JobRunState::Cancelled => Some(match termination {
            Some(TerminationKind::Cancel) => FlowStatus::Cancelled,
            Some(TerminationKind::Timeout) => FlowStatus::TimedOut,
            None if execution_timeout_elapsed => FlowStatus::TimedOut,
            None => FlowStatus::Cancelled,
        }),
        _ => None,
    }
}

/// How an EMR on EKS job run's state decides its flow's outcome (the README's "EMR on EKS"
/// table, each row a case tested below):
///
/// | run state | outcome |
/// | --- | --- |
/// | `COMPLETED` | `SUCCEEDED` (a terminate of ours that came too late does not undo it) |
/// | `FAILED` | `FAILED` |
/// | `CANCELLED`, our accepted terminate | `CANCELLED` |
/// | `CANCELLED`, our accepted `max_runtime` termination | `TIMED_OUT` |
/// | `CANCELLED`, otherwise (someone else cancelled it) | `CANCELLED` |
/// | anything else, known or not (`SUBMITTED`, `CANCEL_PENDING`, …) | none: the flow stays active |
///
/// `termination` is the kind of a termination emr-flows asked for *and EMR on EKS accepted*.
/// A run on EKS has no execution timeout of its own (a job stuck 15 minutes in `SUBMITTED` ends
/// `FAILED`, not `CANCELLED`).
pub fn decide_eks_job_run_outcome(
    state: &EksJobRunState,
    termination: Option<TerminationKind>,
) -> Option<FlowStatus> {
    match state {
        EksJobRunState::Completed => Some(FlowStatus::Succeeded),
        EksJobRunState::Failed => Some(FlowStatus::Failed),
        EksJobRunState::Cancelled => Some(match termination {
            Some(TerminationKind::Timeout) => FlowStatus::TimedOut,
            Some(TerminationKind::Cancel) | None => FlowStatus::Cancelled,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod eks_job_run_tests {
    use super::*;
    use FlowStatus::*;
    use TerminationKind::*;

    fn decide(state: &str, t: Option<TerminationKind>) -> Option<FlowStatus> {
        decide_eks_job_run_outcome(&EksJobRunState::from(state), t)
    }

    #[test]
    fn completed_is_success_and_failed_is_failure_whatever_we_asked() {
        for t in [None, Some(Cancel), Some(Timeout)] {
            assert_eq!(decide("COMPLETED", t), Some(Succeeded), "{t:?}");
            assert_eq!(decide("FAILED", t), Some(Failed), "{t:?}");
        }
    }

    #[test]
    fn a_cancelled_run_is_told_apart_by_the_record() {
        assert_eq!(decide("CANCELLED", Some(Cancel)), Some(Cancelled));
        assert_eq!(decide("CANCELLED", Some(Timeout)), Some(TimedOut));
        assert_eq!(decide("CANCELLED", None), Some(Cancelled));
    }

    #[test]
    fn active_and_unknown_states_never_end_a_flow() {
        // EMR Serverless' words are unknown here: `SUCCESS` is no EKS success.
        for state in [
            "PENDING",
            "SUBMITTED",
            "RUNNING",
            "CANCEL_PENDING",
            "SUCCESS",
            "SUCCEEDED",
            "CANCELLING",
            "",
        ] {
            for t in [None, Some(Cancel), Some(Timeout)] {
                assert_eq!(decide(state, t), None, "{state} {t:?}");
            }
        }
    }
}

#[cfg(test)]
mod job_run_tests {
    use super::*;
    use FlowStatus::*;
    use TerminationKind::*;

    fn decide(state: &str, t: Option<TerminationKind>, timeout: bool) -> Option<FlowStatus> {
        decide_job_run_outcome(&JobRunState::from(state), t, timeout)
    }

    #[test]
    fn success_is_success_whatever_we_asked() {
        for t in [None, Some(Cancel), Some(Timeout)] {
            assert_eq!(decide("SUCCESS", t, false), Some(Succeeded), "{t:?}");
            assert_eq!(decide("SUCCESS", t, true), Some(Succeeded), "{t:?}");
        }
    }

    #[test]
    fn failed_is_failure_whatever_we_asked() {
        for t in [None, Some(Cancel), Some(Timeout)] {
            assert_eq!(decide("FAILED", t, false), Some(Failed), "{t:?}");
        }
    }

    #[test]
    fn a_cancelled_run_is_told_apart_by_the_record_and_its_timeout() {
        assert_eq!(decide("CANCELLED", Some(Cancel), false), Some(Cancelled));
        assert_eq!(decide("CANCELLED", Some(Cancel), true), Some(Cancelled));
        assert_eq!(decide("CANCELLED", Some(Timeout), false), Some(TimedOut));
        assert_eq!(decide("CANCELLED", None, true), Some(TimedOut));
        assert_eq!(decide("CANCELLED", None, false), Some(Cancelled));
    }

    #[test]
    fn active_and_unknown_states_never_end_a_flow() {
        for state in [
            "SUBMITTED",
            "PENDING",
            "SCHEDULED",
            "QUEUED",
            "RUNNING",
            "CANCELLING",
            "SUCCEEDED",
            "COMPLETED",
            "",
        ] {
            for t in [None, Some(Cancel), Some(Timeout)] {
                assert_eq!(decide(state, t, true), None, "{state} {t:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

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

    fn decide(state: &str, code: Option<&str>, s: &[&str], t: Option<TerminationKind>) -> Option<FlowStatus> {
        decide_outcome(&ClusterState::from(state), code, &steps(s), t)
    }

    use FlowStatus::*;
    use TerminationKind::*;

    #[test]
    fn a_clean_run_is_success() {
        assert_eq!(
            decide(
                "TERMINATED",
                Some("ALL_STEPS_COMPLETED"),
                &["COMPLETED", "COMPLETED"],
                None
            ),
            Some(Succeeded)
        );
        assert_eq!(decide("WAITING", Some(""), &["COMPLETED"], None), Some(Succeeded));
        // Our own terminate after every step completed does not undo the success.
        assert_eq!(
            decide("TERMINATED", Some("USER_REQUEST"), &["COMPLETED"], Some(Cancel)),
            Some(Succeeded)
        );
    }

    #[test]
    fn a_failed_step_is_failure_whatever_ended_the_cluster() {
        for (state, code) in [
            ("TERMINATED_WITH_ERRORS", Some("STEP_FAILURE")),
            ("TERMINATED", Some("ALL_STEPS_COMPLETED")),
            ("TERMINATED", Some("USER_REQUEST")),
            ("TERMINATED", None),
            ("WAITING", None),
        ] {
            assert_eq!(
                decide(state, code, &["COMPLETED", "FAILED"], None),
                Some(Failed),
                "{state} {code:?}"
            );
            assert_eq!(
                decide(state, code, &["FAILED", "CANCELLED"], Some(Cancel)),
                Some(Failed),
                "{state} {code:?} ours"
            );
        }
    }

    #[test]
    fn a_cluster_error_is_failure_even_after_every_step_completed() {
        for code in ERROR_CODES {
            assert_eq!(
                decide("TERMINATED", Some(code), &["COMPLETED"], None),
                Some(Failed),
                "{code}"
            );
        }
        assert_eq!(
            decide("TERMINATED_WITH_ERRORS", None, &["COMPLETED"], None),
            Some(Failed)
        );
        assert_eq!(
            decide("TERMINATED", Some("BOOTSTRAP_FAILURE"), &["COMPLETED"], None),
            Some(Failed)
        );
        // A refused terminate counts for nothing: an instance failure afterwards is a failure.
        assert_eq!(
            decide(
                "TERMINATED_WITH_ERRORS",
                Some("INSTANCE_FAILURE"),
                &["RUNNING"],
                None
            ),
            Some(Failed)
        );
        assert_eq!(
            decide(
                "TERMINATED_WITH_ERRORS",
                Some("INSTANCE_FAILURE"),
                &["RUNNING"],
                Some(Cancel)
            ),
            Some(Failed)
        );
    }

    #[test]
    fn an_accepted_termination_of_ours_cancels_or_times_out() {
        assert_eq!(
            decide(
                "TERMINATED",
                Some("USER_REQUEST"),
                &["COMPLETED", "CANCELLED"],
                Some(Cancel)
            ),
            Some(Cancelled)
        );
        assert_eq!(
            decide(
                "TERMINATED",
                Some("USER_REQUEST"),
                &["INTERRUPTED"],
                Some(Timeout)
            ),
            Some(TimedOut)
        );
        assert_eq!(
            decide("TERMINATED", Some("USER_REQUEST"), &["RUNNING"], Some(Timeout)),
            Some(TimedOut)
        );
        // Someone else's termination, no step failed: cancelled.
        assert_eq!(
            decide("TERMINATED", Some("USER_REQUEST"), &["CANCELLED"], None),
            Some(Cancelled)
        );
    }

    #[test]
    fn unfinished_or_unknown_steps_never_count_as_success() {
        assert_eq!(
            decide(
                "TERMINATED",
                Some("ALL_STEPS_COMPLETED"),
                &["COMPLETED", "PENDING"],
                None
            ),
            Some(Failed)
        );
        assert_eq!(decide("TERMINATED", None, &["SOMETHING_NEW"], None), Some(Failed));
        assert_eq!(decide("WAITING", None, &["SOMETHING_NEW"], None), None);
        assert_eq!(decide("WAITING", None, &["COMPLETED", "RUNNING"], None), None);
        assert_eq!(decide("SOMETHING_NEW", None, &["COMPLETED"], None), None);
    }

    #[test]
    fn a_waiting_cluster_with_a_stopped_step_fails_unless_we_are_terminating_it() {
        assert_eq!(
            decide("WAITING", None, &["COMPLETED", "CANCELLED"], None),
            Some(Failed)
        );
        assert_eq!(decide("WAITING", None, &["INTERRUPTED"], None), Some(Failed));
        assert_eq!(decide("WAITING", None, &["CANCELLED"], Some(Cancel)), None);
    }

    #[test]
    fn active_cluster_states_keep_the_flow_active() {
        for state in ["STARTING", "BOOTSTRAPPING", "RUNNING", "TERMINATING", "CREATING"] {
            assert_eq!(
                decide(state, Some("STEP_FAILURE"), &["FAILED"], None),
                None,
                "{state}"
            );
        }
    }

    #[test]
    fn only_waiting_and_ended_states_may_end_a_flow() {
        for (state, ends) in [
            ("STARTING", false),
            ("BOOTSTRAPPING", false),
            ("RUNNING", false),
            ("TERMINATING", false),
            ("CREATING", false),
            ("WAITING", true),
            ("TERMINATED", true),
            ("TERMINATED_WITH_ERRORS", true),
        ] {
            assert_eq!(
                ClusterFacts::new(state.into(), None, None).may_end_flow(),
                ends,
                "{state}"
            );
        }
        let facts = ClusterFacts::new("TERMINATED".into(), Some(String::new()), Some(String::new()));
        assert_eq!((facts.reason_code, facts.reason_message), (None, None));
    }

    fn decide_steps(s: &[&str], ended: bool, t: Option<TerminationKind>) -> Option<FlowStatus> {
        decide_steps_outcome(&steps(s), ended, t)
    }

    #[test]
    fn a_step_flow_is_decided_by_its_own_steps_only() {
        // Every row of the table, first match wins.
        assert_eq!(
            decide_steps(&["COMPLETED", "FAILED", "PENDING"], false, None),
            Some(Failed)
        );
        assert_eq!(
            decide_steps(&["FAILED", "CANCELLED"], false, Some(Cancel)),
            Some(Failed)
        );
        assert_eq!(
            decide_steps(&["COMPLETED", "COMPLETED"], false, None),
            Some(Succeeded)
        );
        assert_eq!(decide_steps(&["COMPLETED"], true, Some(Cancel)), Some(Succeeded));
        assert_eq!(
            decide_steps(&["COMPLETED", "CANCELLED"], false, None),
            Some(Failed)
        );
        assert_eq!(
            decide_steps(&["INTERRUPTED", "PENDING"], false, None),
            Some(Failed)
        );
        assert_eq!(
            decide_steps(&["COMPLETED", "CANCELLED"], false, Some(Cancel)),
            Some(Cancelled)
        );
        assert_eq!(
            decide_steps(&["CANCELLED", "CANCELLED"], false, Some(Timeout)),
            Some(TimedOut)
        );
        assert_eq!(decide_steps(&["RUNNING", "PENDING"], true, None), Some(Failed));
        assert_eq!(
            decide_steps(&["COMPLETED", "PENDING"], true, Some(Cancel)),
            Some(Failed)
        );
        assert_eq!(decide_steps(&[], true, None), Some(Failed));
        // Still active: steps to come, a cancellation not yet carried out, a waiting cluster.
        assert_eq!(decide_steps(&["COMPLETED", "RUNNING"], false, None), None);
        assert_eq!(decide_steps(&["CANCELLED", "RUNNING"], false, Some(Cancel)), None);
        assert_eq!(decide_steps(&["CANCEL_PENDING"], false, Some(Cancel)), None);
        assert_eq!(decide_steps(&[], false, None), None);
        // An unknown state never counts as success.
        assert_eq!(decide_steps(&["COMPLETED", "SUPERSEDED"], false, None), None);
        assert_eq!(
            decide_steps(&["COMPLETED", "SUPERSEDED"], true, None),
            Some(Failed)
        );
    }
}
