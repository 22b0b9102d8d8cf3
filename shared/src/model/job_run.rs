//! EMR Serverless job runs in the model: their ids, states, resource figures and the facts the
//! service gives about one (an event, or GetJobRun read by the sweep). Pure, like the rest of
//! [`crate::model`]; the outcome a job run's facts decide is
//! [`crate::model::outcome::decide_job_run_outcome`].
//!
//! Source of the names and shapes: the EMR Serverless API reference (`JobRun`, `JobRunState`,
//! `ResourceUtilization`) and the EventBridge events of "Automating EMR Serverless with Amazon
//! EventBridge" (samples in `events/real/`).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// EMR Serverless' ids: 1 to 64 lower-case letters or digits (the API's `[0-9a-z]+` with its
/// length limits).
fn serverless_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

checked_id!(
    /// An EMR Serverless application id (`00f1982r1uukb925`).
    ApplicationId,
    "an EMR Serverless application id",
    "1 to 64 of [0-9a-z]",
    serverless_id
);
checked_id!(
    /// An EMR Serverless job run id (`00f1cbn5g4bb0c01`).
    JobRunId,
    "an EMR Serverless job run id",
    "1 to 64 of [0-9a-z]",
    serverless_id
);

/// An EMR Serverless job run state (`JobRunState`). `QUEUED` is newer than older SDKs; a state
/// the service adds later is kept as `Other`: it never counts as success and never ends a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum JobRunState {
    Submitted,
    Pending,
    Scheduled,
    Queued,
    Running,
    Success,
    Failed,
    Cancelling,
    Cancelled,
    Other(String),
}

impl JobRunState {
    /// EMR Serverless' name for the state.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Pending => "PENDING",
            Self::Scheduled => "SCHEDULED",
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
            Self::Cancelling => "CANCELLING",
            Self::Cancelled => "CANCELLED",
            Self::Other(s) => s,
        }
    }

    /// How far along a run's attempt is; unknown states rank lowest, the three ends highest.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Other(_) => 0,
            Self::Submitted => 1,
            Self::Pending | Self::Queued => 2,
            Self::Scheduled => 3,
            Self::Running => 4,
            Self::Cancelling => 5,
            Self::Success | Self::Failed | Self::Cancelled => 6,
        }
    }

    /// `SUCCESS`, `FAILED` or `CANCELLED`: the run is over and costs nothing more.
    pub fn is_ended(&self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::Cancelled)
    }
}

impl From<String> for JobRunState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "SUBMITTED" => Self::Submitted,
            "PENDING" => Self::Pending,
            "SCHEDULED" => Self::Scheduled,
            "QUEUED" => Self::Queued,
            "RUNNING" => Self::Running,
            "SUCCESS" => Self::Success,
            "FAILED" => Self::Failed,
            "CANCELLING" => Self::Cancelling,
            "CANCELLED" => Self::Cancelled,
            _ => Self::Other(s),
        }
    }
}

