//! list: one flow in full, active flows, a definition's history, the catalog, or what callbacks
//! are signed with (the public keys receivers verify `v1a` with).

use serde::Deserialize;
use serde_json::Value;

use crate::callback::SigningKeys;
use crate::catalog::definition::Catalog;
use crate::error::Error;
use crate::model::FlowId;
use crate::store::{FlowStore, Listing};

use super::parse_request;

/// list's input: `{"flow_id"}` for one flow in full, `{"status": "active"}` for active flows,
/// `{"flow": NAME}` for a definition's history, `{"definitions": true}` for the catalog,
/// `{"signing_keys": true}` for the signature schemes and public keys; `limit` (1 to 100,
/// default 25) and `next_token` page through active flows and history, newest first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    #[serde(default)]
    pub flow_id: Option<FlowId>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub limit: Option<i32>,
    #[serde(default)]
    pub next_token: Option<FlowId>,
    #[serde(default)]
    pub definitions: bool,
    #[serde(default)]
    pub signing_keys: bool,
}

/// Answers a [`ListRequest`]: the flow record, a page `{"flows": […], "next_token"?}`, or
/// `{"definitions": [{"name", "version", "description", "target", "parameters", "overridable",
/// "max_runtime"}…]}` (overridable: each JSON Pointer a caller may override → the JSON Schema
/// of its value; max_runtime: the definition's limit as written, `"6h"`, or `null`).
///
/// Errors: [`Error::Validation`] for a request that asks for none or several of these, or
/// for the signing keys (see [`list_with_keys`]); [`Error::FlowNotFound`];
/// [`Error::UnknownFlowDefinition`] for a definition's history when the catalog does not know
/// the name and no flow was ever launched under it.
pub async fn list(catalog: &Catalog, store: &FlowStore, request: Value) -> Result<Value, Error> {
    answer(catalog, store, None, request).await
}

/// As [`list`], and `{"signing_keys": true}` answered from `signing`:
/// `{"signatures": ["v1", "v1a"], "public_keys": ["whpk_…"]}`: the Standard Webhooks schemes
/// every HTTP callback carries, and the ed25519 public keys that verify its `v1a` signatures
/// (one per signing key, the first the newest; empty without `v1a`). Public keys are no
/// secret: a receiver that trusts these and verifies only `v1a` cannot be fooled by another
/// receiver.
///
/// Errors: as [`list`]; [`Error::Upstream`] or [`Error::Internal`] when the signing keys
/// cannot be read from Secrets Manager.
pub async fn list_with_keys(
    catalog: &Catalog,
    store: &FlowStore,
    signing: &SigningKeys,
    request: Value,
) -> Result<Value, Error> {
    answer(catalog, store, Some(signing), request).await
}

async fn answer(
    catalog: &Catalog,
    store: &FlowStore,
    signing: Option<&SigningKeys>,
    request: Value,
) -> Result<Value, Error> {
    let request: ListRequest = parse_request(request)?;
    if request.signing_keys {
        if request.definitions
            || request.flow_id.is_some()
            || request.status.is_some()
            || request.flow.is_some()
        {
            return Err(Error::invalid(
                "signing_keys",
                "cannot be combined with `flow_id`, `status`, `flow` or `definitions`",
            ));
        }
        let signing = signing.ok_or_else(|| Error::invalid("signing_keys", "is not answered here"))?;
        // Boxed: the Secrets Manager call's future nests deeper than the compiler's layout
        // depth allows inside the function's `main`.
        let public_keys = Box::pin(signing.public_keys()).await?;
        return Ok(serde_json::json!({
            "signatures": signing.schemes(),
            "public_keys": public_keys,
        }));
    }
    if request.definitions {
        if request.flow_id.is_some() || request.status.is_some() || request.flow.is_some() {
            return Err(Error::invalid(
                "definitions",
                "cannot be combined with `flow_id`, `status` or `flow`",
            ));
        }
        let definitions: Vec<Value> = catalog
            .iter()
            .map(|d| {
                serde_json::json!({"name": d.spec.name, "version": d.spec.version,
                    "description": d.spec.description, "target": d.target,
                    "parameters": d.spec.parameters, "overridable": d.spec.overridable,
                    "max_runtime": d.spec.max_runtime})
            })
            .collect();
        return Ok(serde_json::json!({ "definitions": definitions }));
    }
    let limit = request.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("{limit} is not between 1 and 100"),
        ));
    }
    let listing = match (&request.flow_id, request.status.as_deref(), &request.flow) {
        (Some(_), None, None) if request.limit.is_some() || request.next_token.is_some() => {
            return Err(Error::invalid(
                "flow_id",
                "answers one flow; `limit` and `next_token` page listings only",
            ));
        }
        (Some(flow_id), None, None) => {
            let read = store.get(*flow_id).await?;
            let mut record = read
                .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?
                .record;
            // Header values and URL queries are callers' secrets: answered masked.
            record.callbacks = record.callbacks.iter().map(crate::callback::masked).collect();
            return serde_json::to_value(record).map_err(|e| Error::Internal(e.to_string()));
        }
        (None, Some("active"), None) => Listing::Active,
        (None, Some(other), None) => {
            return Err(Error::invalid(
                "status",
                format!("`{other}` is not supported; use `active`, or `flow` for a definition's history"),
            ));
        }
        (None, None, Some(flow)) if flow.is_empty() => {
            return Err(Error::invalid("flow", "is empty; give a flow definition's name"));
        }
        (None, None, Some(flow)) => Listing::Definition(flow.clone()),
        _ => {
            return Err(Error::invalid(
                "",
                "give exactly one of `flow_id`, `status: \"active\"`, `flow`, `definitions: true` or `signing_keys: true`",
            ));
        }
    };
    let page = store.list(&listing, limit, request.next_token).await?;
    if let Listing::Definition(flow) = &listing
        && page.flows.is_empty()
        && request.next_token.is_none()
    {
        // No history under a name the catalog does not know: most likely a typo, so say so
        // with the nearest names (a retired definition's history is still listed).
        catalog.get(flow)?;
    }
    serde_json::to_value(page).map_err(|e| Error::Internal(e.to_string()))
}
