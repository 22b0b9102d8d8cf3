//! Listing flows, a page at a time, newest first, through an index (never a scan): the active
//! flows ([`super::ACTIVE_INDEX`]) or a definition's history ([`super::DEFINITION_INDEX`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{ClusterId, FlowId, FlowStatus, Target};

use super::items::{FLOW_ITEM, ITEM_ATTRIBUTE};
use super::{
    ACTIVE_ATTRIBUTE, ACTIVE_INDEX, ACTIVE_VALUE, DEFINITION_INDEX, DYNAMODB, FlowStore, corrupt, upstream,
};

/// One flow in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSummary {
    pub flow_id: FlowId,
    pub flow: String,
    pub status: FlowStatus,
    /// What the flow runs on (see [`crate::model::Target`]).
    #[serde(default)]
    pub target: Target,
    /// The flow's cluster: its own, or (a step flow) the shared one its steps run on, which
    /// the flow item keeps as `steps_cluster_id` (see [`super::items`]).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "steps_cluster_id")]
    pub cluster_id: Option<ClusterId>,
    /// A job-run flow's run (EMR Serverless' or EMR on EKS'), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<String>,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// When the flow ended (absent while it is active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
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

impl FlowStore {
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
                (ITEM_ATTRIBUTE.to_owned(), AttributeValue::S(FLOW_ITEM.to_owned())),
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
            .map_err(upstream(DYNAMODB, "Query"))?;
        let next_token = output
            .last_evaluated_key()
            .and_then(|key| key.get("flow_id"))
            .and_then(|id| id.as_s().ok())
            .cloned();
        let flows = serde_dynamo::from_items(output.items.unwrap_or_default()).map_err(corrupt)?;
        Ok(Page { flows, next_token })
    }
}
