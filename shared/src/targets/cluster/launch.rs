//! Launching a flow's cluster and finding it again. RunJobFlow is not idempotent (it takes no
//! client token), so it is never sent twice: each cluster carries its flow's id as a tag, and a
//! launch whose answer was lost is resolved by looking for that tag (at once, then by the
//! sweep). A tagged cluster a record does not name is adopted by a flow still waiting for its
//! launch, or terminated as an extra.

use chrono::{DateTime, Duration, Utc};

use crate::aws::emr::Launch;
use crate::catalog::job_flow::JobFlow;
use crate::error::Error;
use crate::model::{ClusterId, FlowId, FlowRecord};
use crate::services::Services;
use crate::store::Versioned;
use crate::targets::seam::{Launched, refused};

/// How long before its record's creation time a lost launch's cluster is looked for (clock
/// skew between the function and EMR).
pub const CLOCK_SKEW: Duration = Duration::minutes(2);

/// Sends RunJobFlow once for the flow recorded as `record` and records what came of it; a lost
/// answer is followed at once by a look for the flow's tagged clusters.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails (EMR's refusal is [`Launched::Refused`]).
pub async fn launch(svc: &Services, request: &JobFlow, created: Versioned) -> Result<Launched, Error> {
    let flow_id = created.record.flow_id;
    let cluster_id = match svc.emr.run_job_flow(request).await {
        Launch::Launched(id) => id,
        Launch::Refused(message) => {
            tracing::error!(%flow_id, error = %message, "EMR refused RunJobFlow; flow FAILED");
            return refused(svc, created, "EMR", "RunJobFlow", message).await;
        }
        Launch::Unknown(message) => {
            return launch_unknown(svc, flow_id, &message)
                .await
                .map(Launched::Unknown);
        }
    };
    // The steps' ids come from EMR; without them the events still fill the steps in.
    let steps = match svc.emr.list_steps(&cluster_id).await {
        Ok(steps) => steps,
        Err(e) => {
            tracing::warn!(%flow_id, %cluster_id, error = %e, "ListSteps failed; steps come from events");
            Vec::new()
        }
    };
    let (written, started) = svc
        .store
        .update_from(created, |r| r.started(&cluster_id, &steps, svc.clock.now()))
        .await?;
    if started {
        svc.store.remember(&cluster_id, flow_id);
    } else if written.record.cluster_id.as_ref() != Some(&cluster_id) {
        // An event adopted another cluster first (impossible without a second RunJobFlow, but
        // one cluster per flow is the rule): this one is an extra.
        adopt_or_terminate(svc, written.clone(), &cluster_id).await?;
    }
    tracing::info!(%flow_id, %cluster_id, "job flow launched");
    Ok(Launched::Started(written))
}

/// RunJobFlow's answer was lost: the flow stays `PENDING`, noted, and its cluster is looked
/// for by the flow-id tag at once; if EMR lists none yet, the sweep looks again and adopts it or
/// ends the flow `FAILED`.
async fn launch_unknown(svc: &Services, flow_id: FlowId, message: &str) -> Result<Versioned, Error> {
    tracing::warn!(%flow_id, error = %message, "RunJobFlow's answer was lost; looking for the flow's tagged cluster");
    let (record, _) = svc
        .store
        .update(flow_id, |r| r.launch_uncertain(message, svc.clock.now()))
        .await?;
    match tagged_clusters(svc, &record).await {
        Ok(clusters) => {
            for cluster_id in &clusters {
                let read = svc.store.read(flow_id).await?;
                if let Tagged::Own(_) | Tagged::Adopted(_) = adopt_or_terminate(svc, read, cluster_id).await?
                {
                    tracing::info!(%flow_id, %cluster_id, "found the flow's cluster by its tag")
                }
            }
        }
        Err(e) => tracing::warn!(%flow_id, error = %e, "tagged clusters not listed; the sweep looks again"),
    }
    svc.store.read(flow_id).await
}

/// The clusters carrying the flow's tag, oldest first, created since shortly before it was
/// submitted.
async fn tagged_clusters(svc: &Services, record: &FlowRecord) -> Result<Vec<ClusterId>, Error> {
    let since: DateTime<Utc> = record.submitted_at - CLOCK_SKEW;
    svc.emr
        .tagged_clusters(record.flow_id, &record.cluster_name, since)
        .await
}

