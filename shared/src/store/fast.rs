//! Writes for non-terminal events that need no read: a step's state change (its step item, then
//! the flow item) and a cluster state that cannot end the flow (the flow item). Each is one
//! conditional UpdateItem per item, so a warm event costs at most two round trips and writes a
//! few hundred bytes, whatever the number of steps.
//!
//! The conditions are the record's rules ([`crate::model::record`]) said in DynamoDB's words,
//! built from the same functions: a step moves only to a higher [`StepState::rank`]; a cluster
//! state only to a higher [`ClusterState::rank`] (`RUNNING` and `WAITING` alternate; an unknown
//! state never replaces a known one); the flow moves to `RUNNING` only from an earlier active
//! status ([`FlowStatus::predecessors`]), and an ended flow is never touched.
//!
//! An event that changes nothing writes nothing: a duplicate or late cluster state is refused by
//! the flow item's condition, and a duplicate or late step state by the step item's, after
//! which the flow item is only read (its status, for the answer), not written, unless it lacks
//! the `RUNNING` the step implies (a write lost between the two).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::items::{CLUSTER_RANK_ATTRIBUTE, FLOW_ITEM, ITEM_ATTRIBUTE, RANK_ATTRIBUTE, step_key};
use super::{FlowStore, VERSION_ATTRIBUTE, timestamp, upstream, written};
use crate::error::Error;
use crate::model::{ClusterState, FlowId, FlowStatus, MAX_STEP_NAME_BYTES, StepId, StepState, bounded};

/// Where a step first seen in an event goes until EMR's list places it: after every listed one.
pub const UNPLACED_STEP_INDEX: u32 = 100_000;

/// What a fast write did.
#[derive(Debug, Clone, PartialEq)]
pub struct FastWrite {
    /// The flow's status after the write (or as found, when nothing was written).
    pub status: FlowStatus,
    /// Whether the record changed (a duplicate or late event changes nothing).
    pub changed: bool,
    /// Whether the write moved the status of a flow that publishes flow events (it has an
    /// `event_bus`): the new status's event is then for the caller to record
    /// ([`crate::model::FlowRecord::note_status_event`]), which this write could not.
    pub event_due: bool,
}

/// The statuses a non-terminal event may touch: a flow that has its cluster and has not ended.
fn following() -> Vec<FlowStatus> {
    FlowStatus::ACTIVE
        .into_iter()
        .filter(|s| *s != FlowStatus::Pending)
        .collect()
}

