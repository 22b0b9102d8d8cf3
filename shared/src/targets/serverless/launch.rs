//! Launching a flow's EMR Serverless job run and finding it again, through the job-run targets'
//! shared launch ([`crate::targets::job_runs`]): the run carries the flow's tags, and a lost
//! StartJobRun answer is resolved by listing the application's runs (ListJobRuns, by the run's
//! name and creation time) and confirming each by its flow-id tag (GetJobRun).

use chrono::{DateTime, Utc};

use crate::aws::once::Start;
use crate::catalog::serverless_job_run::ServerlessJobRun;
use crate::error::Error;
use crate::model::{FlowRecord, JobRunId, JobRunRecord, Target};
use crate::services::Services;
use crate::targets::job_runs::JobRunService;
use crate::targets::seam::LIST_WINDOW;

/// EMR Serverless, as the job-run targets' shared launch calls it.
pub struct Serverless;

impl JobRunService for Serverless {
    type RunId = JobRunId;
    type Request = ServerlessJobRun;
    const SERVICE: &'static str = Target::ServerlessJobRun.service();

    fn run_id(record: &FlowRecord) -> Option<&JobRunId> {
        record.job_run_id()
    }

    fn started(record: &mut FlowRecord, id: &JobRunId, now: DateTime<Utc>) -> bool {
        record.job_run_started(id, now)
    }

    fn note_extra(record: &mut FlowRecord, id: &JobRunId, now: DateTime<Utc>) -> bool {
        record.note_extra_job_run(id, now)
    }

    fn extra_cancelled(record: &FlowRecord, id: &JobRunId) -> bool {
        (record.job_run.iter().flat_map(|r| &r.extra_runs))
            .any(|e| &e.job_run_id == id && e.cancelled_at.is_some())
    }

    fn record_extra_cancel(
        record: &mut FlowRecord,
        id: &JobRunId,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> bool {
        record.extra_job_run_cancelled(id, result, now)
    }

    async fn start(svc: &Services, request: &ServerlessJobRun) -> Start<JobRunId> {
        svc.emr_serverless.start_job_run(request).await
    }

    /// The runs on the flow's application carrying its tag, oldest first.
    async fn own_runs(svc: &Services, record: &FlowRecord) -> Result<Vec<JobRunId>, Error> {
        let Some(run) = record.job_run.as_ref() else {
            return Ok(Vec::new());
        };
        svc.emr_serverless
            .tagged_job_runs(
                &run.application_id,
                record.flow_id,
                &run.name,
                record.submitted_at - LIST_WINDOW,
            )
            .await
    }

    /// The flow's own run is given the definition's `shutdown_grace_period`; an extra stops at
    /// once.
    async fn cancel(svc: &Services, record: &FlowRecord, id: &JobRunId, own: bool) -> Result<(), Error> {
        let Some(run) = record.job_run.as_ref() else {
            return Ok(());
        };
        let grace = run.shutdown_grace_period_seconds.filter(|_| own);
        svc.emr_serverless
            .cancel_job_run(&run.application_id, id, grace)
            .await
    }
}

/// A job-run flow's record before launch: the run's application, name, log location, driver
/// log folder and execution timeout, from the request.
pub fn pending(record: FlowRecord, run: &ServerlessJobRun) -> FlowRecord {
    FlowRecord {
        job_run: Some(JobRunRecord {
            driver_log_folder: run.driver_log_folder().to_owned(),
            ..JobRunRecord::new(
                run.application_id(),
                run.name().unwrap_or_default(),
                run.log_uri(),
                run.execution_timeout_minutes(),
            )
        }),
        ..record
    }
}