/// A `PENDING` flow whose RunJobFlow answer was lost (seen by the sweep): the oldest cluster
/// carrying its tag is its own, any other is terminated; with none, the flow ends `FAILED`
/// (`RUN_JOB_FLOW_LOST`). Returns the record as last written or read.
///
/// Errors: [`Error::Upstream`] when EMR cannot list clusters or DynamoDB fails.
pub async fn recover_launch(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let clusters = tagged_clusters(svc, &read.record).await?;
    let Some((own, extras)) = clusters.split_first() else {
        let (written, ended) = svc
            .store
            .update_from(read, |r| r.launch_lost(svc.clock.now()))
            .await?;
        if ended {
            tracing::error!(%flow_id, "RunJobFlow's answer was lost and no cluster carries the flow's tag; flow FAILED");
        }
        return Ok(written);
    };
    adopt_or_terminate(svc, read, own).await?;
    for extra in extras {
        let read = svc.store.read(flow_id).await?;
        if adopt_or_terminate(svc, read, extra).await? != Tagged::Extra(flow_id) {
            tracing::error!(%flow_id, cluster_id = %extra, "a second tagged cluster was taken as the flow's own");
        }
    }
    svc.store.read(flow_id).await
}

/// What a cluster carrying a flow's tag turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Tagged {
    /// The flow's own cluster, already recorded.
    Own(FlowId),
    /// The flow's own cluster, recorded now (its launch was never recorded): the record as
    /// written, whose follow-up work (a termination asked while `PENDING`) is the caller's.
    Adopted(Box<Versioned>),
    /// Another cluster of a flow that has one (or has ended): terminated and noted.
    Extra(FlowId),
    /// Not a flow of this deployment.
    Stranger,
}

/// Finds the flow a cluster no record names belongs to, through its flow-id tag: a `PENDING`
/// flow takes it as its cluster (its launch answer was lost); a flow with another cluster, or
/// one that ended, gets it terminated and noted as an extra cluster.
///
/// Errors: [`Error::Upstream`] when EMR or DynamoDB fail.
pub async fn claim_tagged_cluster(svc: &Services, cluster_id: &ClusterId) -> Result<Tagged, Error> {
    let Some(flow_id) = svc.emr.tagged_flow_id(cluster_id).await? else {
        return Ok(Tagged::Stranger);
    };
    let Some(read) = svc.store.get(flow_id).await? else {
        // Tagged for a flow of another deployment (or table).
        return Ok(Tagged::Stranger);
    };
    adopt_or_terminate(svc, read, cluster_id).await
}

/// Adopts `cluster_id` for the flow read as `read`, or terminates it as an extra.
///
/// Errors: [`Error::Upstream`] when EMR or DynamoDB fail.
pub async fn adopt_or_terminate(
    svc: &Services,
    read: Versioned,
    cluster_id: &ClusterId,
) -> Result<Tagged, Error> {
    let flow_id = read.record.flow_id;
    if read.record.cluster_id.as_ref() == Some(cluster_id) {
        return Ok(Tagged::Own(flow_id));
    }
    if read.record.cluster_id.is_none() && !read.record.status.is_terminal() {
        let steps = svc.emr.list_steps(cluster_id).await?;
        let (written, adopted) = svc
            .store
            .update_from(read, |r| r.started(cluster_id, &steps, svc.clock.now()))
            .await?;
        if written.record.cluster_id.as_ref() == Some(cluster_id) {
            if adopted {
                tracing::warn!(%flow_id, %cluster_id, "adopted a cluster whose launch was never recorded");
            }
            svc.store.remember(cluster_id, flow_id);
            return Ok(Tagged::Adopted(Box::new(written)));
        }
        // Another writer recorded another cluster first: this one is an extra.
        return terminate_extra(svc, flow_id, cluster_id).await;
    }
    terminate_extra(svc, flow_id, cluster_id).await
}

/// Notes `cluster_id` as an extra cluster of `flow_id` and terminates it.
async fn terminate_extra(svc: &Services, flow_id: FlowId, cluster_id: &ClusterId) -> Result<Tagged, Error> {
    let (record, _) = svc
        .store
        .update(flow_id, |r| r.note_extra_cluster(cluster_id, svc.clock.now()))
        .await?;
    let noted = record.extra_clusters.iter().find(|c| &c.cluster_id == cluster_id);
    if noted.is_some_and(|c| c.terminated_at.is_some()) {
        return Ok(Tagged::Extra(flow_id));
    }
    let result = svc.emr.terminate(cluster_id).await.map_err(|e| e.to_string());
    match &result {
        Ok(()) => {
            tracing::warn!(%flow_id, %cluster_id, "terminated an extra cluster carrying the flow's tag")
        }
        Err(e) => tracing::error!(%flow_id, %cluster_id, error = %e, "could not terminate an extra cluster"),
    }
    svc.store
        .update(flow_id, |r| {
            r.extra_cluster_terminated(cluster_id, result.clone(), svc.clock.now())
        })
        .await?;
    Ok(Tagged::Extra(flow_id))
}
