//! submit: validate and render a flow request, record the flow, launch its job flow.
//!
//! RunJobFlow is not idempotent, so nothing here sends it twice: an idempotency key makes a
//! caller's retry answer the flow of the first request (claimed in the same transaction that
//! writes the record), and a launch whose answer was lost leaves the flow `PENDING` while its
//! cluster is looked for by the flow-id tag (here at once, then by the reconcile sweep).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::callback::{CallbackPolicy, CallbackTarget};
use crate::catalog::definition::Catalog;
use crate::catalog::template::Context;
use crate::error::Error;
use crate::model::{ApplicationId, ClusterId, FlowId, FlowRecord, FlowStatus, Target, VirtualClusterId};
use crate::store::{self, Created, FlowStore, IdempotencyClaim, Versioned};

use crate::catalog::render::Request;
use crate::targets::{self, Launched};

use super::follow_up::follow_up;
use super::{check_text, parse_request};
use crate::services::Services;

/// The longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// submit's input: `{"flow", "params"?, "callbacks"?, "overrides"?, "idempotency_key"?,
/// "max_runtime"?, "dry_run"?}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The flow definition's name.
    pub flow: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub callbacks: Vec<CallbackTarget>,
    /// Deep-merged into the definition's `job_flow` where it allows (`overridable`).
    #[serde(default)]
    pub overrides: Value,
    /// A key of the caller's choosing (1 to 255 printable ASCII characters): the same key with
    /// the same request within 24 hours answers the same flow; with another request it is a
    /// conflict.
    #[serde(default, skip_serializing)]
    pub idempotency_key: Option<String>,
    /// A shorter limit than the definition's `max_runtime` for this flow, e.g. `"2h"` or
    /// `"90m"` (humantime's format).
    #[serde(default)]
    pub max_runtime: Option<String>,
    /// Answer the rendered request without launching anything or writing a record.
    #[serde(default)]
    pub dry_run: bool,
}

/// submit's answer for a flow (launched, or `PENDING` while its lost launch answer is looked
/// for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub flow_id: FlowId,
    pub cluster_id: Option<ClusterId>,
    pub status: FlowStatus,
    /// An EMR Serverless job run's application (target `serverless_job_run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<ApplicationId>,
    /// An EMR on EKS job run's virtual cluster (target `eks_job_run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_cluster_id: Option<VirtualClusterId>,
    /// A job run's id (EMR Serverless' or EMR on EKS'), once started (absent for clusters, and
    /// while a lost answer is looked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<String>,
}

impl SubmitResponse {
    /// The answer for `record`: its ids and status.
    fn of(record: FlowRecord) -> Self {
        let job_run_id = record.any_job_run_id().map(str::to_owned);
        Self {
            flow_id: record.flow_id,
            application_id: record.job_run.map(|r| r.application_id),
            virtual_cluster_id: record.eks_job_run.map(|r| r.virtual_cluster_id),
            job_run_id,
            cluster_id: record.cluster_id,
            status: record.status,
        }
    }
}

/// submit's answer for a dry run: what would be sent to EMR and recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRunResponse {
    pub dry_run: bool,
    pub flow: String,
    pub definition_version: String,
    /// The id the request was rendered with; no flow has it.
    pub flow_id: FlowId,
    pub params: Value,
    /// What the flow would run on (`cluster`, `steps`, `serverless_job_run`, `eks_job_run`).
    pub target: Target,
    /// The request in its service's API shape, exactly as the service would receive it
    /// (RunJobFlow's, AddJobFlowSteps', StartJobRun's).
    pub request: Value,
    pub request_digest: String,
    pub artifacts: BTreeMap<String, String>,
}

/// What submit answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SubmitAnswer {
    Launched(SubmitResponse),
    DryRun(DryRunResponse),
}

/// What submit works with.
pub struct Submitter {
    pub catalog: Catalog,
    pub policy: CallbackPolicy,
    /// Store, EMR, callbacks (a refused launch is an ending, and calls back) and the clock.
    pub services: Services,
    /// The region clusters are launched in.
    pub region: String,
}

