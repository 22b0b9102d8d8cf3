//! What a failure is and how the record describes it: the cluster's reason and the step to
//! blame, DescribeStep's failure details and the probable cause (the end of the step's
//! `stderr`), fetched again after the end while EMR catches up.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::outcome::is_error_code;
use super::super::{FlowStatus, StepId, StepState, bounded};
use super::job_runs::{JOB_RUN_FAILED, NO_FAILURE_DETAILS, NO_STATE_DETAILS};
use super::{CAUSE_WINDOW, FlowRecord, MAX_MESSAGE_BYTES, MAX_PROBABLE_CAUSE_BYTES};

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

impl StepFailureDetails {
    /// Whether EMR has said anything yet (its log analysis lags the step's end by minutes).
    pub fn is_empty(&self) -> bool {
        self.reason.is_none() && self.message.is_none() && self.log_file.is_none()
    }
}

/// The step that failed a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedStep {
    pub id: StepId,
    pub name: String,
    pub state: StepState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_details: Option<StepFailureDetails>,
    /// The last lines (at most [`MAX_PROBABLE_CAUSE_BYTES`]) of the step's `stderr.gz` under the
    /// cluster's `LogUri`, once EMR has pushed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probable_cause: Option<String>,
}

/// Why a flow did not succeed: the cluster's state change reason and the first failed step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureCause {
    /// The cluster's `StateChangeReason.Code` (e.g. `STEP_FAILURE`), or one of ours
    /// ([`LAUNCH_FAILED`], [`LAUNCH_LOST`], [`MAX_RUNTIME_EXCEEDED`], [`STEPS_INCOMPLETE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The cluster's `StateChangeReason.Message`, or ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<FailedStep>,
    /// A job run's probable cause: the last lines (at most [`MAX_PROBABLE_CAUSE_BYTES`]) of its
    /// driver's `stderr.gz` (a cluster's is its failed step's, in `failed_step`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probable_cause: Option<String>,
    /// Where a job run's probable cause was read (`s3://…/SPARK_DRIVER/stderr.gz`), or why
    /// there is none to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_location: Option<String>,
}

impl FailureCause {
    /// The cause from the cluster's state change reason and the step to blame. When a step is
    /// blamed and the cluster's own code is no error (a clean end after `ActionOnFailure:
    /// CONTINUE`, someone terminating a cluster left waiting, no code), the cause is that step
    /// (`STEP_FAILURE`, "step NAME (ID) STATE"); an error code of EMR's (`STEP_FAILURE`,
    /// `INSTANCE_FAILURE`, …) keeps EMR's code and message.
    pub fn new(code: Option<&str>, message: Option<&str>, failed_step: Option<FailedStep>) -> Self {
        let emr_error = is_error_code(code);
        let (code, message) = match &failed_step {
            Some(step) if !emr_error => (
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
            message: message.map(|m| bounded(&m, MAX_MESSAGE_BYTES)),
            failed_step,
            ..Self::default()
        }
    }

    pub(super) fn ours(code: &str, message: String) -> Self {
        Self {
            code: Some(code.to_owned()),
            message: Some(bounded(&message, MAX_MESSAGE_BYTES)),
            ..Self::default()
        }
    }
}

impl FlowRecord {
    /// Whether the failed step's details or log are still missing, within [`CAUSE_WINDOW`] of
    /// the end.
    /// A failed job run's, likewise: its driver log ([`FlowRecord::job_run_cause_pending`]).
    pub fn cause_pending(&self, now: DateTime<Utc>) -> bool {
        if self.any_job_run().is_some() {
            return self.job_run_cause_pending(now);
        }
        let missing = self
            .failure
            .as_ref()
            .and_then(|f| f.failed_step.as_ref())
            .is_some_and(|s| {
                s.failure_details
                    .as_ref()
                    .is_none_or(StepFailureDetails::is_empty)
                    || s.probable_cause.is_none()
            });
        missing && self.cluster_id.is_some() && self.ended_at.is_some_and(|end| now < end + CAUSE_WINDOW)
    }

