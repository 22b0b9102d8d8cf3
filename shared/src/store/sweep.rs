//! What the reconcile sweep asks of the table: the flows due by a time, from the sparse
//! [`super::ACTIVE_INDEX`] only, and the lease that keeps two sweeps from working at once.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::FlowId;

use super::items::ITEM_ATTRIBUTE;
use super::{
    ACTIVE_ATTRIBUTE, ACTIVE_INDEX, ACTIVE_VALUE, DYNAMODB, FlowStore, SETTLING_VALUE, SWEEP_AT_ATTRIBUTE,
    SWEEP_LEASE_KEY, timestamp, upstream, written,
};

impl FlowStore {
    /// The flows the reconcile sweep should look at by `now` ([`FlowRecord::next_sweep_at`]),
    /// from the sparse [`ACTIVE_INDEX`] only: its cost grows with active and settling flows,
    /// never with history. Oldest first.
    pub async fn due_for_sweep(&self, now: DateTime<Utc>) -> Result<Vec<FlowId>, Error> {
        let mut due = Vec::new();
        for partition in [ACTIVE_VALUE, SETTLING_VALUE] {
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ACTIVE_INDEX)
                .key_condition_expression("#k = :k")
                .filter_expression("#s <= :now")
                .expression_attribute_names("#k", ACTIVE_ATTRIBUTE)
                .expression_attribute_names("#s", SWEEP_AT_ATTRIBUTE)
                .expression_attribute_values(":k", AttributeValue::S(partition.to_owned()))
                .expression_attribute_values(":now", AttributeValue::S(timestamp(now)))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(upstream(DYNAMODB, "Query"))?;
                if let Some(id) = item.get("flow_id").and_then(|v| v.as_s().ok()) {
                    due.push(FlowId::parse(id).map_err(Error::Internal)?);
                }
            }
        }
        due.sort();
        Ok(due)
    }

    /// Takes the sweep's lease for `owner` until `until`, if no other sweep holds one that
    /// has not expired: two sweeps never work at once. Returns whether it was taken.
    pub async fn take_sweep_lease(
        &self,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("flow_id", AttributeValue::S(SWEEP_LEASE_KEY.into()))
            .item(ITEM_ATTRIBUTE, AttributeValue::S("lease".into()))
            .item("owner", AttributeValue::S(owner.to_owned()))
            .item("until", AttributeValue::S(timestamp(until)))
            .condition_expression("attribute_not_exists(flow_id) OR #u < :now")
            .expression_attribute_names("#u", "until")
            .expression_attribute_values(":now", AttributeValue::S(timestamp(now)))
            .send()
            .await;
        written(result, "PutItem")
    }

    /// Gives the sweep's lease back, if `owner` still holds it.
    pub async fn release_sweep_lease(&self, owner: &str) -> Result<(), Error> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(SWEEP_LEASE_KEY.into()))
            .key(ITEM_ATTRIBUTE, AttributeValue::S("lease".into()))
            .condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        written(result, "DeleteItem").map(|_| ())
    }
}
