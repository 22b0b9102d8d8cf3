//! The operations behind the four functions. Each takes the request as JSON, checks it at the
//! edge (every problem named with its path) and works through the adapters it is given.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::callback::{CallbackDocument, CallbackPolicy, CallbackTarget, Dispatcher};
use crate::definition::Catalog;
use crate::emr::Emr;
use crate::error::{Error, Problem};
use crate::events::{self, ClusterChange, EmrEvent};
use crate::model::{
    ClusterId, DeliveryStatus, FailedStep, FailureCause, FlowId, FlowRecord, FlowStatus, decide_outcome,
};
use crate::render::Context;
use crate::store::{self, FlowStore, Listing};

/// Parses a request, naming the path of the first problem (`params`, `callbacks[0].http`).
fn parse_request<T: DeserializeOwned>(request: Value) -> Result<T, Error> {
    if !request.is_object() {
        return Err(Error::invalid(
            "",
            format!("the request must be a JSON object, not {request}"),
        ));
    }
    serde_path_to_error::deserialize(request).map_err(|e| Error::Validation(vec![Problem::from_serde("", e)]))
}

/// submit's input: `{"flow", "params"?, "callbacks"?, "overrides"?, "dry_run"?}`.
#[derive(Debug, Deserialize)]
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
    /// Answer the rendered request without launching anything or writing a record.
    #[serde(default)]
    pub dry_run: bool,
}

/// submit's answer for a launched flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub flow_id: FlowId,
    pub cluster_id: ClusterId,
    pub status: FlowStatus,
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
    /// The RunJobFlow request in EMR's API shape, exactly as RunJobFlow would receive it.
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
#[derive(Debug)]
pub struct Submitter {
    pub catalog: Catalog,
    pub policy: CallbackPolicy,
    pub store: FlowStore,
    pub emr: Emr,
    /// The region clusters are launched in.
    pub region: String,
}

/// The largest flow record submit writes (bytes, as DynamoDB counts them): an item holds at most
/// 400 KiB, and the record grows with steps and deliveries after it is written.
pub const MAX_RECORD_BYTES: usize = 300 * 1024;

/// Validates and renders the request, writes the flow record (`PENDING`), launches the job flow
/// and records its cluster (`STARTING`). With `dry_run`, runs every check short of launching
/// (the record's size too) and answers the rendered request instead.
///
/// Errors: [`Error::Validation`] (every parameter, override, callback and request problem),
/// [`Error::UnknownFlowDefinition`] and [`Error::Definition`] before anything is written;
/// [`Error::Upstream`] when EMR refuses the job flow, after which the record is `FAILED` with
/// EMR's message.
pub async fn submit(s: &Submitter, request: Value) -> Result<SubmitAnswer, Error> {
    let request: SubmitRequest = parse_request(request)?;
    let definition = s.catalog.get(&request.flow)?;
    let flow_id = FlowId::generate();
    let now = Utc::now();
    let context = Context {
        flow_id,
        submitted_at: now,
        region: s.region.clone(),
    };
    let callback_problems = s
        .policy
        .check("callbacks", &request.callbacks, definition.spec.callbacks.len());
    let rendered = match definition.render(request.params, &request.overrides, &context) {
        Ok(rendered) if callback_problems.is_empty() => rendered,
        Ok(_) => return Err(Error::Validation(callback_problems)),
        Err(Error::Validation(mut problems)) => {
            problems.extend(callback_problems);
            return Err(Error::Validation(problems));
        }
        Err(e) => return Err(e),
    };
    let record = FlowRecord {
        flow_id,
        flow: definition.spec.name.clone(),
        definition_version: definition.spec.version.clone(),
        request_digest: rendered.request_digest.clone(),
        status: FlowStatus::Pending,
        params: rendered.params,
        callbacks: definition
            .spec
            .callbacks
            .iter()
            .chain(&request.callbacks)
            .cloned()
            .collect(),
        artifacts: rendered.artifacts,
        cluster_name: rendered.request.name().to_owned(),
        cluster_id: None,
        cluster_state: None,
        steps: Default::default(),
        failure: None,
        termination: None,
        deliveries: Default::default(),
        submitted_at: now,
        updated_at: now,
        ended_at: None,
    };
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
            request: Value::Object(rendered.request.as_json().clone()),
            request_digest: rendered.request_digest,
            artifacts: record.artifacts,
        }));
    }

    let (store, emr) = (&s.store, &s.emr);
    store.create(&record).await?;
    tracing::info!(%flow_id, flow = %record.flow, digest = %record.request_digest, "flow recorded; launching its job flow");

    let cluster_id = match emr.run_job_flow(&rendered.request).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(%flow_id, error = %e, "RunJobFlow failed");
            store
                .update(flow_id, |r| r.launch_failed(&e.to_string(), Utc::now()))
                .await?;
            return Err(e);
        }
    };
    // The steps' ids come from EMR; without them the events still fill the steps in.
    let steps = match emr.list_steps(&cluster_id).await {
        Ok(steps) => steps,
        Err(e) => {
            tracing::warn!(%flow_id, %cluster_id, error = %e, "ListSteps failed; steps come from events");
            Vec::new()
        }
    };
    let (record, _) = store
        .update(flow_id, |r| r.started(&cluster_id, &steps, Utc::now()))
        .await?;
    tracing::info!(%flow_id, %cluster_id, "job flow launched");
    if record.termination.is_some() {
        // Terminate was asked while the cluster id was unknown: carry it out now.
        emr.terminate(&cluster_id).await?;
    }
    Ok(SubmitAnswer::Launched(SubmitResponse {
        flow_id,
        cluster_id,
        status: record.status,
    }))
}

