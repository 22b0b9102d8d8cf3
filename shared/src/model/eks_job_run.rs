//! EMR on EKS job runs in the model: their ids, states and the facts the service gives about
//! one (an event confirmed by DescribeJobRun, or DescribeJobRun read by the sweep). Pure, like
//! the rest of [`crate::model`]; the outcome a run's facts decide is
//! [`crate::model::outcome::decide_eks_job_run_outcome`].
//!
//! Source of the names and shapes: the EMR on EKS (`emr-containers`) API reference (`JobRun`,
//! `JobRunState`, `FailureReason`, `RetryPolicyExecution`) and its samples in `events/real/`.
//! No body of an `aws.emr-containers` event is published: only their detail types and ids.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// EMR on EKS' ids: 1 to 64 lower-case letters or digits (virtual clusters have 25, job runs
/// 19; the API's `[0-9a-z]+` with its length limits).
fn eks_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

checked_id!(
    /// An EMR on EKS virtual cluster id (`kfo3ayx4dkhpbo3bd5rd3a8mq`).
    VirtualClusterId,
    "an EMR on EKS virtual cluster id",
    "1 to 64 of [0-9a-z]",
    eks_id
);
checked_id!(
    /// An EMR on EKS job run id (`00000002vhh0p0q9jbl`).
    EksJobRunId,
    "an EMR on EKS job run id",
    "1 to 64 of [0-9a-z]",
    eks_id
);

/// An EMR on EKS job run state (`JobRunState`). A state the service adds later is kept as
/// `Other`: it never counts as success and never ends a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EksJobRunState {
    Pending,
    Submitted,
    Running,
    Completed,
    Failed,
    CancelPending,
    Cancelled,
    Other(String),
}

impl EksJobRunState {
    /// EMR on EKS' name for the state.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "PENDING",
            Self::Submitted => "SUBMITTED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::CancelPending => "CANCEL_PENDING",
            Self::Cancelled => "CANCELLED",
            Self::Other(s) => s,
        }
    }

    /// How far along a run is; unknown states rank lowest, the three ends highest.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Other(_) => 0,
            Self::Pending => 1,
            Self::Submitted => 2,
            Self::Running => 3,
            Self::CancelPending => 4,
            Self::Completed | Self::Failed | Self::Cancelled => 5,
        }
    }

    /// `COMPLETED`, `FAILED` or `CANCELLED`: the run is over.
    pub fn is_ended(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl From<String> for EksJobRunState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "PENDING" => Self::Pending,
            "SUBMITTED" => Self::Submitted,
            "RUNNING" => Self::Running,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            "CANCEL_PENDING" => Self::CancelPending,
            "CANCELLED" => Self::Cancelled,
            _ => Self::Other(s),
        }
    }
}

