//! The flow record store: one DynamoDB table keyed by `flow_id` (partition) and `item` (sort).
//! A flow is a small flow item (`item = "flow"`: everything but the steps) and one item per step
//! (`item = "step#s-…"`), so a step's change writes a few hundred bytes whatever the number of
//! steps, and one Query reads a whole record (see [`items`]).
//!
//! Every write is conditional. A new record is put only if its `flow_id` is free; a change of the
//! flow item is a read-modify-write guarded by its `version` (optimistic concurrency), so two
//! events handled at once never overwrite each other: the loser waits a jittered, growing
//! moment, re-reads and re-applies. A step item only moves forward (its state's rank is in the
//! condition). Warm, non-terminal events take the [`fast`] path: conditional updates that need
//! no read at all.
//!
//! Indexes (names and keys must match `template.yaml`; a test checks):
//! - [`CLUSTER_INDEX`]: `cluster_id` → `flow_id` (keys only), to find a flow by its cluster.
//! - [`ACTIVE_INDEX`]: `active` + `flow_id`, sparse: `active` is `"ACTIVE"` while the flow is
//!   active, `"SETTLING"` while an ended flow still has work (a delivery to retry, a termination
//!   to repeat, a cause to fetch), absent after. Lists active flows, newest first, and gives the
//!   reconcile sweep its work, without a scan and without reading history.
//! - [`DEFINITION_INDEX`]: `flow` (the definition name) + `flow_id`, a definition's history.
//! - [`ACTIVE_STEPS_INDEX`]: `active_steps_cluster` + `flow_id` (keys only), sparse: the
//!   unfinished step flows on a shared cluster, so a cluster event reads only those, however
//!   many flows ever ran there (see [`items`]).
//!
//! Besides flow records the table holds two kinds of small items, keyed so that no flow id can
//! name them: idempotency keys (`idempotency#KEY`, expiring through the table's TTL attribute
//! `expires_at`) and the sweep's lease (`sweep#lease`).

use std::collections::HashMap;

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use backon::BackoffBuilder;
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::{ClusterId, FlowId, FlowRecord};

pub mod fast;
pub mod items;
mod listing;
mod sweep;

pub use listing::{FlowSummary, Listing, Page};

use items::{FLOW_ITEM, ITEM_ATTRIBUTE, flow_item, step_item};

pub(crate) use crate::aws::upstream;

/// The service as errors and the `AwsApiErrors` metric name it.
pub(crate) const DYNAMODB: &str = "DynamoDB";

pub const CLUSTER_INDEX: &str = "by-cluster-id";
pub const ACTIVE_INDEX: &str = "active-flows";
pub const DEFINITION_INDEX: &str = "by-flow-definition";
pub const ACTIVE_STEPS_INDEX: &str = "active-steps-by-cluster";
/// The sparse attribute behind [`ACTIVE_INDEX`].
pub const ACTIVE_ATTRIBUTE: &str = "active";
const ACTIVE_VALUE: &str = "ACTIVE";
const SETTLING_VALUE: &str = "SETTLING";
/// When the reconcile sweep should next look at a flow (RFC 3339, UTC; sorts as time).
pub const SWEEP_AT_ATTRIBUTE: &str = "sweep_at";
/// What a listing summary ([`FlowSummary`]) shows besides `flow_id`: the listing indexes
/// project these (a test holds `template.yaml` to it).
pub const SUMMARY_ATTRIBUTES: [&str; 9] = [
    "flow",
    "status",
    "target",
    "cluster_id",
    "steps_cluster_id",
    "job_run_id",
    "submitted_at",
    "updated_at",
    "ended_at",
];
/// The table's TTL attribute (epoch seconds) for idempotency keys.
pub const EXPIRES_AT_ATTRIBUTE: &str = "expires_at";
const VERSION_ATTRIBUTE: &str = "version";
const SWEEP_LEASE_KEY: &str = "sweep#lease";
/// How many step items are written at once.
const STEP_WRITES_AT_ONCE: usize = 25;
/// How often a change is re-applied after losing a race before giving up. The waits between
/// tries grow from 10 ms to 1 s with full jitter (about 15 s at most in all), so 50 writers of
/// one record all get through.
const MAX_RETRIES: usize = 24;

fn race_backoff() -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(MAX_RETRIES)
        .with_jitter()
        .build()
}

