//! What the two job-run targets do alike (EMR Serverless, EMR on EKS): launching a flow's run
//! once, finding it again when StartJobRun's answer was lost, adopting or cancelling a run that
//! carries the flow's identity, and cancelling the flow's own run. Each target supplies its
//! service's calls and its part of the record through [`JobRunService`].
//!
//! StartJobRun carries the flow's `clientToken` (one per flow) and its tags. A lost answer is
//! resolved without a second run: the runs carrying the flow's identity are looked for
//! ([`JobRunService::own_runs`]: its tag on EMR Serverless, its echoed token on EMR on EKS), and
//! with none yet, StartJobRun is repeated with the same token, which the services deduplicate (a
//! stand-in that does not, such as moto, starts a second run: it carries the flow's identity
//! too, and is found and cancelled as an extra). A run the record does not name is adopted by
//! a flow still waiting for its launch, or cancelled.

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::aws::once::Start;
use crate::error::Error;
use crate::model::{FlowId, FlowRecord};
use crate::services::Services;
use crate::store::Versioned;
use crate::targets::seam::{Launched, Tagged, refused};

/// A job-run service as the shared launch needs it: its run id, its request, its calls, and the
/// record's methods for its run.
pub trait JobRunService {
    /// The service's job run id.
    type RunId: Clone + PartialEq + fmt::Display + fmt::Debug + Send + Sync;
    /// The service's StartJobRun request, as rendered.
    type Request: Sync;
    /// The service as logs and a refused launch name it (`EMR Serverless`).
    const SERVICE: &'static str;

