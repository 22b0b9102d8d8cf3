//! Launching a flow's job run and finding it again. StartJobRun carries the flow's
//! `clientToken` (one per flow) and the run carries the flow's tags. An answer that was lost is
//! resolved without a second run: the application's runs are listed (ListJobRuns, by the run's
//! name and creation time) and confirmed by the flow-id tag (GetJobRun); when none is listed
//! yet, StartJobRun is repeated with the same token, which the service deduplicates (a stand-in
//! that does not, such as moto, starts a second run: it carries the flow's tag, and is found and
//! cancelled as an extra). A tagged run the record does not name is adopted by a flow still
//! waiting for its launch, or cancelled.

use crate::aws::emr_serverless::Start;
use crate::catalog::serverless_job_run::ServerlessJobRun;
use crate::error::Error;
use crate::model::{FlowId, FlowRecord, JobRunId, JobRunRecord};
use crate::services::Services;
use crate::store::Versioned;

use crate::targets::seam::{LIST_WINDOW, Launched, Tagged, refused};

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

/// Sends StartJobRun for the flow recorded as `record` and records what came of it; a lost
/// answer is followed at once by a look for the flow's tagged runs (and the call repeated with
/// the same token when there is none).
///
/// Errors: [`Error::Upstream`] when DynamoDB fails (the service's refusal is
/// [`Launched::Refused`]).
pub async fn launch(
    svc: &Services,
    request: &ServerlessJobRun,
    created: Versioned,
) -> Result<Launched, Error> {
    let flow_id = created.record.flow_id;
    let job_run_id = match svc.emr_serverless.start_job_run(request).await {
        Start::Started(id) => id,
        Start::Refused(message) => {
            tracing::error!(%flow_id, error = %message, "EMR Serverless refused StartJobRun; flow FAILED");
            return refused(svc, created, "EMR Serverless", "StartJobRun", message).await;
        }
        Start::Unknown(message) => {
            return launch_unknown(svc, request, flow_id, &message)
                .await
                .map(Launched::Unknown);
        }
    };
    let written = match adopt_or_cancel(svc, created, &job_run_id).await? {
        Tagged::Adopted(written) => *written,
        _ => svc.store.read(flow_id).await?,
    };
    tracing::info!(%flow_id, %job_run_id, "job run started");
    Ok(Launched::Started(written))
}

/// StartJobRun's answer was lost: the flow stays `PENDING`, noted; its run is looked for by the
/// flow's tag at once, and with none listed, StartJobRun is sent again with the same token.
async fn launch_unknown(
    svc: &Services,
    request: &ServerlessJobRun,
    flow_id: FlowId,
    message: &str,
) -> Result<Versioned, Error> {
    tracing::warn!(%flow_id, error = %message, "StartJobRun's answer was lost; looking for the flow's tagged run");
    let (record, _) = svc
        .store
        .update(flow_id, |r| r.launch_uncertain(message, svc.clock.now()))
        .await?;
    match tagged_runs(svc, &record).await {
        Ok(runs) if !runs.is_empty() => {
            for job_run_id in &runs {
                let read = svc.store.read(flow_id).await?;
                adopt_or_cancel(svc, read, job_run_id).await?;
            }
        }
        Ok(_) => match svc.emr_serverless.start_job_run(request).await {
            Start::Started(job_run_id) => {
                tracing::info!(%flow_id, %job_run_id, "StartJobRun repeated with the flow's token answered");
                let read = svc.store.read(flow_id).await?;
                adopt_or_cancel(svc, read, &job_run_id).await?;
            }
            other => {
                tracing::warn!(%flow_id, answer = ?other, "StartJobRun repeated with the flow's token did not answer; the sweep looks again")
            }
        },
        Err(e) => tracing::warn!(%flow_id, error = %e, "tagged job runs not listed; the sweep looks again"),
    }
    svc.store.read(flow_id).await
}

