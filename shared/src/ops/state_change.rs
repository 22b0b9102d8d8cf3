//! on-state-change: EMR's EventBridge events applied to their flows (and the reconcile sweep's
//! tick handed to [`super::reconcile`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::model::{FlowId, FlowStatus};
use crate::targets::cluster::events::{self, EmrEvent, Input};

use super::Services;
use super::reconcile::{self, SweepReport};
use super::settle::{self, Tagged};

/// What on-state-change did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChangeOutcome {
    /// The event is not about a flow's cluster, or not of a kind emr-flows follows.
    Ignored { reason: String },
    /// The event was applied to the flow (or changed nothing: a duplicate or a late event).
    Applied {
        flow_id: FlowId,
        status: FlowStatus,
        changed: bool,
    },
    /// The reconcile sweep ran.
    Reconciled(SweepReport),
}

/// Applies an EMR EventBridge event to its flow, or runs the reconcile sweep for a scheduled
/// event (within `budget`, the time the invocation has left). When the flow has ended, its due
/// callbacks are delivered, each attempt recorded; a failed delivery is retried by the sweep,
/// so the invocation still succeeds.
///
/// Errors: [`Error::Validation`] for a malformed event; [`Error::Upstream`] when DynamoDB or
/// EMR fail. The invocation is then retried (Lambda's asynchronous retries, EventBridge's retry
/// policy); every write is conditional, so a retry repeats nothing that was done.
pub async fn on_state_change(
    svc: &Services,
    input: Value,
    budget: Duration,
) -> Result<StateChangeOutcome, Error> {
    let sent_at = events::event_time(&input);
    let event = match events::parse_input(input)? {
        Input::Reconcile => {
            return reconcile::sweep(svc, budget)
                .await
                .map(StateChangeOutcome::Reconciled);
        }
        Input::OtherEmr => {
            return Ok(StateChangeOutcome::Ignored {
                reason: "not a cluster or step state change".into(),
            });
        }
        Input::Emr(event) => *event,
    };
    if let Some(sent_at) = sent_at {
        crate::aws::metrics::event_lag(svc.clock.now() - sent_at);
    }
    let cluster_id = event.cluster_id().clone();
    let flow_id = match svc.store.flow_for_cluster(&cluster_id).await? {
        Some(flow_id) => flow_id,
        None => match settle::claim_tagged_cluster(svc, &cluster_id).await? {
            Tagged::Own(flow_id) => flow_id,
            Tagged::Extra(flow_id) => {
                return Ok(StateChangeOutcome::Ignored {
                    reason: format!("cluster {cluster_id} is an extra cluster of flow {flow_id}; terminated"),
                });
            }
            Tagged::Stranger => {
                tracing::info!(%cluster_id, "event for a cluster that is no flow's; ignored");
                return Ok(StateChangeOutcome::Ignored {
                    reason: format!("cluster {cluster_id} is no flow's"),
                });
            }
        },
    };
    let (status, changed) = match event {
        // Warm and non-terminal: conditional updates, no read (see `store::fast`).
        EmrEvent::Step(step) => {
            let write = (svc.store)
                .step_event(flow_id, &step.step_id, &step.name, &step.state, svc.clock.now())
                .await?;
            (write.status, write.changed)
        }
        EmrEvent::Cluster(change) if !change.facts.may_end_flow() => {
            let write = (svc.store)
                .cluster_event(flow_id, &change.facts.state, svc.clock.now())
                .await?;
            (write.status, write.changed)
        }
        // A state that may end the flow: read once, decide from all the facts, carry out what
        // is due (deliveries) from the record as written.
        EmrEvent::Cluster(change) => {
            let (written, changed) = settle::apply_facts(
                svc,
                svc.store.read(flow_id).await?,
                &cluster_id,
                change.facts,
                None,
            )
            .await?;
            let written = settle::follow_up(svc, written).await?;
            (written.record.status, changed)
        }
    };
    tracing::info!(%flow_id, %cluster_id, %status, changed, "event applied");
    Ok(StateChangeOutcome::Applied {
        flow_id,
        status,
        changed,
    })
}
