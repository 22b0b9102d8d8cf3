//! The flow record store: one DynamoDB table, one item per flow, keyed by `flow_id`.
//!
//! Every write is conditional. A new record is put only if its `flow_id` is free; every later
//! change is a read-modify-write guarded by the item's `version` (optimistic concurrency), so two
//! events handled at once never overwrite each other: the loser re-reads and re-applies.
//!
//! Indexes (names and keys must match `template.yaml`; a test checks):
//! - [`CLUSTER_INDEX`]: `cluster_id` → `flow_id` (keys only), to find a flow by its cluster.
//! - [`ACTIVE_INDEX`]: `active` (`"ACTIVE"` while the flow is active, absent after) + `flow_id`,
//!   a sparse index that lists active flows, newest first, without a scan.
//! - [`DEFINITION_INDEX`]: `flow` (the definition name) + `flow_id`, a definition's history.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{ClusterId, FlowId, FlowRecord, FlowStatus};

pub const CLUSTER_INDEX: &str = "by-cluster-id";
pub const ACTIVE_INDEX: &str = "active-flows";
pub const DEFINITION_INDEX: &str = "by-flow-definition";
/// The sparse attribute behind [`ACTIVE_INDEX`].
pub const ACTIVE_ATTRIBUTE: &str = "active";
const ACTIVE_VALUE: &str = "ACTIVE";
const VERSION_ATTRIBUTE: &str = "version";
/// How often a change is re-applied after losing a race before giving up.
const MAX_ATTEMPTS: usize = 8;

/// DynamoDB's limit on one item (bytes, as [`item_size`] counts them).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The size DynamoDB counts for an item: attribute names plus values, with the per-element
/// overheads of lists and maps (DynamoDB developer guide, "Item sizes and formats").
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    // A number takes a byte per two significant digits, plus one.
    let number = |n: &str| {
        n.trim_start_matches(['-', '0'])
            .chars()
            .filter(char::is_ascii_digit)
            .count()
            .div_ceil(2)
            + 1
    };
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 1, // BOOL, NULL
    }
}

/// A flow record as read, with the version its next write must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub record: FlowRecord,
    pub version: u64,
}

/// One flow in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSummary {
    pub flow_id: FlowId,
    pub flow: String,
    pub status: FlowStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<ClusterId>,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A page of flows, newest first; pass `next_token` back for the next page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub flows: Vec<FlowSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Which flows to list.
#[derive(Debug, Clone, PartialEq)]
pub enum Listing {
    /// Flows in `PENDING`, `STARTING` or `RUNNING`.
    Active,
    /// Every flow of one definition.
    Definition(String),
}

/// The DynamoDB flow record store.
#[derive(Debug, Clone)]
pub struct FlowStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn upstream<E>(operation: &'static str) -> impl FnOnce(E) -> Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    Error::upstream("DynamoDB", operation)
}

fn corrupt(e: serde_dynamo::Error) -> Error {
    Error::Internal(format!("flow record does not match the model: {e}"))
}