/// How long an idempotency key answers the same flow.
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// A claimed idempotency key: the caller's key, a digest of the request it came with, and the
/// flow it names.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyClaim {
    pub key: String,
    /// `sha256:…` of the submit request (without the key).
    pub request_digest: String,
    pub flow_id: FlowId,
}

/// What [`FlowStore::create`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The record was written (and the key, if any, claimed with it): as written.
    New(Box<Versioned>),
    /// The key was claimed before, within [`IDEMPOTENCY_WINDOW`]: nothing was written.
    Existing(IdempotencyClaim),
}

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
    /// The `sweep_at` written with it (see [`FlowRecord::next_sweep_at`]).
    pub sweep_at: Option<DateTime<Utc>>,
}

impl Versioned {
    /// `record` as [`FlowStore::create`] writes it: version 1.
    fn created(record: &FlowRecord) -> Self {
        Self {
            record: record.clone(),
            version: 1,
            sweep_at: record.next_sweep_at(),
        }
    }
}

/// The DynamoDB flow record store.
#[derive(Debug, Clone)]
pub struct FlowStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// cluster → flow, learnt from the by-cluster-id index: the mapping never changes once
    /// recorded, so a warm container asks once per cluster (at most [`CLUSTER_CACHE`] kept).
    clusters: std::sync::Arc<std::sync::Mutex<HashMap<ClusterId, FlowId>>>,
}

/// How many cluster → flow mappings a container keeps before it starts afresh.
pub const CLUSTER_CACHE: usize = 10_000;

pub(crate) fn corrupt(e: serde_dynamo::Error) -> Error {
    Error::Internal(format!("flow record does not match the model: {e}"))
}

