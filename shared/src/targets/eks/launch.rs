//! Launching a flow's EMR on EKS job run and finding it again, through the job-run targets'
//! shared launch ([`crate::targets::job_runs`]): every run echoes its `clientToken`, so a lost
//! StartJobRun answer is resolved by listing the virtual cluster's runs with the run's name
//! (ListJobRuns) and taking those with the flow's token.

use chrono::{DateTime, Utc};

use crate::aws::once::Start;
use crate::catalog::eks_job_run::EksJobRun;
use crate::error::Error;
use crate::model::{EksJobRunId, EksJobRunRecord, FlowRecord, Target};
use crate::services::Services;
use crate::targets::job_runs::JobRunService;
use crate::targets::seam::LIST_WINDOW;

/// EMR on EKS, as the job-run targets' shared launch calls it.
pub struct Eks;

impl JobRunService for Eks {
    type RunId = EksJobRunId;
    type Request = EksJobRun;
    const SERVICE: &'static str = Target::EksJobRun.service();

    fn run_id(record: &FlowRecord) -> Option<&EksJobRunId> {
        record.eks_job_run_id()
    }

    fn started(record: &mut FlowRecord, id: &EksJobRunId, now: DateTime<Utc>) -> bool {
        record.eks_job_run_started(id, now)
    }

    fn note_extra(record: &mut FlowRecord, id: &EksJobRunId, now: DateTime<Utc>) -> bool {
        record.note_extra_eks_job_run(id, now)
    }

    fn extra_cancelled(record: &FlowRecord, id: &EksJobRunId) -> bool {
        (record.eks_job_run.iter().flat_map(|r| &r.extra_runs))
            .any(|e| &e.job_run_id == id && e.cancelled_at.is_some())
    }

    fn record_extra_cancel(
        record: &mut FlowRecord,
        id: &EksJobRunId,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> bool {
        record.extra_eks_job_run_cancelled(id, result, now)
    }

    async fn start(svc: &Services, request: &EksJobRun) -> Start<EksJobRunId> {
        svc.emr_containers.start_job_run(request).await
    }

    /// The runs on the flow's virtual cluster started with its token, oldest first.
    async fn own_runs(svc: &Services, record: &FlowRecord) -> Result<Vec<EksJobRunId>, Error> {
        let Some(run) = record.eks_job_run.as_ref() else {
            return Ok(Vec::new());
        };
        svc.emr_containers
            .runs_with_token(
                &run.virtual_cluster_id,
                record.flow_id,
                &run.name,
                record.submitted_at - LIST_WINDOW,
            )
            .await
    }

    /// EMR on EKS' CancelJobRun takes no grace period: own run or extra, alike.
    async fn cancel(svc: &Services, record: &FlowRecord, id: &EksJobRunId, _own: bool) -> Result<(), Error> {
        let Some(run) = record.eks_job_run.as_ref() else {
            return Ok(());
        };
        svc.emr_containers
            .cancel_job_run(&run.virtual_cluster_id, id)
            .await
    }
}

/// An EMR on EKS flow's record before launch: the run's virtual cluster, name and log
/// location, from the request.
pub fn pending(record: FlowRecord, run: &EksJobRun) -> FlowRecord {
    FlowRecord {
        eks_job_run: Some(EksJobRunRecord::new(
            run.virtual_cluster_id(),
            run.name().unwrap_or_default(),
            run.log_uri(),
        )),
        ..record
    }
}
