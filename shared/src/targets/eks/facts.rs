//! EMR on EKS' facts about a flow's job run, read with DescribeJobRun: the sweep's repair, a
//! failed run's details and its driver log.

use crate::error::Error;
use crate::model::MAX_PROBABLE_CAUSE_BYTES;
use crate::services::Services;
use crate::store::Versioned;

/// Asks EMR on EKS about the flow's run (DescribeJobRun) and applies what it says, as an event
/// would. A run the service no longer knows is recorded as checked; its flow ends by
/// `max_runtime` or by hand.
///
/// Errors: [`Error::Upstream`] when EMR on EKS or DynamoDB fail.
pub async fn repair(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let Some((virtual_cluster_id, job_run_id)) = (read.record.eks_job_run.as_ref())
        .and_then(|r| Some((r.virtual_cluster_id.clone(), r.job_run_id.clone()?)))
    else {
        return Ok(read);
    };
    let Some(description) = svc
        .emr_containers
        .describe_job_run(&virtual_cluster_id, &job_run_id)
        .await?
    else {
        tracing::error!(%flow_id, %job_run_id, "EMR on EKS does not know the flow's job run");
        return Ok(svc
            .store
            .update_from(read, |r| r.checked(svc.clock.now()))
            .await?
            .0);
    };
    let (written, changed) = svc
        .store
        .update_from(read, |r| r.apply_eks_job_run(&description.facts, svc.clock.now()))
        .await?;
    if changed {
        tracing::warn!(%flow_id, %job_run_id, status = %written.record.status, "repaired from DescribeJobRun: events were missed");
        return Ok(written);
    }
    Ok(svc
        .store
        .update_from(written, |r| r.checked(svc.clock.now()))
        .await?
        .0)
}

/// Fetches a failed run's missing cause: its `failureReason` and `stateDetails`
/// (DescribeJobRun), when they were not there at its end, and its probable cause: the end of
/// its driver's `stderr.gz`, found under the run's `containers/` folder (the Spark application
/// id in its path is named by no API). Absent still, the sweep tries again within the window.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails (S3's and DescribeJobRun's failures are
/// logged).
pub async fn fetch_cause(svc: &Services, mut read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let Some(run) = read.record.eks_job_run.clone() else {
        return Ok(read);
    };
    if read.record.state_details_missing()
        && let Some(job_run_id) = run.job_run_id.as_ref()
    {
        let described = svc
            .emr_containers
            .describe_job_run(&run.virtual_cluster_id, job_run_id)
            .await;
        match described.map(|d| d.and_then(|d| d.facts.failure_message())) {
            Ok(Some(message)) => {
                read = svc
                    .store
                    .update_from(read, |r| r.add_state_details(&message, svc.clock.now()))
                    .await?
                    .0;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%flow_id, %job_run_id, error = %e, "DescribeJobRun failed; asked again later")
            }
        }
    }
    let (Some(prefix), Some(suffix)) = (run.containers_prefix(), run.driver_stderr_suffix()) else {
        return Ok(read);
    };
    if (read.record.failure.as_ref()).is_some_and(|f| f.probable_cause.is_some()) {
        return Ok(read);
    }
    let found = match svc.logs.find_log(&prefix, &suffix).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(%flow_id, location = %prefix, error = %e, "driver log not listed");
            None
        }
    };
    let text = match &found {
        Some(key) => svc
            .logs
            .log_tail(key, MAX_PROBABLE_CAUSE_BYTES)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(%flow_id, location = %key, error = %e, "driver log not read");
                None
            }),
        None => None,
    };
    let location = found.unwrap_or_else(|| format!("{prefix}*{suffix}"));
    let (written, _) = svc
        .store
        .update_from(read, |r| {
            r.add_job_run_cause(Some(&location), text.clone(), svc.clock.now())
        })
        .await?;
    Ok(written)
}
