//! The EMR on EKS target: a flow that runs as one job run on an EMR on EKS virtual cluster
//! (emr-containers' StartJobRun), followed through the service's job-run events ([`events`]),
//! each confirmed with DescribeJobRun; its outcome decided from the run's facts by
//! [`crate::model::outcome::decide_eks_job_run_outcome`].
//!
//! - [`launch`]: EMR on EKS' part in the job-run targets' shared launch and cancel
//!   ([`crate::targets::job_runs`]): StartJobRun, the runs with the flow's token (ListJobRuns
//!   echoes it), CancelJobRun.
//! - [`facts`]: the sweep's repair, a failed run's details and driver log.
//!
//! Nothing here calls back into the operations: what a changed record asks for next
//! (deliveries, a termination due) is carried out by the caller (`ops`).

pub mod events;
pub mod facts;
pub mod launch;

use crate::error::Error;
use crate::services::Services;
use crate::targets::job_runs;
use crate::targets::seam::Applied;
use launch::Eks;

use events::EksJobRunEvent;

/// Applies one EMR on EKS event to the flow whose run it concerns. DescribeJobRun confirms it
/// and names the flow (the run's flow-id tag, else its client token); a run the flow's record
/// does not name yet is adopted (its launch answer was lost) or cancelled as an extra.
///
/// Requests per event: DescribeJobRun, then DynamoDB's read and (when anything changed) one
/// conditional write.
/// Errors: [`Error::Upstream`] when DynamoDB or EMR on EKS fail.
pub async fn apply_event(svc: &Services, event: EksJobRunEvent) -> Result<Applied, Error> {
    let EksJobRunEvent {
        virtual_cluster_id,
        job_run_id,
        facts,
    } = event;
    let Some((flow_id, description)) = svc
        .emr_containers
        .flow_of(&virtual_cluster_id, &job_run_id)
        .await?
    else {
        tracing::info!(%job_run_id, "event for a job run that is no flow's; ignored");
        return Ok(Applied::Ignored(format!("job run {job_run_id} is no flow's")));
    };
    let Some(read) = svc.store.get(flow_id).await? else {
        return Ok(Applied::Ignored(format!(
            "job run {job_run_id} belongs to flow {flow_id}, which this table does not hold"
        )));
    };
    let Some((read, mut follow_up)) = job_runs::record_for_event::<Eks>(svc, read, &job_run_id).await? else {
        return Ok(Applied::Ignored(format!(
            "job run {job_run_id} is an extra run of flow {flow_id}; cancelled"
        )));
    };
    let facts = facts.confirmed_by(description.facts);
    let (written, changed) = svc
        .store
        .update_from(read, |r| r.apply_eks_job_run(&facts, svc.clock.now()))
        .await?;
    let status = written.record.status;
    follow_up.push(written);
    tracing::info!(%flow_id, %job_run_id, %status, changed, "EMR on EKS event applied");
    Ok(Applied::Flow {
        flow_id,
        status,
        changed,
        follow_up,
    })
}
