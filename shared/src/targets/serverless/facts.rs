//! EMR Serverless' facts about a flow's job run, applied through the record's rules: from an
//! event or the sweep's GetJobRun, with GetJobRun read when an event ends the run (events carry
//! no `stateDetails`, figures or timeout); a failed run's driver log.

use crate::aws::emr_serverless::JobRunDescription;
use crate::error::Error;
use crate::model::{FlowRecord, JobRunFacts, MAX_PROBABLE_CAUSE_BYTES};
use crate::services::Services;
use crate::store::Versioned;

/// Applies `facts` about the flow's run. When they end the run and the flow is still active,
/// what GetJobRun adds is merged in first (`description` when the caller read it already):
/// `stateDetails`, billed resources, `executionTimeoutMinutes`, times, attempt. The facts' own
/// state stands (an event's state is the service's word at its time).
///
/// Returns the record as written (or read) and whether it changed.
/// Errors: [`Error::Upstream`] when DynamoDB fails (a failed GetJobRun is logged: the facts are
/// applied without it).
pub async fn apply_facts(
    svc: &Services,
    read: Versioned,
    mut facts: JobRunFacts,
    description: Option<&JobRunDescription>,
) -> Result<(Versioned, bool), Error> {
    let ends = facts.state.as_ref().is_some_and(|s| s.is_ended());
    if ends && !read.record.status.is_terminal() {
        let fetched;
        let description = match description {
            Some(d) => Some(d),
            None => {
                fetched = describe(svc, &read.record).await;
                fetched.as_ref()
            }
        };
        if let Some(d) = description {
            let got = &d.facts;
            facts.state_details = facts.state_details.or_else(|| got.state_details.clone());
            facts.billed = facts.billed.or(got.billed);
            facts.execution_timeout_minutes =
                facts.execution_timeout_minutes.or(got.execution_timeout_minutes);
            facts.created_at = facts.created_at.or(got.created_at);
            facts.updated_at = facts.updated_at.or(got.updated_at);
            facts.attempt = facts.attempt.or(got.attempt);
        }
    }
    svc.store
        .update_from(read, |r| r.apply_job_run(&facts, svc.clock.now()))
        .await
}

/// GetJobRun of the flow's run, or `None` (logged) when it has none, the service does not know
/// it, or the call fails.
async fn describe(svc: &Services, record: &FlowRecord) -> Option<JobRunDescription> {
    let run = record.job_run.as_ref()?;
    let job_run_id = run.job_run_id.as_ref()?;
    match svc
        .emr_serverless
        .get_job_run(&run.application_id, job_run_id)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(flow_id = %record.flow_id, %job_run_id, error = %e, "GetJobRun failed; facts applied without it");
            None
        }
    }
}

/// Asks EMR Serverless about the flow's run (GetJobRun) and applies what it says, as an event
/// would. A run the service no longer knows is recorded as checked; its flow ends by
/// `max_runtime` or by hand.
///
/// Errors: [`Error::Upstream`] when EMR Serverless or DynamoDB fail.
pub async fn repair(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let Some((application_id, job_run_id)) = read
        .record
        .job_run
        .as_ref()
        .and_then(|r| Some((r.application_id.clone(), r.job_run_id.clone()?)))
    else {
        return Ok(read);
    };
    let Some(description) = svc
        .emr_serverless
        .get_job_run(&application_id, &job_run_id)
        .await?
    else {
        tracing::error!(%flow_id, %job_run_id, "EMR Serverless does not know the flow's job run");
        return Ok(svc
            .store
            .update_from(read, |r| r.checked(svc.clock.now()))
            .await?
            .0);
    };
    let facts = description.facts.clone();
    let (written, changed) = apply_facts(svc, read, facts, Some(&description)).await?;
    if changed {
        tracing::warn!(%flow_id, %job_run_id, status = %written.record.status, "repaired from GetJobRun: events were missed");
        return Ok(written);
    }
    Ok(svc
        .store
        .update_from(written, |r| r.checked(svc.clock.now()))
        .await?
        .0)
}

/// Fetches a failed run's missing cause: its `stateDetails` (GetJobRun), when they were not
/// there at its end, and its probable cause: the end of its driver's `stderr.gz` under the
/// run's `logUri` (the current attempt's, under `attempts/<n>/` after a retry), which EMR
/// Serverless pushes every 15 seconds. Absent still, the sweep tries again within the window.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails (S3's and GetJobRun's failures are logged).
pub async fn fetch_cause(svc: &Services, mut read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    if read.record.state_details_missing()
        && let Some(details) = describe(svc, &read.record)
            .await
            .and_then(|d| d.facts.state_details)
    {
        read = svc
            .store
            .update_from(read, |r| r.add_state_details(&details, svc.clock.now()))
            .await?
            .0;
    }
    let Some(key) = read.record.job_run.as_ref().and_then(|r| r.driver_stderr_key()) else {
        return Ok(read);
    };
    if (read.record.failure.as_ref()).is_some_and(|f| f.probable_cause.is_some()) {
        return Ok(read);
    }
    let text = match svc.logs.log_tail(&key, MAX_PROBABLE_CAUSE_BYTES).await {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(%flow_id, location = %key, error = %e, "driver log not read");
            None
        }
    };
    let (written, _) = svc
        .store
        .update_from(read, |r| {
            r.add_job_run_cause(Some(&key), text.clone(), svc.clock.now())
        })
        .await?;
    Ok(written)
}
