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
//!
//! A step the record does not hold is written only in a transaction that checks the flow is
//! still followed (see [`FlowStore::step_event`]): an ended flow's record never gains a step.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use chrono::{DateTime, Utc};

use super::items::{CLUSTER_RANK_ATTRIBUTE, FLOW_ITEM, ITEM_ATTRIBUTE, RANK_ATTRIBUTE, step_key};
use super::{DYNAMODB, FlowStore, VERSION_ATTRIBUTE, timestamp, upstream};
use crate::error::Error;
use crate::model::{ClusterState, FlowId, FlowStatus, MAX_STEP_NAME_BYTES, StepId, StepState, bounded};

/// Where a step first seen in an event goes until EMR's list places it: after every listed one.
pub const UNPLACED_STEP_INDEX: u32 = 100_000;

/// A step item's update: its state and rank move, its name and index are set only once.
const STEP_UPDATE: &str = "SET #state = :state, #rank = :rank, updated_at = :now, \
     #name = if_not_exists(#name, :name), #index = if_not_exists(#index, :index)";

/// A step's state from an event, as its item's update takes it.
struct StepWrite<'a> {
    flow_id: FlowId,
    step_id: &'a StepId,
    name: &'a str,
    state: &'a StepState,
    now: DateTime<Utc>,
}

impl StepWrite<'_> {
    fn names(&self) -> HashMap<String, String> {
        [
            ("#state", "state"),
            ("#rank", RANK_ATTRIBUTE),
            ("#name", "name"),
            ("#index", "index"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn values(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                ":state".to_owned(),
                AttributeValue::S(self.state.as_str().to_owned()),
            ),
            (
                ":rank".to_owned(),
                AttributeValue::N(self.state.rank().to_string()),
            ),
            (":now".to_owned(), AttributeValue::S(timestamp(self.now))),
            (
                ":name".to_owned(),
                AttributeValue::S(bounded(self.name, MAX_STEP_NAME_BYTES)),
            ),
            (
                ":index".to_owned(),
                AttributeValue::N(UNPLACED_STEP_INDEX.to_string()),
            ),
        ])
    }
}

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
    /// `RUNNING`. An ended flow keeps its status (its own steps still follow EMR). A state the
    /// step item holds already (a duplicate, or a late event) writes no flow item: its status is
    /// read instead, and the flow moved to `RUNNING` only if it was left behind.
    ///
    /// Ownership: a step the record does not hold yet (one added to the flow's cluster by hand,
    /// or one ListSteps has not placed) is taken in only with `adopt` (a cluster of the flow's
    /// own; never for a step flow, which owns only what AddJobFlowSteps answered) and only while
    /// the flow is followed (started, not ended), in one transaction with a check of the flow
    /// item's status: a step added to a kept-alive cluster after its flow ended is never
    /// written into the ended flow's record.
    ///
    /// Errors: [`Error::Upstream`]; [`Error::FlowNotFound`] when the flow item is gone.
    pub async fn step_event(
        &self,
        flow_id: FlowId,
        step_id: &StepId,
        name: &str,
        state: &StepState,
        now: DateTime<Utc>,
        adopt: bool,
    ) -> Result<FastWrite, Error> {
        let step = StepWrite {
            flow_id,
            step_id,
            name,
            state,
            now,
        };
        let step_changed = match self.step_forward(&step).await? {
            Some(moved) => moved,
            // Unknown to the record: taken in only with `adopt` and while the flow is followed.
            // A transaction refused because the step appeared meanwhile tries the forward move
            // once more.
            None if adopt && self.adopt_step(&step).await? => true,
            None if adopt => match self.step_forward(&step).await? {
                Some(moved) => moved,
                None => return self.unchanged(flow_id).await,
            },
            // Not the flow's: nothing of the flow changes, its status neither.
            None => return self.unchanged(flow_id).await,
        };
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

    /// The flow's status, for an event that changes nothing of it.
    async fn unchanged(&self, flow_id: FlowId) -> Result<FastWrite, Error> {
        Ok(FastWrite {
            status: self.flow_status(flow_id).await?,
            changed: false,
            event_due: false,
        })
    }

    /// Moves a step item the record holds forward: `Some(true)` when written, `Some(false)` when
    /// the item holds that state or a later one, `None` when the record has no such step.
    async fn step_forward(&self, step: &StepWrite<'_>) -> Result<Option<bool>, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(step.flow_id.to_string()))
            .key(ITEM_ATTRIBUTE, AttributeValue::S(step_key(step.step_id)))
            .update_expression(STEP_UPDATE)
            .condition_expression("attribute_exists(#rank) AND #rank < :rank")
            .set_expression_attribute_names(Some(step.names()))
            .set_expression_attribute_values(Some(step.values()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(true)),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Ok(c.item().is_some().then_some(false))
                }
                _ => Err(upstream(DYNAMODB, "UpdateItem")(e)),
            },
        }
    }

    /// Writes a step item the record does not hold, in one transaction with a check that the
    /// flow is followed: `true` when written, `false` when the flow is not followed (ended, or
    /// not started) or the step item appeared meanwhile.
    async fn adopt_step(&self, step: &StepWrite<'_>) -> Result<bool, Error> {
        let statuses = following();
        let placeholders: Vec<String> = (0..statuses.len()).map(|i| format!(":from{i}")).collect();
        let values: HashMap<String, AttributeValue> = (placeholders.iter().zip(&statuses))
            .map(|(p, s)| (p.clone(), AttributeValue::S(s.as_str().into())))
            .collect();
        let check_condition = format!("#status IN ({})", placeholders.join(", "));
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(step.flow_id.to_string()))
            .key(ITEM_ATTRIBUTE, AttributeValue::S(FLOW_ITEM.into()))
            .condition_expression(check_condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let update = Update::builder()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(step.flow_id.to_string()))
            .key(ITEM_ATTRIBUTE, AttributeValue::S(step_key(step.step_id)))
            .update_expression(STEP_UPDATE)
            .condition_expression("attribute_not_exists(#rank)")
            .set_expression_attribute_names(Some(step.names()))
            .set_expression_attribute_values(Some(step.values()))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                tracing::info!(flow_id = %step.flow_id, step_id = %step.step_id,
                    "a step the record does not hold, for a flow not followed; not taken in");
                Ok(false)
            }
            Err(e) => Err(upstream(DYNAMODB, "TransactWriteItems")(e)),
        }
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
                    None => Err(upstream(DYNAMODB, "UpdateItem")(e)),
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
            .map_err(upstream(DYNAMODB, "GetItem"))?;
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
