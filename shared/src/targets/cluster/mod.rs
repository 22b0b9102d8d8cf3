//! The cluster target: a flow that runs on an EMR cluster of its own (RunJobFlow), followed
//! through EMR's cluster and step events ([`events`]), its outcome decided from the cluster's
//! facts by [`crate::model::outcome`].
//!
//! - [`launch`]: RunJobFlow once, the cluster found again by the flow-id tag when the answer
//!   was lost, tagged clusters adopted or terminated as extras.
//! - [`facts`]: EMR's facts about the flow's cluster applied to the record (with the steps,
//!   failure details and instance hours fetched when they may end the flow), the sweep's
//!   repair, termination, and a failed step's late cause and log.
//!
//! Nothing here calls back into the operations: what a changed record asks for next
//! (deliveries, a termination due) is carried out by the caller (`ops`).

pub mod events;
pub mod facts;
pub mod launch;

use crate::error::Error;
use crate::services::Services;
use crate::targets::seam::{Applied, after_fast_write};

use events::EmrEvent;
use launch::Tagged;

/// Applies one EMR event to the flow whose cluster it concerns: found by the cluster index, or
/// by the cluster's flow-id tag (a launch whose answer was lost is adopted; an extra cluster
/// is terminated). Step events and cluster events that cannot end the flow are conditional
/// writes without a read (`store::fast`); a state that may end the flow is decided from all
/// the facts (see [`facts::apply_facts`]).
///
/// Errors: [`Error::Upstream`] when DynamoDB or EMR fail; [`Error::FlowNotFound`].
pub async fn apply_event(svc: &Services, event: EmrEvent) -> Result<Applied, Error> {
    let cluster_id = event.cluster_id().clone();
    let mut follow_up = Vec::new();
    let flow_id = match svc.store.flow_for_cluster(&cluster_id).await? {
        Some(flow_id) => flow_id,
        None => match launch::claim_tagged_cluster(svc, &cluster_id).await? {
            Tagged::Own(flow_id) => flow_id,
            Tagged::Adopted(written) => {
                let flow_id = written.record.flow_id;
                follow_up.push(*written);
                flow_id
            }
            Tagged::Extra(flow_id) => {
                return Ok(Applied::Ignored(format!(
                    "cluster {cluster_id} is an extra cluster of flow {flow_id}; terminated"
                )));
            }
            Tagged::Stranger => {
                tracing::info!(%cluster_id, "event for a cluster that is no flow's; ignored");
                return Ok(Applied::Ignored(format!("cluster {cluster_id} is no flow's")));
            }
        },
    };
    let (status, changed) = match event {
        // Warm and non-terminal: conditional updates, no read (see `store::fast`).
        EmrEvent::Step(step) => {
            let write = (svc.store)
                .step_event(
                    flow_id,
                    &step.step_id,
                    &step.name,
                    &step.state,
                    svc.clock.now(),
                    true,
                )
                .await?;
            follow_up.extend(after_fast_write(svc, flow_id, &write).await?);
            (write.status, write.changed)
        }
        EmrEvent::Cluster(change) if !change.facts.may_end_flow() => {
            let write = (svc.store)
                .cluster_event(flow_id, &change.facts.state, svc.clock.now())
                .await?;
            follow_up.extend(after_fast_write(svc, flow_id, &write).await?);
            (write.status, write.changed)
        }
        // A state that may end the flow: read once, decide from all the facts; what is due
        // then (deliveries) is carried out from the record as written.
        EmrEvent::Cluster(change) => {
            let read = svc.store.read(flow_id).await?;
            let (written, changed) = facts::apply_facts(svc, read, &cluster_id, change.facts, None).await?;
            let status = written.record.status;
            follow_up.push(written);
            (status, changed)
        }
    };
    tracing::info!(%flow_id, %cluster_id, %status, changed, "event applied");
    Ok(Applied::Flow {
        flow_id,
        status,
        changed,
        follow_up,
    })
}