    /// Adds what was fetched about the failed step `step_id`: EMR's failure details and the end
    /// of its `stderr` (bounded). Keeps what is there when a fetch found nothing.
    pub fn add_cause(
        &mut self,
        step_id: &StepId,
        details: Option<StepFailureDetails>,
        probable_cause: Option<String>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(step) = (self.failure.as_mut())
            .and_then(|f| f.failed_step.as_mut())
            .filter(|s| &s.id == step_id)
        else {
            return false;
        };
        let mut changed = false;
        if let Some(details) = details.filter(|d| !d.is_empty())
            && step.failure_details.as_ref() != Some(&details)
        {
            step.failure_details = Some(details);
            changed = true;
        }
        if let Some(text) = probable_cause.filter(|t| !t.trim().is_empty()) {
            let text = tail(&text, MAX_PROBABLE_CAUSE_BYTES);
            if step.probable_cause.as_deref() != Some(text.as_str()) {
                step.probable_cause = Some(text);
                changed = true;
            }
        }
        self.last_contact_at = Some(now);
        if changed {
            self.touch(now);
        }
        changed
    }
}

/// A failed job run's cause, for both job-run targets (EMR Serverless, EMR on EKS): its failure
/// details and its driver log.
impl FlowRecord {
    /// Whether a failed job run's cause is still missing, within [`CAUSE_WINDOW`] of the end
    /// (EMR Serverless or EMR on EKS): its failure details (the service gave none when it
    /// ended), or its probable cause (its driver's `stderr.gz`, for a run whose logs go to S3).
    pub fn job_run_cause_pending(&self, now: DateTime<Utc>) -> bool {
        let (Some(run), Some(failure)) = (self.any_job_run(), self.failure.as_ref()) else {
            return false;
        };
        let missing = self.state_details_missing() || (run.logs_in_s3 && failure.probable_cause.is_none());
        self.status == FlowStatus::Failed
            && run.id.is_some()
            && missing
            && self.ended_at.is_some_and(|end| now < end + CAUSE_WINDOW)
    }

    /// Whether a failed run's details are still to be read: EMR Serverless' `stateDetails`
    /// ([`NO_STATE_DETAILS`]), EMR on EKS' `failureReason` and `stateDetails`
    /// ([`NO_FAILURE_DETAILS`]).
    pub fn state_details_missing(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| {
            f.code.as_deref() == Some(JOB_RUN_FAILED)
                && matches!(f.message.as_deref(), Some(NO_STATE_DETAILS | NO_FAILURE_DETAILS))
        })
    }

    /// Records a failed run's `stateDetails` read after its end (bounded); `false` when they
    /// were there already or `details` is empty.
    pub fn add_state_details(&mut self, details: &str, now: DateTime<Utc>) -> bool {
        if details.trim().is_empty() || !self.state_details_missing() {
            return false;
        }
        if let Some(failure) = self.failure.as_mut() {
            failure.message = Some(bounded(details, MAX_MESSAGE_BYTES));
        }
        self.touch(now);
        true
    }

    /// Adds the end of the failed run's driver `stderr` (bounded) read from `location`; with
    /// no text, only says where it was looked for. A run without an S3 log location says so.
    pub fn add_job_run_cause(
        &mut self,
        location: Option<&str>,
        text: Option<String>,
        now: DateTime<Utc>,
    ) -> bool {
        let no_logs = (self.any_job_run()).and_then(|run| (!run.logs_in_s3).then_some(run.no_s3_logs));
        let Some(failure) = self.failure.as_mut() else {
            return false;
        };
        let mut changed = false;
        let location = match location {
            Some(location) => location.to_owned(),
            None => match no_logs {
                Some(no_logs) => no_logs.to_owned(),
                None => return false,
            },
        };
        if failure.log_location.as_deref() != Some(location.as_str()) {
            failure.log_location = Some(bounded(&location, MAX_MESSAGE_BYTES));
            changed = true;
        }
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            let text = tail(&text, MAX_PROBABLE_CAUSE_BYTES);
            if failure.probable_cause.as_deref() != Some(text.as_str()) {
                failure.probable_cause = Some(text);
                changed = true;
            }
        }
        self.last_contact_at = Some(now);
        if changed {
            self.touch(now);
        }
        changed
    }
}

/// The last `max` bytes of `text`, from a line start when one is near (a log's last lines).
pub(super) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    match cut.find('\n') {
        Some(i) if i + 1 < cut.len() => cut[i + 1..].to_owned(),
        _ => cut.to_owned(),
    }
}
