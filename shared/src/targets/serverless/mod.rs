//! The EMR Serverless target: a flow that runs as one job run on an EMR Serverless application
//! (StartJobRun), followed through the service's job-run events ([`events`]), its outcome
//! decided from the run's facts by [`crate::model::outcome::decide_job_run_outcome`].
//!
//! - [`launch`]: EMR Serverless' part in the job-run targets' shared launch and cancel
//!   ([`crate::targets::job_runs`]): StartJobRun, the runs carrying the flow's tag (ListJobRuns,
//!   GetJobRun), CancelJobRun with the definition's grace period.
//! - [`facts`]: the run's facts applied to the record (GetJobRun's `stateDetails`, figures and
//!   timeout read when an event ends the run), the sweep's repair, and a failed run's driver
//!   log.
//!
//! Nothing here calls back into the operations: what a changed record asks for next
//! (deliveries, a termination due) is carried out by the caller (`ops`).

pub mod events;
pub mod facts;
pub mod launch;

use crate::error::Error;
use crate::services::Services;
use crate::targets::seam::Applied;

use crate::targets::job_runs;
use events::JobRunEvent;
use launch::Serverless;

/// Applies one EMR Serverless event to the flow whose run it concerns: the run's flow-id tag
/// is read with GetJobRun (which also gives what an ending needs: `stateDetails`, figures,
/// timeout); a run the flow's record does not name yet is adopted (its launch answer was lost)
/// or cancelled as an extra.
///
/// Requests per event: GetJobRun, then DynamoDB's read and (when anything changed) one
/// conditional write.
/// Errors: [`Error::Upstream`] when DynamoDB or EMR Serverless fail.
pub async fn apply_event(svc: &Services, event: JobRunEvent) -> Result<Applied, Error> {
    let JobRunEvent {
        application_id,
        job_run_id,
        facts,
        ..
    } = event;
    let Some((flow_id, description)) = svc
        .emr_serverless
        .tagged_flow_id(&application_id, &job_run_id)
        .await?
    else {
        tracing::info!(%job_run_id, "event for a job run that is no flow's; ignored");
        return Ok(Applied::Ignored(format!("job run {job_run_id} is no flow's")));
    };
    let Some(read) = svc.store.get(flow_id).await? else {
        return Ok(Applied::Ignored(format!(
            "job run {job_run_id} is tagged for flow {flow_id}, which this table does not hold"
        )));
    };
    let Some((read, mut follow_up)) =
        job_runs::record_for_event::<Serverless>(svc, read, &job_run_id).await?
    else {
        return Ok(Applied::Ignored(format!(
            "job run {job_run_id} is an extra run of flow {flow_id}; cancelled"
        )));
    };
    let (written, changed) = facts::apply_facts(svc, read, facts, Some(&description)).await?;
    let status = written.record.status;
    follow_up.push(written);
    tracing::info!(%flow_id, %job_run_id, %status, changed, "job run event applied");
    Ok(Applied::Flow {
        flow_id,
        status,
        changed,
        follow_up,
    })
}
