//! The steps target: a flow that runs as steps on a long-running cluster that is not its own
//! (AddJobFlowSteps), owning exactly the steps it added: its outcome, callbacks, termination
//! (CancelSteps) and sweep concern only those ([`crate::model::decide_steps_outcome`]).
//!
//! - [`launch`]: the cluster found (by id, or by name and/or tags) and checked at submit;
//!   AddJobFlowSteps once, a lost answer resolved by the steps' marker.
//! - [`facts`]: the flow's own steps applied (from events, the cluster's end, the sweep's
//!   ListSteps by step ids), CancelSteps, a failed step's late cause and log.
//!
//! Events: a step event names its flow by the marker in the step's name (no read to find it)
//! and changes the record only for a step the record holds; a cluster event concerns the
//! cluster's active step flows only when the cluster ended (`WAITING` never ends a step flow),
//! found through the sparse index of active step flows per cluster.

pub mod facts;
pub mod launch;

use crate::catalog::cluster_steps::marked_flow;
use crate::error::Error;
use crate::model::{ClusterId, FlowId, ListedStep, StepState, Target};
use crate::services::Services;
use crate::targets::cluster::events::{ClusterChange, EmrEvent, StepChange};
use crate::targets::seam::{Applied, after_fast_write};

/// The flow a step event's step is marked with, if any (see
/// [`crate::catalog::cluster_steps::marker`]).
pub fn marked(step: &StepChange) -> Option<FlowId> {
    marked_flow(&step.name)
}

/// Applies a step event to the step flow `flow_id` its name marks: only for a step its record
/// holds (an operator's step copying the name changes nothing). A state that cannot end the
/// flow (pending, running, cancel pending) is a conditional write without a read
/// (`store::fast`, adopting nothing); an ended step is applied with the record's rule.
///
/// Errors: [`Error::Upstream`]; [`Error::FlowNotFound`] for a marker naming no flow.
pub async fn apply_step_event(svc: &Services, flow_id: FlowId, step: StepChange) -> Result<Applied, Error> {
    let ended = step.state.rank() >= StepState::Completed.rank();
    if !ended {
        let write = (svc.store)
            .step_event(
                flow_id,
                &step.step_id,
                &step.name,
                &step.state,
                svc.clock.now(),
                false,
            )
            .await?;
        let follow_up = after_fast_write(svc, flow_id, &write).await?;
        return Ok(Applied::Flow {
            flow_id,
            status: write.status,
            changed: write.changed,
            follow_up,
        });
    }
    let read = svc.store.read(flow_id).await?;
    if read.record.target == Target::Cluster {
        // A cluster flow's step whose name happens to end like a marker: its cluster's rules.
        return Box::pin(crate::targets::cluster::apply_event(svc, EmrEvent::Step(step))).await;
    }
    if !read.record.steps.contains_key(&step.step_id) {
        tracing::info!(%flow_id, step_id = %step.step_id, "a marked step the flow does not hold; ignored");
        return Ok(Applied::Flow {
            flow_id,
            status: read.record.status,
            changed: false,
            follow_up: Vec::new(),
        });
    }
    let listed = ListedStep {
        id: step.step_id.clone(),
        name: step.name.clone(),
        state: step.state.clone(),
    };
    let (written, changed) = facts::apply_steps(svc, read, &step.cluster_id, &[listed], None, None).await?;
    tracing::info!(%flow_id, step_id = %step.step_id, status = %written.record.status, changed, "step event applied");
    Ok(Applied::Flow {
        flow_id,
        status: written.record.status,
        changed,
        follow_up: vec![written],
    })
}

/// Applies an ended cluster's facts to its active step flows (none: nothing to do, and no
/// flow read). Returns one [`Applied::Flow`] per flow.
///
/// Errors: [`Error::Upstream`].
pub async fn apply_cluster_event(svc: &Services, change: &ClusterChange) -> Result<Vec<Applied>, Error> {
    if !change.facts.state.is_ended() {
        return Ok(Vec::new());
    }
    let cluster_id: &ClusterId = &change.cluster_id;
    let applied = facts::apply_cluster_end(svc, cluster_id, &change.facts).await?;
    Ok(applied
        .into_iter()
        .map(|(written, changed)| Applied::Flow {
            flow_id: written.record.flow_id,
            status: written.record.status,
            changed,
            follow_up: vec![written],
        })
        .collect())
}
