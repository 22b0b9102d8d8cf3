//! What the two job-run targets' records share (EMR Serverless, EMR on EKS): the causes they
//! record, what a failed run says while its details or logs are missing, and the runs found
//! carrying a flow's identity besides its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::job_run::JobRunId;
use super::super::outcome::TerminationKind;
use super::super::{FlowStatus, bounded};
use super::{FailureCause, FlowRecord, MAX_EXTRA_CLUSTERS, MAX_MESSAGE_BYTES, MAX_RUNTIME_EXCEEDED};

/// What a failed job run's record says when its logs are not in S3.
pub const NO_S3_LOGS: &str = "none in S3: the run has no configurationOverrides.monitoringConfiguration.\
s3MonitoringConfiguration.logUri, so its driver log is only in EMR Serverless' managed storage \
(the console or GetDashboardForJobRun)";

/// A failed run's message while GetJobRun has not given its `stateDetails` (the sweep asks
/// again, as for a failed step's details).
pub const NO_STATE_DETAILS: &str = "the job run ended FAILED; GetJobRun gave no stateDetails yet";
/// The cause recorded when a job run ended `FAILED` (its message: GetJobRun's `stateDetails`).
pub const JOB_RUN_FAILED: &str = "JOB_RUN_FAILED";
/// The cause recorded when a job run was cancelled by someone else than emr-flows.
pub const JOB_RUN_CANCELLED: &str = "JOB_RUN_CANCELLED";
/// What a failed EMR on EKS run's record says when its logs are not in S3.
pub const NO_S3_LOGS_EKS: &str = "none in S3: the run has no configurationOverrides.monitoringConfiguration.\
s3MonitoringConfiguration.logUri, so its driver log is only where its other monitoring configuration \
sends it (CloudWatch Logs, the persistent application UI)";

/// A failed EMR on EKS run's message while DescribeJobRun has given neither its
/// `failureReason` nor its `stateDetails` (the sweep asks again, as for a failed step).
pub const NO_FAILURE_DETAILS: &str =
    "the job run ended FAILED; DescribeJobRun gave no failureReason or stateDetails yet";

/// A second run carrying this flow's tag (EMR Serverless) or client token (EMR on EKS): a
/// StartJobRun whose answer was lost, sent again where the service did not deduplicate it. It
/// runs nobody's flow, so it is cancelled. `Id` is the service's job run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraJobRun<Id = JobRunId> {
    pub job_run_id: Id,
    pub found_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl<Id: PartialEq + Clone> ExtraJobRun<Id> {
    /// Notes `job_run_id` in `extras`; `false` when it is `own`, noted before, or the list is
    /// full ([`MAX_EXTRA_CLUSTERS`]).
    pub(super) fn note(
        extras: &mut Vec<Self>,
        own: Option<&Id>,
        job_run_id: &Id,
        now: DateTime<Utc>,
    ) -> bool {
        if own == Some(job_run_id)
            || extras.iter().any(|r| &r.job_run_id == job_run_id)
            || extras.len() >= MAX_EXTRA_CLUSTERS
        {
            return false;
        }
        extras.push(Self {
            job_run_id: job_run_id.clone(),
            found_at: now,
            cancelled_at: None,
            last_error: None,
        });
        true
    }

    /// Records the CancelJobRun call for the extra run `job_run_id`; `false` when it is not
    /// noted or was cancelled before.
    pub(super) fn cancelled(
        extras: &mut [Self],
        job_run_id: &Id,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(extra) = extras.iter_mut().find(|e| &e.job_run_id == job_run_id) else {
            return false;
        };
        if extra.cancelled_at.is_some() {
            return false;
        }
        match result {
            Ok(()) => {
                extra.cancelled_at = Some(now);
                extra.last_error = None;
            }
            Err(e) => extra.last_error = Some(bounded(&e, MAX_MESSAGE_BYTES)),
        }
        true
    }
}