/// The largest flow record submit writes (bytes, as DynamoDB counts them): an item holds at most
/// 400 KiB, and the record grows after it is written (steps, deliveries, causes: all bounded,
/// see the model's limits), so 200 KiB are kept free (a test checks the worst case fits).
pub const MAX_RECORD_BYTES: usize = 200 * 1024;

/// Validates and renders the request, writes the flow record (`PENDING`, with the idempotency
/// key claimed in the same transaction), launches the job flow and records its cluster
/// (`STARTING`). With `dry_run`, runs every check short of launching (the record's size too)
/// and answers the rendered request instead.
///
/// Errors: [`Error::Validation`] (every parameter, override, callback and request problem),
/// [`Error::UnknownFlowDefinition`] and [`Error::Definition`] before anything is written;
/// [`Error::Conflict`] for an idempotency key used with another request;
/// [`Error::Upstream`] when EMR refuses the job flow, after which the record is `FAILED` with
/// EMR's message and its callbacks are told.
pub async fn submit(s: &Submitter, request: Value) -> Result<SubmitAnswer, Error> {
    let request: SubmitRequest = parse_request(request)?;
    if let Some(key) = &request.idempotency_key {
        check_key(key)?;
    }
    let definition = s.catalog.get(&request.flow)?;
    let svc = &s.services;
    let flow_id = FlowId::generate();
    let now = svc.clock.now();
    let max_runtime = definition.max_runtime(request.max_runtime.as_deref())?;
    let context = Context {
        flow_id,
        submitted_at: now,
        region: s.region.clone(),
        stack: svc.emr.stack().to_owned(),
    };
    let callback_problems = s
        .policy
        .check("callbacks", &request.callbacks, definition.spec.callbacks.len());
    let rendered = match definition.render(request.params.clone(), &request.overrides, &context) {
        Ok(rendered) if callback_problems.is_empty() => rendered,
        Ok(_) => return Err(Error::Validation(callback_problems)),
        Err(Error::Validation(mut problems)) => {
            problems.extend(callback_problems);
            return Err(Error::Validation(problems));
        }
        Err(e) => return Err(e),
    };
    // What the request names is found before anything is written (a step flow's cluster).
    let request_to_send = targets::resolve(svc, rendered.request).await?;
    let record = targets::pending(
        FlowRecord {
            request_digest: rendered.request_digest.clone(),
            params: rendered.params,
            callbacks: (definition.spec.callbacks.iter())
                .chain(&request.callbacks)
                .cloned()
                .collect(),
            artifacts: rendered.artifacts,
            idempotency_key: request.idempotency_key.clone(),
            deadline_at: max_runtime.map(|d| now + d),
            event_bus: svc.events.bus().map(str::to_owned),
            ..FlowRecord::pending(
                flow_id,
                &definition.spec.name,
                &definition.spec.version,
                request_to_send.name(),
                now,
            )
        },
        &request_to_send,
    );
    let record = record.with_shutdown_grace_period(definition.shutdown_grace_period_seconds());
    let size = FlowStore::record_size(&record)?;
    if size > MAX_RECORD_BYTES {
        return Err(Error::invalid(
            "",
            format!(
                "the flow record (params and callbacks) would be {size} bytes; DynamoDB items hold {} \
                 and the record grows as the flow runs, so at most {MAX_RECORD_BYTES} are accepted",
                store::MAX_ITEM_BYTES
            ),
        ));
    }
    if request.dry_run {
        return Ok(SubmitAnswer::DryRun(DryRunResponse {
            dry_run: true,
            flow: definition.spec.name.clone(),
            definition_version: definition.spec.version.clone(),
            flow_id,
            params: record.params,
            target: request_to_send.target(),
            request: Value::Object(request_to_send.as_json().clone()),
            request_digest: rendered.request_digest,
            artifacts: record.artifacts,
        }));
    }

    let claim = request.idempotency_key.as_ref().map(|key| IdempotencyClaim {
        key: key.clone(),
        request_digest: request_digest(&request),
        flow_id,
    });
    let created = match svc.store.create(&record, claim.as_ref(), now).await? {
        Created::New(created) => *created,
        Created::Existing(existing) => return replay(svc, claim.as_ref(), existing).await,
    };
    tracing::info!(%flow_id, flow = %record.flow, digest = %record.request_digest, "flow recorded; launching its job flow");
    let (flow, record_target) = (record.flow.clone(), record.target);
    let answer = launch(svc, &request_to_send, created).await?;
    crate::aws::metrics::flow_submitted(&flow, record_target);
    Ok(answer)
}