impl FlowStore {
    /// Records a step's state from an event: the step item moves forward only; the flow item
    /// notes EMR's word (`last_contact_at`) and, for a running or completed step, moves to
    /// `RUNNING`. An ended flow keeps its status (its steps still follow EMR). A state the step
    /// item holds already (a duplicate, or a late event) writes no flow item: its status is read
    /// instead, and the flow moved to `RUNNING` only if it was left behind.
    ///
    /// Errors: [`Error::Upstream`]; [`Error::FlowNotFound`] when the flow item is gone.
    pub async fn step_event(
        &self,
        flow_id: FlowId,
        step_id: &StepId,
        name: &str,
        state: &StepState,
        now: DateTime<Utc>,
    ) -> Result<FastWrite, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(flow_id.to_string()))
            .key(ITEM_ATTRIBUTE, AttributeValue::S(step_key(step_id)))
            .update_expression(
                "SET #state = :state, #rank = :rank, updated_at = :now, \
                 #name = if_not_exists(#name, :name), #index = if_not_exists(#index, :index)",
            )
            .condition_expression("attribute_not_exists(#rank) OR #rank < :rank")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#rank", RANK_ATTRIBUTE)
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#index", "index")
            .expression_attribute_values(":state", AttributeValue::S(state.as_str().to_owned()))
            .expression_attribute_values(":rank", AttributeValue::N(state.rank().to_string()))
            .expression_attribute_values(":now", AttributeValue::S(timestamp(now)))
            .expression_attribute_values(":name", AttributeValue::S(bounded(name, MAX_STEP_NAME_BYTES)))
            .expression_attribute_values(":index", AttributeValue::N(UNPLACED_STEP_INDEX.to_string()))
            .send()
            .await;
        let step_changed = written(result, "UpdateItem")?;
        let running = matches!(state, StepState::Running | StepState::Completed);
        if !step_changed {
            let status = self.flow_status(flow_id).await?;
            let behind =
                FlowStatus::Running.predecessors().contains(&status) && following().contains(&status);
            if !(running && behind) {
                return Ok(FastWrite {
                    status,
                    changed: false,
                    event_due: false,
                });
            }
        }
        let flow = self
            .touch_flow(flow_id, now, running.then_some(FlowStatus::Running), None)
            .await?;
        Ok(FastWrite {
            status: flow.status,
            changed: step_changed || flow.changed,
            event_due: flow.event_due,
        })
    }

    /// Records a cluster state that cannot end the flow (`STARTING`, `BOOTSTRAPPING`,
    /// `RUNNING`, `TERMINATING`, or one EMR added later): only forward, and a running cluster
    /// moves the flow to `RUNNING`.
    ///
    /// Errors: [`Error::Upstream`].
    pub async fn cluster_event(
        &self,
        flow_id: FlowId,
        state: &ClusterState,
        now: DateTime<Utc>,
    ) -> Result<FastWrite, Error> {
        let status = (*state == ClusterState::Running).then_some(FlowStatus::Running);
        self.touch_flow(flow_id, now, status, Some(state)).await
    }

    /// One conditional UpdateItem of the flow item: `last_contact_at`, and the status and
    /// cluster state when given, while the flow is followed.
    async fn touch_flow(
        &self,
        flow_id: FlowId,
        now: DateTime<Utc>,
        status: Option<FlowStatus>,
        cluster_state: Option<&ClusterState>,
    ) -> Result<FastWrite, Error> {
        let mut set = vec!["last_contact_at = :now", "updated_at = :now", "#v = #v + :one"];
        let mut names = HashMap::from([
            ("#v".to_owned(), VERSION_ATTRIBUTE.to_owned()),
            ("#status".to_owned(), "status".to_owned()),
        ]);
        let mut values = HashMap::from([
            (":now".to_owned(), AttributeValue::S(timestamp(now))),
            (":one".to_owned(), AttributeValue::N("1".into())),
        ]);
        // The statuses this write may start from.
        let allowed: Vec<FlowStatus> = match status {
            Some(target) => {
                set.push("#status = :target");
                values.insert(":target".into(), AttributeValue::S(target.as_str().into()));
                let mut from: Vec<_> = target.predecessors();
                from.push(target);
                from.retain(|s| following().contains(s));
                from
            }
            None => following(),
        };
        let placeholders: Vec<String> = (0..allowed.len()).map(|i| format!(":from{i}")).collect();
        for (placeholder, s) in placeholders.iter().zip(&allowed) {
            values.insert(placeholder.clone(), AttributeValue::S(s.as_str().into()));
        }
        let mut condition = format!("#status IN ({})", placeholders.join(", "));
        if let Some(state) = cluster_state {
            set.push("cluster_state = :state, #cr = :rank");
            names.insert("#cr".into(), CLUSTER_RANK_ATTRIBUTE.into());
            names.insert("#cs".into(), "cluster_state".into());
            values.insert(":state".into(), AttributeValue::S(state.as_str().into()));
            values.insert(":rank".into(), AttributeValue::N(state.rank().to_string()));
            condition.push_str(
                " AND (attribute_not_exists(#cr) OR #cr < :rank OR (#cr = :rank AND #cs <> :state))",
            );
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(flow_id.to_string()))
            .key(ITEM_ATTRIBUTE, AttributeValue::S(FLOW_ITEM.into()))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(format!("attribute_exists(#v) AND {condition}"))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let before = (output.attributes.as_ref())
                    .and_then(status_of)
                    .ok_or_else(|| Error::Internal(format!("flow {flow_id} has no status")))?;
                let after = status.unwrap_or(before);
                Ok(FastWrite {
                    status: after,
                    // The condition held, so a given cluster state was new.
                    changed: cluster_state.is_some() || before != after,
                    event_due: before != after
                        && (output.attributes.as_ref()).is_some_and(|old| old.contains_key("event_bus")),
                })
            }
            Err(e) => {
                let old = e
                    .as_service_error()
                    .filter(|e| e.is_conditional_check_failed_exception())
                    .map(|e| match e {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                            c.item().and_then(status_of)
                        }
                        _ => None,
                    });
                match old {
                    Some(Some(status)) => Ok(FastWrite {
                        status,
                        changed: false,
                        event_due: false,
                    }),
                    Some(None) => Err(Error::FlowNotFound(flow_id.to_string())),
                    None => Err(upstream("UpdateItem")(e)),
                }
            }
        }
    }

    /// The flow's status, read alone (strongly consistent: it answers the event).
    ///
    /// Errors: [`Error::FlowNotFound`]; [`Error::Upstream`].
    async fn flow_status(&self, flow_id: FlowId) -> Result<FlowStatus, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(flow_id.to_string()))
            .key(ITEM_ATTRIBUTE, AttributeValue::S(FLOW_ITEM.into()))
            .projection_expression("#status")
            .expression_attribute_names("#status", "status")
            .consistent_read(true)
            .send()
            .await
            .map_err(upstream("GetItem"))?;
        let item = output
            .item
            .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?;
        status_of(&item).ok_or_else(|| Error::Internal(format!("flow {flow_id} has no status")))
    }
}

fn status_of(item: &HashMap<String, AttributeValue>) -> Option<FlowStatus> {
    let text = item.get("status")?.as_s().ok()?;
    FlowStatus::ALL.into_iter().find(|s| s.as_str() == text)
}