/// What on-state-change did with an event.
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
}

/// Applies an EMR EventBridge event to its flow. When the flow has ended, its pending
/// callbacks are delivered, each attempt recorded on the flow record.
///
/// Errors: [`Error::Validation`] for a malformed event; [`Error::Upstream`] when DynamoDB or
/// EMR fail, or while a callback delivery failed and is to be retried. The invocation is then
/// retried (Lambda's asynchronous retries, EventBridge's retry policy); every write is
/// conditional, so a retry repeats nothing that was done.
pub async fn on_state_change(
    store: &FlowStore,
    emr: &Emr,
    dispatcher: &Dispatcher,
    event: Value,
) -> Result<StateChangeOutcome, Error> {
    let Some(event) = events::parse(event)? else {
        return Ok(StateChangeOutcome::Ignored {
            reason: "not a cluster or step state change".into(),
        });
    };
    let cluster_id = event.cluster_id().clone();
    let flow_id = match store.flow_for_cluster(&cluster_id).await? {
        Some(flow_id) => flow_id,
        None => match adopt_orphan(store, emr, &cluster_id).await? {
            Some(flow_id) => flow_id,
            None => {
                tracing::info!(%cluster_id, "event for a cluster that is no flow's; ignored");
                return Ok(StateChangeOutcome::Ignored {
                    reason: format!("cluster {cluster_id} is no flow's"),
                });
            }
        },
    };
    let (record, changed) = match event {
        EmrEvent::Step(step) => {
            store
                .update(flow_id, |r| {
                    r.apply_step(&step.step_id, &step.name, &step.state, None, Utc::now())
                })
                .await?
        }
        EmrEvent::Cluster(change) => apply_cluster_change(store, emr, flow_id, &change).await?,
    };
    tracing::info!(%flow_id, %cluster_id, status = %record.status, changed, "event applied");
    // Also when nothing changed: a retried or repeated event retries what is still pending.
    if record.status.is_terminal() && record.has_pending_deliveries() {
        deliver_callbacks(store, dispatcher, &record).await?;
    }
    Ok(StateChangeOutcome::Applied {
        flow_id,
        status: record.status,
        changed,
    })
}