/// The runs on the flow's application carrying its tag, oldest first, created since shortly
/// before it was submitted.
async fn tagged_runs(svc: &Services, record: &FlowRecord) -> Result<Vec<JobRunId>, Error> {
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

/// A `PENDING` flow whose StartJobRun answer was lost (seen by the sweep): the oldest run
/// carrying its tag is its own, any other is cancelled; with none, the flow ends `FAILED`
/// (`RUN_JOB_FLOW_LOST`'s rule: no run after the grace period). Returns the record as last
/// written or read.
///
/// Errors: [`Error::Upstream`] when EMR Serverless cannot list runs or DynamoDB fails.
pub async fn recover_launch(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let runs = tagged_runs(svc, &read.record).await?;
    let Some((own, extras)) = runs.split_first() else {
        let (written, ended) = svc
            .store
            .update_from(read, |r| r.launch_lost(svc.clock.now()))
            .await?;
        if ended {
            tracing::error!(%flow_id, "StartJobRun's answer was lost and no job run carries the flow's tag; flow FAILED");
        }
        return Ok(written);
    };
    adopt_or_cancel(svc, read, own).await?;
    for extra in extras {
        let read = svc.store.read(flow_id).await?;
        if !matches!(adopt_or_cancel(svc, read, extra).await?, Tagged::Extra(_)) {
            tracing::error!(%flow_id, job_run_id = %extra, "a second tagged job run was taken as the flow's own");
        }
    }
    svc.store.read(flow_id).await
}

/// Adopts `job_run_id` for the flow read as `read`, or cancels it as an extra.
///
/// Errors: [`Error::Upstream`] when EMR Serverless or DynamoDB fail.
pub async fn adopt_or_cancel(
    svc: &Services,
    read: Versioned,
    job_run_id: &JobRunId,
) -> Result<Tagged, Error> {
    let flow_id = read.record.flow_id;
    if read.record.job_run_id() == Some(job_run_id) {
        return Ok(Tagged::Own(flow_id));
    }
    if read.record.job_run_id().is_none() && !read.record.status.is_terminal() {
        let (written, adopted) = svc
            .store
            .update_from(read, |r| r.job_run_started(job_run_id, svc.clock.now()))
            .await?;
        if written.record.job_run_id() == Some(job_run_id) {
            if adopted && written.record.launch_error.is_some() {
                tracing::warn!(%flow_id, %job_run_id, "adopted a job run whose start was never recorded");
            }
            return Ok(Tagged::Adopted(Box::new(written)));
        }
    }
    cancel_extra(svc, flow_id, job_run_id).await
}

/// Notes `job_run_id` as an extra run of `flow_id` and cancels it.
async fn cancel_extra(svc: &Services, flow_id: FlowId, job_run_id: &JobRunId) -> Result<Tagged, Error> {
    let (record, _) = svc
        .store
        .update(flow_id, |r| r.note_extra_job_run(job_run_id, svc.clock.now()))
        .await?;
    let Some(run) = record.job_run.as_ref() else {
        return Ok(Tagged::Extra(flow_id));
    };
    let noted = run.extra_runs.iter().find(|r| &r.job_run_id == job_run_id);
    if noted.is_some_and(|r| r.cancelled_at.is_some()) {
        return Ok(Tagged::Extra(flow_id));
    }
    let result = svc
        .emr_serverless
        .cancel_job_run(&run.application_id, job_run_id, None)
        .await
        .map_err(|e| e.to_string());
    match &result {
        Ok(()) => tracing::warn!(%flow_id, %job_run_id, "cancelled an extra job run carrying the flow's tag"),
        Err(e) => tracing::error!(%flow_id, %job_run_id, error = %e, "could not cancel an extra job run"),
    }
    svc.store
        .update(flow_id, |r| {
            r.extra_job_run_cancelled(job_run_id, result.clone(), svc.clock.now())
        })
        .await?;
    Ok(Tagged::Extra(flow_id))
}