    /// The flow's run id, once known.
    fn run_id(record: &FlowRecord) -> Option<&Self::RunId>;
    /// Records the run as the flow's own (`PENDING` → `STARTING`); whether it changed.
    fn started(record: &mut FlowRecord, id: &Self::RunId, now: DateTime<Utc>) -> bool;
    /// Notes another run carrying the flow's identity; whether it changed.
    fn note_extra(record: &mut FlowRecord, id: &Self::RunId, now: DateTime<Utc>) -> bool;
    /// Whether the extra run `id` was cancelled already.
    fn extra_cancelled(record: &FlowRecord, id: &Self::RunId) -> bool;
    /// Records the CancelJobRun call for an extra run; whether it changed.
    fn record_extra_cancel(
        record: &mut FlowRecord,
        id: &Self::RunId,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> bool;

    /// StartJobRun, sent once (again only when throttled).
    fn start(svc: &Services, request: &Self::Request) -> impl Future<Output = Start<Self::RunId>> + Send;
    /// The runs carrying the flow's identity (tag or token), oldest first, created since
    /// shortly before it was submitted.
    fn own_runs(
        svc: &Services,
        record: &FlowRecord,
    ) -> impl Future<Output = Result<Vec<Self::RunId>, Error>> + Send;
    /// CancelJobRun of run `id` on the flow's application or virtual cluster; `own` when it is
    /// the flow's own run (which the definition may give a grace period), not an extra.
    fn cancel(
        svc: &Services,
        record: &FlowRecord,
        id: &Self::RunId,
        own: bool,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Sends StartJobRun for the flow just recorded as `created` and records what came of it; a
/// lost answer is followed at once by a look for the flow's runs (and the call repeated with
/// the same token when there is none).
///
/// Errors: [`Error::Upstream`] when DynamoDB fails (the service's refusal is
/// [`Launched::Refused`]).
pub async fn launch<S: JobRunService>(
    svc: &Services,
    request: &S::Request,
    created: Versioned,
) -> Result<Launched, Error> {
    let flow_id = created.record.flow_id;
    let job_run_id = match S::start(svc, request).await {
        Start::Started(id) => id,
        Start::Refused(message) => {
            tracing::error!(%flow_id, service = S::SERVICE, error = %message, "StartJobRun refused; flow FAILED");
            return refused(svc, created, S::SERVICE, "StartJobRun", message).await;
        }
        Start::Unknown(message) => {
            return launch_unknown::<S>(svc, request, flow_id, &message)
                .await
                .map(Launched::Unknown);
        }
    };
    let written = match adopt_or_cancel::<S>(svc, created, &job_run_id).await? {
        Tagged::Adopted(written) => *written,
        _ => svc.store.read(flow_id).await?,
    };
    tracing::info!(%flow_id, %job_run_id, service = S::SERVICE, "job run started");
    Ok(Launched::Started(written))
}

/// StartJobRun's answer was lost: the flow stays `PENDING`, noted; its run is looked for at
/// once, and with none listed, StartJobRun is sent again with the flow's token.
async fn launch_unknown<S: JobRunService>(
    svc: &Services,
    request: &S::Request,
    flow_id: FlowId,
    message: &str,
) -> Result<Versioned, Error> {
    tracing::warn!(%flow_id, error = %message, "StartJobRun's answer was lost; looking for the flow's run");
    let (record, _) = svc
        .store
        .update(flow_id, |r| r.launch_uncertain(message, svc.clock.now()))
        .await?;
    let found = match S::own_runs(svc, &record).await {
        Ok(runs) if !runs.is_empty() => runs,
        Ok(_) => match S::start(svc, request).await {
            Start::Started(job_run_id) => {
                tracing::info!(%flow_id, %job_run_id, "StartJobRun repeated with the flow's token answered");
                vec![job_run_id]
            }
            other => {
                tracing::warn!(%flow_id, answer = ?other, "StartJobRun repeated with the flow's token did not answer; the sweep looks again");
                Vec::new()
            }
        },
        Err(e) => {
            tracing::warn!(%flow_id, error = %e, "the flow's job runs not listed; the sweep looks again");
            Vec::new()
        }
    };
    for job_run_id in &found {
        let read = svc.store.read(flow_id).await?;
        adopt_or_cancel::<S>(svc, read, job_run_id).await?;
    }
    svc.store.read(flow_id).await
}

/// A `PENDING` flow whose StartJobRun answer was lost (seen by the sweep): the oldest run
/// carrying its identity is its own, any other is cancelled; with none, the flow ends `FAILED`
/// (`START_JOB_RUN_LOST`). Returns the record as last written or read.
///
/// Errors: [`Error::Upstream`] when the service cannot list runs or DynamoDB fails.
pub async fn recover_launch<S: JobRunService>(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let runs = S::own_runs(svc, &read.record).await?;
    let Some((own, extras)) = runs.split_first() else {
        let (written, ended) = svc
            .store
            .update_from(read, |r| r.launch_lost(svc.clock.now()))
            .await?;
        if ended {
            tracing::error!(%flow_id, "StartJobRun's answer was lost and no job run carries the flow's identity; flow FAILED");
        }
        return Ok(written);
    };
    adopt_or_cancel::<S>(svc, read, own).await?;
    for extra in extras {
        let read = svc.store.read(flow_id).await?;
        if !matches!(adopt_or_cancel::<S>(svc, read, extra).await?, Tagged::Extra(_)) {
            tracing::error!(%flow_id, job_run_id = %extra, "a second job run was taken as the flow's own");
        }
    }
    svc.store.read(flow_id).await
}

/// Adopts `job_run_id` for the flow read as `read`, or cancels it as an extra.
///
/// Errors: [`Error::Upstream`] when the service or DynamoDB fail.
pub async fn adopt_or_cancel<S: JobRunService>(
    svc: &Services,
    read: Versioned,
    job_run_id: &S::RunId,
) -> Result<Tagged, Error> {
    let flow_id = read.record.flow_id;
    if S::run_id(&read.record) == Some(job_run_id) {
        return Ok(Tagged::Own(flow_id));
    }
    if S::run_id(&read.record).is_none() && !read.record.status.is_terminal() {
        let (written, adopted) = svc
            .store
            .update_from(read, |r| S::started(r, job_run_id, svc.clock.now()))
            .await?;
        if S::run_id(&written.record) == Some(job_run_id) {
            if adopted && written.record.launch_error.is_some() {
                tracing::warn!(%flow_id, %job_run_id, "adopted a job run whose start was never recorded");
            }
            return Ok(Tagged::Adopted(Box::new(written)));
        }
    }
    cancel_extra::<S>(svc, flow_id, job_run_id).await
}

/// The record an event about run `job_run_id` applies to, starting from `read`: as read when
/// the record names the run; else the run adopted (the written record is also the first of the
/// follow-up records, whose work the caller carries out); `None` for an extra run, cancelled.
///
/// Errors: [`Error::Upstream`] when the service or DynamoDB fail.
pub async fn record_for_event<S: JobRunService>(
    svc: &Services,
    read: Versioned,
    job_run_id: &S::RunId,
) -> Result<Option<(Versioned, Vec<Versioned>)>, Error> {
    if S::run_id(&read.record) == Some(job_run_id) {
        return Ok(Some((read, Vec::new())));
    }
    let flow_id = read.record.flow_id;
    Ok(match adopt_or_cancel::<S>(svc, read, job_run_id).await? {
        // Recorded by another writer meanwhile: what it wrote is read.
        Tagged::Own(_) => Some((svc.store.read(flow_id).await?, Vec::new())),
        Tagged::Adopted(written) => Some(((*written).clone(), vec![*written])),
        Tagged::Extra(_) => None,
    })
}

/// Notes `job_run_id` as an extra run of `flow_id` and cancels it.
async fn cancel_extra<S: JobRunService>(
    svc: &Services,
    flow_id: FlowId,
    job_run_id: &S::RunId,
) -> Result<Tagged, Error> {
    let (record, _) = svc
        .store
        .update(flow_id, |r| S::note_extra(r, job_run_id, svc.clock.now()))
        .await?;
    if S::extra_cancelled(&record, job_run_id) {
        return Ok(Tagged::Extra(flow_id));
    }
    let result = S::cancel(svc, &record, job_run_id, false)
        .await
        .map_err(|e| e.to_string());
    match &result {
        Ok(()) => {
            tracing::warn!(%flow_id, %job_run_id, "cancelled an extra job run carrying the flow's identity")
        }
        Err(e) => tracing::error!(%flow_id, %job_run_id, error = %e, "could not cancel an extra job run"),
    }
    svc.store
        .update(flow_id, |r| {
            S::record_extra_cancel(r, job_run_id, result.clone(), svc.clock.now())
        })
        .await?;
    Ok(Tagged::Extra(flow_id))
}

/// Calls CancelJobRun for the flow's own run (none yet: nothing to do) and records the attempt:
/// accepted, or refused with the service's message. Returns the record and the call's result.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails; the service's refusal is the returned result.
pub async fn cancel<S: JobRunService>(
    svc: &Services,
    read: Versioned,
) -> Result<(Versioned, Result<(), Error>), Error> {
    let Some(job_run_id) = S::run_id(&read.record).cloned() else {
        return Ok((read, Ok(())));
    };
    let flow_id = read.record.flow_id;
    let result = S::cancel(svc, &read.record, &job_run_id, true).await;
    match &result {
        Ok(()) => tracing::info!(%flow_id, %job_run_id, service = S::SERVICE, "cancellation accepted"),
        Err(e) => {
            tracing::warn!(%flow_id, %job_run_id, error = %e, "cancellation refused or failed; recorded as an attempt")
        }
    }
    let outcome = result.as_ref().map(|_| ()).map_err(ToString::to_string);
    let (written, _) = svc
        .store
        .update_from(read, |r| {
            r.termination_attempted(outcome.clone(), svc.clock.now())
        })
        .await?;
    Ok((written, result))
}
