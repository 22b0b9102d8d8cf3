//! on-state-change: the run targets' EventBridge events applied to their flows (and the reconcile sweep's
//! tick handed to [`super::reconcile`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::model::{FlowId, FlowStatus};
use crate::targets::{self, Applied, Input};

use super::follow_up;
use super::reconcile::{self, SweepReport};
use crate::services::Services;

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
    /// The event concerned several flows (a shared cluster that ended under several step
    /// flows): what it did to each.
    AppliedToFlows { flows: Vec<FlowApplied> },
    /// The reconcile sweep ran.
    Reconciled(SweepReport),
}

/// What an event did to one of the flows it concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowApplied {
    pub flow_id: FlowId,
    pub status: FlowStatus,
    pub changed: bool,
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
    let sent_at = targets::event_time(&input);
    let event = match targets::parse_input(input)? {
        Input::Reconcile => {
            return reconcile::sweep(svc, budget)
                .await
                .map(StateChangeOutcome::Reconciled);
        }
        Input::Unfollowed(what) => {
            return Ok(StateChangeOutcome::Ignored { reason: what.into() });
        }
        Input::Event(event) => *event,
    };
    if let Some(sent_at) = sent_at {
        crate::aws::metrics::event_lag(svc.clock.now() - sent_at);
    }
    let applied = match targets::apply_event(svc, event).await? {
        Applied::Ignored(reason) => return Ok(StateChangeOutcome::Ignored { reason }),
        Applied::Flows(each) => each,
        one => vec![one],
    };
    let mut flows = Vec::new();
    for applied in applied {
        if let Applied::Flow {
            flow_id,
            status,
            changed,
            follow_up,
        } = applied
        {
            for written in follow_up {
                follow_up::follow_up(svc, written).await?;
            }
            flows.push(FlowApplied {
                flow_id,
                status,
                changed,
            });
        }
    }
    Ok(match <[FlowApplied; 1]>::try_from(flows) {
        Ok([one]) => StateChangeOutcome::Applied {
            flow_id: one.flow_id,
            status: one.status,
            changed: one.changed,
        },
        Err(flows) => StateChangeOutcome::AppliedToFlows { flows },
    })
}