impl From<&str> for JobRunState {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl From<JobRunState> for String {
    fn from(s: JobRunState) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Display for JobRunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resources as EMR Serverless counts them (`ResourceUtilization`): vCPU-hours, memory
/// GB-hours and storage GB-hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceUtilization {
    #[serde(rename = "vCPUHour")]
    pub vcpu_hour: f64,
    #[serde(rename = "memoryGBHour")]
    pub memory_gb_hour: f64,
    #[serde(rename = "storageGBHour")]
    pub storage_gb_hour: f64,
}

/// What EMR Serverless says about a job run at one moment: a state-change event, a retry
/// event, GetJobRun read by the sweep or when an ending needs its details, or the final
/// resource utilization event. Every member but `state` may be unknown.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobRunFacts {
    /// The run's state; `None` for an event that carries none (a retry, a utilization update).
    pub state: Option<JobRunState>,
    /// The attempt the facts are about (1 for a run without retries); `None` when not given.
    pub attempt: Option<u32>,
    /// GetJobRun's `stateDetails` (events never carry it).
    pub state_details: Option<String>,
    /// Billed resources (GetJobRun's `billedResourceUtilization`, or the final utilization
    /// event's `totalBilledResourceUtilization`).
    pub billed: Option<ResourceUtilization>,
    /// Whether `billed` is final: the utilization event with `resourceUtilizationFinal: true`
    /// (GetJobRun's figure stands in until it arrives).
    pub billed_final: bool,
    /// The run's `executionTimeoutMinutes`, when GetJobRun gave it.
    pub execution_timeout_minutes: Option<u64>,
    /// When the run was created and last updated, when known (GetJobRun, the event).
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl JobRunFacts {
    /// Facts with only a state (a bare state-change event).
    pub fn state(state: JobRunState) -> Self {
        Self {
            state: Some(state),
            ..Self::default()
        }
    }

    /// Whether the run's execution timeout (`executionTimeoutMinutes`, 0 = none) had passed
    /// when it ended: EMR Serverless reports a run it stopped for its timeout as `CANCELLED`,
    /// and only the times tell the two apart. `false` when the figures are unknown.
    pub fn execution_timeout_elapsed(&self) -> bool {
        match (self.execution_timeout_minutes, self.created_at, self.updated_at) {
            (Some(minutes), Some(created), Some(updated)) if minutes > 0 => {
                updated - created >= chrono::Duration::minutes(minutes as i64)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_themselves_and_unknown_ones_are_kept() {
        for word in [
            "SUBMITTED",
            "PENDING",
            "SCHEDULED",
            "QUEUED",
            "RUNNING",
            "SUCCESS",
            "FAILED",
            "CANCELLING",
            "CANCELLED",
        ] {
            let state = JobRunState::from(word);
            assert!(!matches!(state, JobRunState::Other(_)), "{word}");
            assert_eq!(state.as_str(), word);
            assert_eq!(serde_json::to_value(&state).unwrap(), word);
        }
        let new = JobRunState::from("HIBERNATING");
        assert_eq!(new, JobRunState::Other("HIBERNATING".into()));
        assert_eq!(new.rank(), 0);
        assert!(!new.is_ended());
        let ended: Vec<_> = [
            "RUNNING",
            "SUCCESS",
            "FAILED",
            "CANCELLING",
            "CANCELLED",
            "QUEUED",
        ]
        .into_iter()
        .filter(|s| JobRunState::from(*s).is_ended())
        .collect();
        assert_eq!(ended, ["SUCCESS", "FAILED", "CANCELLED"]);
        assert!(JobRunState::Queued.rank() < JobRunState::Running.rank());
    }

    #[test]
    fn ids_are_lower_case_letters_and_digits() {
        assert!(ApplicationId::parse("00f1982r1uukb925").is_ok());
        assert!(JobRunId::parse("00f1cbn5g4bb0c01").is_ok());
        assert!(JobRunId::parse("00F1").unwrap_err().contains("00F1"));
        assert!(JobRunId::parse("").is_err());
        assert!(ApplicationId::parse(&"a".repeat(65)).is_err());
        assert!(serde_json::from_value::<JobRunId>("j-1".into()).is_err());
    }

    #[test]
    fn a_run_past_its_execution_timeout_is_told_by_its_times() {
        let created = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let facts = |minutes, ran: i64| JobRunFacts {
            execution_timeout_minutes: Some(minutes),
            created_at: Some(created),
            updated_at: Some(created + chrono::Duration::minutes(ran)),
            ..JobRunFacts::state(JobRunState::Cancelled)
        };
        assert!(facts(30, 30).execution_timeout_elapsed());
        assert!(facts(30, 31).execution_timeout_elapsed());
        assert!(!facts(30, 29).execution_timeout_elapsed());
        assert!(!facts(0, 10_000).execution_timeout_elapsed(), "0: no timeout");
        assert!(!JobRunFacts::state(JobRunState::Cancelled).execution_timeout_elapsed());
    }
}