impl FlowStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn item(record: &FlowRecord, version: u64) -> Result<HashMap<String, AttributeValue>, Error> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(record).map_err(|e| Error::Internal(format!("flow record: {e}")))?;
        item.insert(VERSION_ATTRIBUTE.into(), AttributeValue::N(version.to_string()));
        if !record.status.is_terminal() {
            item.insert(ACTIVE_ATTRIBUTE.into(), AttributeValue::S(ACTIVE_VALUE.into()));
        }
        Ok(item)
    }

    /// The size of `record` as a DynamoDB item, in bytes ([`item_size`]).
    pub fn record_size(record: &FlowRecord) -> Result<usize, Error> {
        Ok(item_size(&Self::item(record, 1)?))
    }

    /// Writes a new record (version 1). Errors: [`Error::Conflict`] when the id is taken.
    pub async fn create(&self, record: &FlowRecord) -> Result<(), Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(record, 1)?))
            .condition_expression("attribute_not_exists(flow_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict(format!("flow {} exists already", record.flow_id)))
            }
            Err(e) => Err(upstream("PutItem")(e)),
        }
    }

    /// Reads a record (strongly consistent). `None` when no flow has that id.
    pub async fn get(&self, flow_id: FlowId) -> Result<Option<Versioned>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(flow_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(upstream("GetItem"))?;
        output.item.map(Self::versioned).transpose()
    }

    fn versioned(item: HashMap<String, AttributeValue>) -> Result<Versioned, Error> {
        let version = match item.get(VERSION_ATTRIBUTE) {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| Error::Internal("flow record has no version".into()))?;
        let record = serde_dynamo::from_item(item).map_err(corrupt)?;
        Ok(Versioned { record, version })
    }

    /// Replaces the record read as `read` with `record`, if nobody wrote it since.
    /// Returns `false` (and writes nothing) when the stored version moved on.
    pub async fn replace(&self, read: &Versioned, record: &FlowRecord) -> Result<bool, Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(record, read.version + 1)?))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", VERSION_ATTRIBUTE)
            .expression_attribute_values(":v", AttributeValue::N(read.version.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(upstream("PutItem")(e)),
        }
    }

    /// Applies `change` to the current record and writes it, re-reading and re-applying when
    /// another writer got there first. `change` returns whether it changed anything; when it
    /// did not, nothing is written.
    ///
    /// Returns the record as written (or as read, when unchanged) and whether it was changed.
    /// Errors: [`Error::FlowNotFound`]; [`Error::Conflict`] after [`MAX_ATTEMPTS`] lost races.
    pub async fn update<F>(&self, flow_id: FlowId, mut change: F) -> Result<(FlowRecord, bool), Error>
    where
        F: FnMut(&mut FlowRecord) -> bool,
    {
        for _ in 0..MAX_ATTEMPTS {
            let read = self
                .get(flow_id)
                .await?
                .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?;
            let mut record = read.record.clone();
            if !change(&mut record) {
                return Ok((read.record, false));
            }
            if self.replace(&read, &record).await? {
                return Ok((record, true));
            }
            tracing::debug!(%flow_id, "lost a write race; re-applying the change");
        }
        Err(Error::Conflict(format!(
            "flow {flow_id} changed {MAX_ATTEMPTS} times while this change was applied"
        )))
    }

    /// The flow whose cluster is `cluster_id`, if any.
    pub async fn flow_for_cluster(&self, cluster_id: &ClusterId) -> Result<Option<FlowId>, Error> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CLUSTER_INDEX)
            .key_condition_expression("cluster_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(cluster_id.to_string()))
            .limit(1)
            .send()
            .await
            .map_err(upstream("Query"))?;
        output
            .items()
            .first()
            .and_then(|item| item.get("flow_id"))
            .map(|id| match id {
                AttributeValue::S(s) => FlowId::parse(s).map_err(Error::Internal),
                _ => Err(Error::Internal("flow_id is not a string".into())),
            })
            .transpose()
    }

    /// A page of at most `limit` flows, newest first, through an index (never a scan).
    /// `next_token` is the `next_token` of the previous page.
    pub async fn list(
        &self,
        listing: &Listing,
        limit: i32,
        next_token: Option<FlowId>,
    ) -> Result<Page, Error> {
        let (index, key, value) = match listing {
            Listing::Active => (ACTIVE_INDEX, ACTIVE_ATTRIBUTE, ACTIVE_VALUE),
            Listing::Definition(name) => (DEFINITION_INDEX, "flow", name.as_str()),
        };
        let start = next_token.map(|id| {
            HashMap::from([
                ("flow_id".to_owned(), AttributeValue::S(id.to_string())),
                (key.to_owned(), AttributeValue::S(value.to_owned())),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", key)
            .expression_attribute_values(":k", AttributeValue::S(value.to_owned()))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(upstream("Query"))?;
        let next_token = output
            .last_evaluated_key()
            .and_then(|key| key.get("flow_id"))
            .and_then(|id| id.as_s().ok())
            .cloned();
        let flows = serde_dynamo::from_items(output.items.unwrap_or_default()).map_err(corrupt)?;
        Ok(Page { flows, next_token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodbs_rules() {
        let item = HashMap::from([
            (
                "flow_id".to_owned(),
                AttributeValue::S("01JDQ3V4X8M6Z0B1C2D3E4F5G6".into()),
            ),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            (
                "l".to_owned(),
                AttributeValue::L(vec![AttributeValue::N("1".into()), AttributeValue::Bool(true)]),
            ),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "ab".to_owned(),
                    AttributeValue::S("xyz".into()),
                )])),
            ),
        ]);
        // flow_id: 7 + 26; n: 1 + (3 + 1); l: 1 + 3 + (1 + 2) + (1 + 1); m: 1 + 3 + 1 + 2 + 3.
        assert_eq!(item_size(&item), 33 + 5 + 9 + 10);
    }
}