/// A cluster no flow record names may still be a flow's: RunJobFlow succeeded but submit never
/// recorded the answer (it timed out or crashed). The cluster's flow-id tag finds the `PENDING`
/// record, which then takes the cluster as if submit had recorded it.
async fn adopt_orphan(store: &FlowStore, emr: &Emr, cluster_id: &ClusterId) -> Result<Option<FlowId>, Error> {
    let Some(flow_id) = emr.tagged_flow_id(cluster_id).await? else {
        return Ok(None);
    };
    let steps = emr.list_steps(cluster_id).await?;
    match store
        .update(flow_id, |r| r.started(cluster_id, &steps, Utc::now()))
        .await
    {
        Ok((record, adopted)) if record.cluster_id.as_ref() == Some(cluster_id) => {
            if adopted {
                tracing::warn!(%flow_id, %cluster_id, "adopted a cluster whose launch was never recorded");
            }
            Ok(Some(flow_id))
        }
        // Tagged for a flow of another deployment, or a flow that has another cluster.
        Ok(_) | Err(Error::FlowNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A cluster state that may end the flow is checked against EMR's own list of steps, since
/// step events can arrive late or not at all.
async fn apply_cluster_change(
    store: &FlowStore,
    emr: &Emr,
    flow_id: FlowId,
    change: &ClusterChange,
) -> Result<(FlowRecord, bool), Error> {
    if !matches!(
        change.state.as_str(),
        "WAITING" | "TERMINATED" | "TERMINATED_WITH_ERRORS"
    ) {
        return store
            .update(flow_id, |r| r.apply_cluster_state(&change.state, Utc::now()))
            .await;
    }
    let emr_steps = emr.list_steps(&change.cluster_id).await?;
    let Some(read) = store.get(flow_id).await? else {
        return Err(Error::FlowNotFound(flow_id.to_string()));
    };
    if read.record.status.is_terminal() {
        // The flow ended while its cluster waited; note that the cluster is gone now.
        return store
            .update(flow_id, |r| {
                r.cluster_terminated_after_end(&change.state, Utc::now())
            })
            .await;
    }
    // Look up why the first failed step failed, as the merged view sees it.
    let mut preview = read.record;
    preview.apply_listed_steps(&emr_steps, Utc::now());
    let details = match preview.first_failed_step() {
        Some((step_id, _)) => match emr.step_failure_details(&change.cluster_id, step_id).await {
            Ok(details) => details.map(|d| (step_id.clone(), d)),
            Err(e) => {
                tracing::warn!(%flow_id, %step_id, error = %e, "DescribeStep failed; cause recorded without details");
                None
            }
        },
        None => None,
    };

    store
        .update(flow_id, |r| {
            let now = Utc::now();
            let changed = r.apply_listed_steps(&emr_steps, now);
            let outcome = decide_outcome(
                &change.state,
                change.reason_code.as_deref(),
                &r.steps,
                r.termination.is_some(),
            );
            let Some(outcome) = outcome else {
                return r.apply_cluster_state(&change.state, now) || changed;
            };
            let failure = (outcome != FlowStatus::Succeeded).then(|| {
                let failed_step = r.first_failed_step().map(|(id, step)| FailedStep {
                    id: id.clone(),
                    name: step.name.clone(),
                    state: step.state.clone(),
                    failure_details: details
                        .as_ref()
                        .filter(|(d_id, _)| d_id == id)
                        .map(|(_, d)| d.clone()),
                });
                FailureCause::new(
                    change.reason_code.as_deref(),
                    change.reason_message.as_deref(),
                    failed_step,
                )
            });
            r.finish(outcome, &change.state, failure, now) || changed
        })
        .await
}

/// Delivers each pending callback of a flow that has ended, recording every attempt.
///
/// Errors: [`Error::Upstream`] (service `callback`) while a delivery failed and may be retried:
/// the invocation then fails, and Lambda's asynchronous retries (EventBridge invokes
/// on-state-change asynchronously) try the pending deliveries again, up to
/// [`MAX_DELIVERY_ATTEMPTS`](crate::model::MAX_DELIVERY_ATTEMPTS) attempts each.
async fn deliver_callbacks(
    store: &FlowStore,
    dispatcher: &Dispatcher,
    record: &FlowRecord,
) -> Result<(), Error> {
    let document = CallbackDocument::for_record(record);
    let mut pending = Vec::new();
    for (key, _) in record
        .deliveries
        .iter()
        .filter(|(_, d)| d.status == DeliveryStatus::Pending)
    {
        let target = key.parse::<usize>().ok().and_then(|i| record.callbacks.get(i));
        let target = target.ok_or_else(|| Error::Internal(format!("delivery {key} names no callback")))?;
        pending.push((key.clone(), target));
    }
    // All at once: one slow endpoint must not hold the others past the function's timeout.
    let attempts = pending.into_iter().map(|(key, target)| {
        let document = &document;
        async move {
            let result = dispatcher.deliver(target, document).await;
            match &result {
                Ok(()) => tracing::info!(flow_id = %record.flow_id, ?target, "callback delivered"),
                Err(e) => tracing::error!(flow_id = %record.flow_id, ?target, error = %e, "callback delivery failed"),
            }
            (key, result)
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let now = Utc::now();
    let (updated, _) = store
        .update(record.flow_id, |r| {
            let mut changed = false;
            for (key, result) in &results {
                changed |= r.record_delivery(key, result.clone(), now);
            }
            changed
        })
        .await?;

    let mut retry = Vec::new();
    for (key, _) in &results {
        match updated.deliveries.get(key) {
            Some(d) if d.status == DeliveryStatus::Pending => {
                retry.push(format!("{key}: {}", d.last_error.as_deref().unwrap_or("?")));
            }
            Some(d) if d.status == DeliveryStatus::Failed => {
                tracing::error!(flow_id = %record.flow_id, delivery = %key, attempts = d.attempts, "callback delivery given up");
            }
            _ => {}
        }
    }
    if retry.is_empty() {
        Ok(())
    } else {
        Err(Error::Upstream {
            service: "callback",
            operation: "deliver",
            message: retry.join("; "),
        })
    }
}

/// terminate's input: `{"flow_id", "reason"?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateRequest {
    pub flow_id: FlowId,
    #[serde(default)]
    pub reason: Option<String>,
}

/// terminate's answer. The flow becomes `CANCELLED` when EMR reports the cluster terminated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminateResponse {
    pub flow_id: FlowId,
    pub cluster_id: Option<ClusterId>,
    pub status: FlowStatus,
    /// When termination was first requested; `None` for a flow that had already ended.
    pub termination_requested_at: Option<chrono::DateTime<Utc>>,
}

/// Records the termination request and asks EMR to terminate the flow's cluster (only ever the
/// cluster recorded for the flow). Idempotent: asking again repeats the EMR call, which EMR
/// ignores for a cluster already terminating. A flow that has ended keeps its status; its
/// cluster is still terminated if it may run (a cluster left waiting after its steps).
///
/// Errors: [`Error::Validation`], [`Error::FlowNotFound`], [`Error::Upstream`].
pub async fn terminate(store: &FlowStore, emr: &Emr, request: Value) -> Result<TerminateResponse, Error> {
    let request: TerminateRequest = parse_request(request)?;
    let reason = request.reason;
    let (record, _) = store
        .update(request.flow_id, |r| {
            r.request_termination(reason.clone(), Utc::now())
        })
        .await?;
    // A PENDING flow has no cluster yet: submit terminates it as soon as EMR names it.
    if let (true, Some(cluster_id)) = (record.cluster_may_run(), &record.cluster_id) {
        emr.terminate(cluster_id).await?;
        tracing::info!(flow_id = %record.flow_id, %cluster_id, "termination requested");
    }
    Ok(TerminateResponse {
        flow_id: record.flow_id,
        cluster_id: record.cluster_id,
        status: record.status,
        termination_requested_at: record.termination.map(|t| t.requested_at),
    })
}

/// list's input: `{"flow_id"}` for one flow in full, `{"status": "active"}` for active flows,
/// `{"flow": NAME}` for a definition's history, `{"definitions": true}` for the catalog;
/// `limit` (1 to 100, default 25) and `next_token` page through active flows and history,
/// newest first.
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
}

/// Answers a [`ListRequest`]: the flow record, a page `{"flows": […], "next_token"?}`, or
/// `{"definitions": [{"name", "version", "description", "parameters", "overridable"}…]}`
/// (`overridable`: each JSON Pointer a caller may override → the JSON Schema of its value).
///
/// Errors: [`Error::Validation`] for a request that asks for none or several of these;
/// [`Error::FlowNotFound`].
pub async fn list(catalog: &Catalog, store: &FlowStore, request: Value) -> Result<Value, Error> {
    let request: ListRequest = parse_request(request)?;
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
                    "description": d.spec.description, "parameters": d.spec.parameters,
                    "overridable": d.spec.overridable})
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
            let record = read
                .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?
                .record;
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
                "give exactly one of `flow_id`, `status: \"active\"` or `flow`",
            ));
        }
    };
    let page = store.list(&listing, limit, request.next_token).await?;
    serde_json::to_value(page).map_err(|e| Error::Internal(e.to_string()))
}