impl FlowStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clusters: Default::default(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The size of `record` as a DynamoDB item, in bytes ([`item_size`]).
    pub fn record_size(record: &FlowRecord) -> Result<usize, Error> {
        Ok(item_size(&flow_item(record, 1)?))
    }

    /// Writes a new record (version 1) and, with `claim`, claims its idempotency key in the same
    /// transaction, so a key never names a flow that was not written, and two submits with one
    /// key never both write. `now` decides whether an old claim has expired.
    ///
    /// Errors: [`Error::Conflict`] when the flow id is taken; [`Error::Upstream`].
    pub async fn create(
        &self,
        record: &FlowRecord,
        claim: Option<&IdempotencyClaim>,
        now: DateTime<Utc>,
    ) -> Result<Created, Error> {
        let Some(claim) = claim else {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(flow_item(record, 1)?))
                .condition_expression("attribute_not_exists(flow_id)")
                .send()
                .await;
            return match written(result, "PutItem")? {
                true => Ok(Created::New(Box::new(Versioned::created(record)))),
                false => Err(Error::Conflict(format!("flow {} exists already", record.flow_id))),
            };
        };
        let built = |put: Put| TransactWriteItem::builder().put(put).build();
        let key_put = Put::builder()
            .table_name(&self.table)
            .item("flow_id", AttributeValue::S(idempotency_key(&claim.key)))
            .item(ITEM_ATTRIBUTE, AttributeValue::S("key".into()))
            .item("target_flow_id", AttributeValue::S(claim.flow_id.to_string()))
            .item("request_digest", AttributeValue::S(claim.request_digest.clone()))
            .item(
                EXPIRES_AT_ATTRIBUTE,
                AttributeValue::N((now + IDEMPOTENCY_WINDOW).timestamp().to_string()),
            )
            .condition_expression("attribute_not_exists(flow_id) OR #e < :now")
            .expression_attribute_names("#e", EXPIRES_AT_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let record_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(flow_item(record, 1)?))
            .condition_expression("attribute_not_exists(flow_id)")
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(built(key_put))
            .transact_items(built(record_put))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::New(Box::new(Versioned::created(record)))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                // Claimed before (or at this very moment): answer what the claim names.
                match self.idempotency_claim(&claim.key, now).await? {
                    Some(existing) => Ok(Created::Existing(existing)),
                    None => Err(Error::Conflict(format!(
                        "idempotency key `{}` is being claimed; try again",
                        claim.key
                    ))),
                }
            }
            Err(e) => Err(upstream(DYNAMODB, "TransactWriteItems")(e)),
        }
    }

    /// The live claim of an idempotency key, if any (strongly consistent).
    pub async fn idempotency_claim(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyClaim>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("flow_id", AttributeValue::S(idempotency_key(key)))
            .key(ITEM_ATTRIBUTE, AttributeValue::S("key".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(upstream(DYNAMODB, "GetItem"))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let expires_at = item
            .get(EXPIRES_AT_ATTRIBUTE)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        if expires_at < now.timestamp() {
            return Ok(None);
        }
        let flow_id = text("target_flow_id")
            .and_then(|id| FlowId::parse(&id).ok())
            .ok_or_else(|| Error::Internal(format!("idempotency key `{key}` names no flow")))?;
        Ok(Some(IdempotencyClaim {
            key: key.to_owned(),
            request_digest: text("request_digest").unwrap_or_default(),
            flow_id,
        }))
    }

    /// Reads a record (strongly consistent): one Query for the flow item and its step items.
    /// `None` when no flow has that id.
    pub async fn get(&self, flow_id: FlowId) -> Result<Option<Versioned>, Error> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("flow_id = :f")
            .expression_attribute_values(":f", AttributeValue::S(flow_id.to_string()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut flow = None;
        let mut steps = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(upstream(DYNAMODB, "Query"))?;
            match item
                .get(ITEM_ATTRIBUTE)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some(FLOW_ITEM) => flow = Some(item),
                Some(key) if key.starts_with(items::STEP_PREFIX) => steps.push(item),
                _ => {}
            }
        }
        flow.map(|flow| items::versioned(flow, steps)).transpose()
    }

    /// Reads a record that must exist: [`FlowStore::get`], with [`Error::FlowNotFound`] when no
    /// flow has that id.
    pub async fn read(&self, flow_id: FlowId) -> Result<Versioned, Error> {
        self.get(flow_id)
            .await?
            .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))
    }

    /// Replaces the record read as `read` with `record`: first the step items that changed
    /// (each only forward), then the flow item, if nobody wrote it since. Returns the new version,
    /// or `None` (the flow item unwritten) when the stored version moved on.
    pub async fn replace(&self, read: &Versioned, record: &FlowRecord) -> Result<Option<u64>, Error> {
        let changed: Vec<_> = (record.steps.iter())
            .filter(|(id, step)| read.record.steps.get(*id) != Some(*step))
            .collect();
        for chunk in changed.chunks(STEP_WRITES_AT_ONCE) {
            let writes = chunk
                .iter()
                .map(|(id, step)| self.put_step(record.flow_id, id, step));
            for result in futures_util::future::join_all(writes).await {
                result?;
            }
        }
        let version = read.version + 1;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(flow_item(record, version)?))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", VERSION_ATTRIBUTE)
            .expression_attribute_values(":v", AttributeValue::N(read.version.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .send()
            .await;
        Ok(written(result, "PutItem")?.then_some(version))
    }

    /// Puts a step item unless the stored one is further along (a later state wins; an equal
    /// state takes the new position from EMR's list).
    async fn put_step(
        &self,
        flow_id: FlowId,
        id: &crate::model::StepId,
        step: &crate::model::StepRecord,
    ) -> Result<(), Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(step_item(flow_id, id, step)))
            .condition_expression("attribute_not_exists(#r) OR #r <= :r")
            .expression_attribute_names("#r", items::RANK_ATTRIBUTE)
            .expression_attribute_values(":r", AttributeValue::N(step.state.rank().to_string()))
            .send()
            .await;
        written(result, "PutItem").map(|_| ())
    }

    /// Applies `change` to the current record and writes it, re-reading and re-applying when
    /// another writer got there first (after a jittered, growing wait). `change` returns whether
    /// it changed anything; when it did not, nothing is written.
    ///
    /// Returns the record as written (or as read, when unchanged) and whether it was changed.
    /// Errors: [`Error::FlowNotFound`]; [`Error::Conflict`] after [`MAX_RETRIES`] lost races.
    pub async fn update<F>(&self, flow_id: FlowId, change: F) -> Result<(FlowRecord, bool), Error>
    where
        F: FnMut(&mut FlowRecord) -> bool,
    {
        let read = self.read(flow_id).await?;
        let (written, changed) = self.update_from(read, change).await?;
        Ok((written.record, changed))
    }

    /// [`FlowStore::update`] starting from a record already read (saves a read when nobody
    /// wrote it since), answering the record with its new version, so a next change can start
    /// from it without reading again.
    pub async fn update_from<F>(&self, mut read: Versioned, mut change: F) -> Result<(Versioned, bool), Error>
    where
        F: FnMut(&mut FlowRecord) -> bool,
    {
        let flow_id = read.record.flow_id;
        let mut waits = race_backoff();
        loop {
            let mut record = read.record.clone();
            if !change(&mut record) {
                return Ok((read, false));
            }
            if let Some(version) = self.replace(&read, &record).await? {
                // Counted by the one write that ends the flow, whichever operation made it.
                crate::aws::metrics::flow_transition(
                    &record.flow,
                    record.target,
                    read.record.status,
                    record.status,
                );
                let sweep_at = record.next_sweep_at();
                return Ok((
                    Versioned {
                        record,
                        version,
                        sweep_at,
                    },
                    true,
                ));
            }
            let Some(wait) = waits.next() else {
                return Err(Error::Conflict(format!(
                    "flow {flow_id} changed {MAX_RETRIES} times while this change was applied"
                )));
            };
            tracing::debug!(%flow_id, ?wait, "lost a write race; re-applying the change");
            tokio::time::sleep(wait).await;
            read = self.read(flow_id).await?;
        }
    }

    /// The flow whose cluster is `cluster_id`, if any.
    pub async fn flow_for_cluster(&self, cluster_id: &ClusterId) -> Result<Option<FlowId>, Error> {
        if let Some(flow_id) = self.cached_flow(cluster_id) {
            return Ok(Some(flow_id));
        }
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
            .map_err(upstream(DYNAMODB, "Query"))?;
        let flow_id = output
            .items()
            .first()
            .and_then(|item| item.get("flow_id"))
            .map(|id| match id {
                AttributeValue::S(s) => FlowId::parse(s).map_err(Error::Internal),
                _ => Err(Error::Internal("flow_id is not a string".into())),
            })
            .transpose()?;
        if let Some(flow_id) = flow_id {
            self.remember(cluster_id, flow_id);
        }
        Ok(flow_id)
    }

    /// The active step flows on the shared cluster `cluster_id` ([`ACTIVE_STEPS_INDEX`]): one
    /// Query (a page holds thousands of keys), never reading the flows that ended there.
    pub async fn active_step_flows(&self, cluster_id: &ClusterId) -> Result<Vec<FlowId>, Error> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ACTIVE_STEPS_INDEX)
            .key_condition_expression("#c = :c")
            .expression_attribute_names("#c", items::ACTIVE_STEPS_CLUSTER_ATTRIBUTE)
            .expression_attribute_values(":c", AttributeValue::S(cluster_id.to_string()))
            .into_paginator()
            .items()
            .send();
        let mut flows = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(upstream(DYNAMODB, "Query"))?;
            if let Some(AttributeValue::S(id)) = item.get("flow_id") {
                flows.push(FlowId::parse(id).map_err(Error::Internal)?);
            }
        }
        Ok(flows)
    }

    /// The same table as a new container sees it: nothing learnt, nothing cached.
    pub fn cold(&self) -> Self {
        Self::new(self.client.clone(), self.table.clone())
    }

    /// The flow of `cluster_id`, if this container learnt it before.
    pub fn cached_flow(&self, cluster_id: &ClusterId) -> Option<FlowId> {
        self.clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(cluster_id)
            .copied()
    }

    /// Remembers that `cluster_id` is `flow_id`'s (it never changes once recorded).
    pub fn remember(&self, cluster_id: &ClusterId, flow_id: FlowId) {
        let mut clusters = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
        if clusters.len() >= CLUSTER_CACHE {
            clusters.clear();
        }
        clusters.insert(cluster_id.clone(), flow_id);
    }
}

/// `Ok(true)` when a conditional write was made, `Ok(false)` when its condition did not hold
/// (a duplicate, a late event, a lost race: nothing to write).
pub(crate) fn written<O, E>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
    operation: &'static str,
) -> Result<bool, Error>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(upstream(DYNAMODB, operation)(e)),
    }
}

/// A time as the table keeps it: RFC 3339 in UTC with a fixed width, so strings sort as times.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The item key of an idempotency key: `#` cannot occur in a flow id.
fn idempotency_key(key: &str) -> String {
    format!("idempotency#{key}")
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
