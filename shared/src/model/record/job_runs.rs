//! What the two job-run targets' records share (EMR Serverless, EMR on EKS): the causes they
//! record, what a failed run says while its details or logs are missing, and the runs found
//! carrying a flow's identity besides its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::bounded;
use super::super::job_run::JobRunId;
use super::{MAX_EXTRA_CLUSTERS, MAX_MESSAGE_BYTES};

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