/// A job run's ending, as both job-run targets record it: what the service said, and what
/// emr-flows asked for.
pub(super) struct JobRunEnding<'a> {
    /// The outcome the run's state decided.
    pub outcome: FlowStatus,
    /// The kind of a termination emr-flows asked for and the service accepted.
    pub accepted: Option<TerminationKind>,
    /// The flow's deadline (`max_runtime`), for the message of a cancel it caused.
    pub deadline: Option<DateTime<Utc>>,
    /// A failure's message: the service's details, or what says they are missing yet.
    pub failed: String,
    /// The cause when the service's own timeout ended the run (EMR Serverless'
    /// `executionTimeoutMinutes`; EMR on EKS has none).
    pub own_timeout: Option<FailureCause>,
    /// What the service said of a run it ended (`stateDetails`), when anything.
    pub details: Option<&'a str>,
    /// What a failure's log location says when the run's logs are not in S3; `None` when they are.
    pub no_s3_logs: Option<&'static str>,
}

impl JobRunEnding<'_> {
    /// The failure cause the ending records: none for a success; `JOB_RUN_FAILED` with the
    /// service's details (and where the logs are not); `MAX_RUNTIME_EXCEEDED` for a cancel
    /// `max_runtime` asked for; the service's own timeout; `JOB_RUN_CANCELLED` saying whose
    /// cancel it was.
    pub(super) fn cause(self) -> Option<FailureCause> {
        match self.outcome {
            FlowStatus::Succeeded => None,
            FlowStatus::Failed => Some(FailureCause {
                log_location: self.no_s3_logs.map(str::to_owned),
                ..FailureCause::ours(JOB_RUN_FAILED, self.failed)
            }),
            FlowStatus::TimedOut if self.accepted == Some(TerminationKind::Timeout) => {
                Some(FailureCause::ours(
                    MAX_RUNTIME_EXCEEDED,
                    format!(
                        "still active at {}, its deadline; job run cancelled",
                        self.deadline.map(|d| d.to_rfc3339()).unwrap_or_default()
                    ),
                ))
            }
            FlowStatus::TimedOut if self.own_timeout.is_some() => self.own_timeout,
            _ if self.accepted == Some(TerminationKind::Cancel) => Some(FailureCause::ours(
                JOB_RUN_CANCELLED,
                "the job run was cancelled on request (terminate)".to_owned(),
            )),
            _ => Some(FailureCause::ours(
                JOB_RUN_CANCELLED,
                self.details.map_or_else(
                    || "the job run was cancelled, not by emr-flows".to_owned(),
                    |d| format!("the job run was cancelled, not by emr-flows: {d}"),
                ),
            )),
        }
    }
}

/// A flow's job run as the rules shared by both services see it, whichever service runs it.
pub(super) struct AnyJobRun<'a> {
    /// The run's id, once started.
    pub id: Option<&'a str>,
    /// Whether the run's logs go to S3 (`logUri`).
    pub logs_in_s3: bool,
    /// What a failure's log location says when they do not ([`NO_S3_LOGS`], [`NO_S3_LOGS_EKS`]).
    pub no_s3_logs: &'static str,
    /// Whether the run may still run (not seen ended).
    pub may_run: bool,
}

impl FlowRecord {
    /// The flow's job run, EMR Serverless' or EMR on EKS'; `None` for the other targets.
    pub(super) fn any_job_run(&self) -> Option<AnyJobRun<'_>> {
        match (&self.job_run, &self.eks_job_run) {
            (Some(run), _) => Some(AnyJobRun {
                id: run.job_run_id.as_ref().map(|id| id.as_str()),
                logs_in_s3: run.log_uri.is_some(),
                no_s3_logs: NO_S3_LOGS,
                may_run: run.may_run(),
            }),
            (None, Some(run)) => Some(AnyJobRun {
                id: run.job_run_id.as_ref().map(|id| id.as_str()),
                logs_in_s3: run.log_uri.is_some(),
                no_s3_logs: NO_S3_LOGS_EKS,
                may_run: run.may_run(),
            }),
            (None, None) => None,
        }
    }

    /// The flow's job run id (EMR Serverless' or EMR on EKS'), once started: what submit,
    /// terminate and the listings name.
    pub fn any_job_run_id(&self) -> Option<&str> {
        self.any_job_run().and_then(|run| run.id)
    }
}