impl From<&str> for EksJobRunState {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl From<EksJobRunState> for String {
    fn from(s: EksJobRunState) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Display for EksJobRunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What EMR on EKS says about a job run at one moment: an event (its state, when it carries
/// one) or DescribeJobRun. Every member may be unknown.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EksJobRunFacts {
    pub state: Option<EksJobRunState>,
    /// `retryPolicyExecution.currentAttemptCount` (1 for a run without retries).
    pub attempt: Option<u32>,
    /// `failureReason`: `INTERNAL_ERROR`, `USER_ERROR`, `VALIDATION_ERROR`,
    /// `CLUSTER_UNAVAILABLE` (kept as the service writes it).
    pub failure_reason: Option<String>,
    /// `stateDetails` ("JobRun completed successfully. It ran for 41 Seconds").
    pub state_details: Option<String>,
    /// When the run was created and when it finished (DescribeJobRun's `createdAt`,
    /// `finishedAt`).
    pub created_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl EksJobRunFacts {
    /// Facts with only a state.
    pub fn state(state: EksJobRunState) -> Self {
        Self {
            state: Some(state),
            ..Self::default()
        }
    }

    /// What an event (`self`) and DescribeJobRun (`described`, read when the event arrived) say
    /// together: the state further along, the event's on a tie (an end is final, so a later
    /// DescribeJobRun never contradicts an event's end, and a late event never undoes
    /// DescribeJobRun's), the later attempt, and DescribeJobRun's details and times.
    pub fn confirmed_by(self, described: EksJobRunFacts) -> EksJobRunFacts {
        let state = match (self.state, described.state) {
            (Some(event), Some(now)) => Some(if event.rank() >= now.rank() { event } else { now }),
            (event, now) => event.or(now),
        };
        EksJobRunFacts {
            state,
            attempt: self.attempt.max(described.attempt),
            ..described
        }
    }

    /// A failed run's details as one message: `failureReason: stateDetails`, either alone, or
    /// `None` when the service gave neither.
    pub fn failure_message(&self) -> Option<String> {
        let details = self.state_details.as_deref().filter(|d| !d.trim().is_empty());
        match (self.failure_reason.as_deref().filter(|r| !r.is_empty()), details) {
            (Some(reason), Some(details)) => Some(format!("{reason}: {details}")),
            (Some(only), None) | (None, Some(only)) => Some(only.to_owned()),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_themselves_and_unknown_ones_are_kept() {
        let words = [
            "PENDING",
            "SUBMITTED",
            "RUNNING",
            "COMPLETED",
            "FAILED",
            "CANCEL_PENDING",
            "CANCELLED",
        ];
        for word in words {
            let state = EksJobRunState::from(word);
            assert!(!matches!(state, EksJobRunState::Other(_)), "{word}");
            assert_eq!(state.as_str(), word);
            assert_eq!(serde_json::to_value(&state).unwrap(), word);
        }
        let ended: Vec<_> = words
            .into_iter()
            .filter(|s| EksJobRunState::from(*s).is_ended())
            .collect();
        assert_eq!(ended, ["COMPLETED", "FAILED", "CANCELLED"]);
        // EMR Serverless' success word is no EKS state: unknown, never an end.
        let other = EksJobRunState::from("SUCCESS");
        assert_eq!(other, EksJobRunState::Other("SUCCESS".into()));
        assert!(!other.is_ended());
        assert_eq!(other.rank(), 0);
        let order = ["PENDING", "SUBMITTED", "RUNNING", "CANCEL_PENDING", "CANCELLED"];
        let ranks: Vec<u8> = order.iter().map(|s| EksJobRunState::from(*s).rank()).collect();
        assert!(
            ranks.windows(2).all(|w| w[0] < w[1]),
            "a run moves forward: {ranks:?}"
        );
    }

    #[test]
    fn ids_are_lower_case_letters_and_digits() {
        assert!(VirtualClusterId::parse("kfo3ayx4dkhpbo3bd5rd3a8mq").is_ok());
        assert!(EksJobRunId::parse("00000002vhh0p0q9jbl").is_ok());
        assert!(
            EksJobRunId::parse("0000000-X")
                .unwrap_err()
                .contains("EMR on EKS job run id")
        );
        assert!(VirtualClusterId::parse("").is_err());
        assert!(VirtualClusterId::parse(&"a".repeat(65)).is_err());
    }

    fn facts(state: Option<&str>, attempt: Option<u32>) -> EksJobRunFacts {
        EksJobRunFacts {
            state: state.map(EksJobRunState::from),
            attempt,
            ..EksJobRunFacts::default()
        }
    }

    #[test]
    fn an_event_confirmed_keeps_the_state_further_along_the_later_attempt_and_describe_job_runs_details() {
        let described = EksJobRunFacts {
            failure_reason: Some("USER_ERROR".into()),
            ..facts(Some("RUNNING"), Some(1))
        };
        let m = facts(Some("FAILED"), None).confirmed_by(described);
        assert_eq!(m.state, Some(EksJobRunState::Failed), "an event's end stands");
        assert_eq!(m.failure_reason.as_deref(), Some("USER_ERROR"));
        assert_eq!(m.attempt, Some(1));
        let m = facts(Some("RUNNING"), None).confirmed_by(facts(Some("CANCELLED"), None));
        assert_eq!(
            m.state,
            Some(EksJobRunState::Cancelled),
            "a late event undoes nothing"
        );
        let m = facts(Some("COMPLETED"), None).confirmed_by(facts(Some("CANCELLED"), None));
        assert_eq!(m.state, Some(EksJobRunState::Completed), "on a tie, the event's");
        let m = facts(None, Some(2)).confirmed_by(facts(Some("RUNNING"), Some(1)));
        assert_eq!((m.state, m.attempt), (Some(EksJobRunState::Running), Some(2)));
        let m = facts(Some("SOMETHING_NEW"), None).confirmed_by(facts(None, None));
        assert_eq!(m.state, Some(EksJobRunState::Other("SOMETHING_NEW".into())));
    }

    #[test]
    fn a_failure_message_joins_the_reason_and_the_details() {
        let facts = |reason: Option<&str>, details: Option<&str>| EksJobRunFacts {
            failure_reason: reason.map(str::to_owned),
            state_details: details.map(str::to_owned),
            ..EksJobRunFacts::state(EksJobRunState::Failed)
        };
        assert_eq!(
            facts(
                Some("USER_ERROR"),
                Some("Cluster X does not have sufficient resources.")
            )
            .failure_message()
            .as_deref(),
            Some("USER_ERROR: Cluster X does not have sufficient resources.")
        );
        assert_eq!(
            facts(Some("INTERNAL_ERROR"), Some(" "))
                .failure_message()
                .as_deref(),
            Some("INTERNAL_ERROR")
        );
        assert_eq!(
            facts(None, Some("gone")).failure_message().as_deref(),
            Some("gone")
        );
        assert_eq!(facts(Some(""), None).failure_message(), None);
    }
}