/// Launches the flow's run once and answers with what came of it, after carrying out what the
/// record then asks for (a termination asked while the launch was unanswered, the failure
/// callbacks of a refused launch).
async fn launch(svc: &Services, request: &Request, created: Versioned) -> Result<SubmitAnswer, Error> {
    let written = match targets::launch(svc, request, created).await? {
        Launched::Started(written) | Launched::Unknown(written) => written,
        Launched::Refused {
            written,
            service,
            operation,
            message,
        } => {
            let record = follow_up(svc, written).await?.record;
            let code = (record.failure.as_ref())
                .and_then(|f| f.code.clone())
                .unwrap_or_default();
            return Err(Error::Upstream {
                service,
                operation,
                message: format!(
                    "{message} (flow {} recorded {} with {code}; its callbacks are told)",
                    record.flow_id, record.status
                ),
            });
        }
    };
    let record = follow_up(svc, written).await?.record;
    Ok(SubmitAnswer::Launched(SubmitResponse::of(record)))
}

/// The answer for a key claimed before: the same flow for the same request, a conflict for
/// another.
async fn replay(
    svc: &Services,
    claim: Option<&IdempotencyClaim>,
    existing: IdempotencyClaim,
) -> Result<SubmitAnswer, Error> {
    let digest = claim.map(|c| c.request_digest.as_str()).unwrap_or_default();
    if existing.request_digest != digest {
        return Err(Error::Conflict(format!(
            "idempotency key `{}` was used with another request (flow {}); use a new key for a new request",
            existing.key, existing.flow_id
        )));
    }
    let record = svc.store.read(existing.flow_id).await?.record;
    tracing::info!(flow_id = %record.flow_id, key = %existing.key, "idempotency key seen before; answering its flow");
    Ok(SubmitAnswer::Launched(SubmitResponse::of(record)))
}

/// `sha256:…` of the request as the caller sent it, without its idempotency key (keys of JSON
/// objects sorted, so the spelling of the request does not matter).
fn request_digest(request: &SubmitRequest) -> String {
    // No params and `{}` are the same request; so are no overrides and `{}`.
    let mut canonical = serde_json::to_value(request).unwrap_or_default();
    for member in ["params", "overrides"] {
        if canonical.get(member).is_some_and(Value::is_null) {
            canonical[member] = serde_json::json!({});
        }
    }
    let canonical = serde_json::to_vec(&canonical).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(canonical)))
}

fn check_key(key: &str) -> Result<(), Error> {
    check_text("idempotency_key", key, MAX_IDEMPOTENCY_KEY)?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "idempotency_key",
            "must be 1 to 255 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: Value) -> SubmitRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_request_digest_ignores_key_order_and_the_key_itself() {
        let a =
            request(serde_json::json!({"flow": "f", "params": {"a": 1, "b": 2}, "idempotency_key": "k1"}));
        let b =
            request(serde_json::json!({"params": {"b": 2, "a": 1}, "flow": "f", "idempotency_key": "k2"}));
        let c = request(serde_json::json!({"flow": "f", "params": {"a": 1, "b": 3}}));
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(request_digest(&a), request_digest(&c));
        let bare = request(serde_json::json!({"flow": "f"}));
        let empty = request(serde_json::json!({"flow": "f", "params": {}, "overrides": {}}));
        assert_eq!(
            request_digest(&bare),
            request_digest(&empty),
            "no params is an empty object"
        );
    }

    #[test]
    fn idempotency_keys_are_bounded_printable_ascii() {
        assert!(check_key("order-1234:retry").is_ok());
        assert!(check_key(&"k".repeat(255)).is_ok());
        let long = check_key(&"k".repeat(256)).unwrap_err().to_string();
        assert!(
            long.contains("idempotency_key: is 256 bytes; at most 255"),
            "{long}"
        );
        assert!(check_key("").is_err());
        assert!(check_key("a b").is_err());
        assert!(check_key("é").is_err());
    }
}
