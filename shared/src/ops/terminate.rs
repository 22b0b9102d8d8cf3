//! terminate: record a termination request and carry it out on the flow's own cluster (never
//! another). The request is recorded before EMR is called, so it is never lost: a flow still
//! `PENDING` has its cluster terminated as soon as the cluster is known (submit, an event, or the
//! sweep adopting it). A termination counts only once EMR accepted it; a refused one (termination
//! protection) is recorded as an attempt with EMR's message and answered as an error.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::model::{ClusterId, FlowId, FlowStatus, TerminationKind};

use crate::services::Services;
use crate::targets::Target;

use super::{check_text, parse_request};

/// The longest termination reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// terminate's input: `{"flow_id", "reason"?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateRequest {
    pub flow_id: FlowId,
    /// Why, for the record (at most [`MAX_REASON_BYTES`] bytes).
    #[serde(default)]
    pub reason: Option<String>,
}

/// terminate's answer. The flow becomes `CANCELLED` when EMR reports the cluster terminated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminateResponse {
    pub flow_id: FlowId,
    /// What the flow runs on (`cluster`, `steps`, `serverless_job_run`, `eks_job_run`).
    pub target: Target,
    pub cluster_id: Option<ClusterId>,
    /// A job-run flow's run (EMR Serverless' or EMR on EKS'), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<String>,
    pub status: FlowStatus,
    /// When termination was first requested; `None` for a flow whose cluster had already ended.
    pub termination_requested_at: Option<DateTime<Utc>>,
    /// When EMR accepted TerminateJobFlows; `None` while the cluster is not known yet. For a
    /// step flow, when EMR took CancelSteps for every step (which is not yet `CANCELLED`); for a
    /// job run, when the service accepted CancelJobRun.
    pub termination_accepted_at: Option<DateTime<Utc>>,
    /// What EMR answered, when it says more than yes or no (a step flow: CancelSteps' answer per
    /// step, `SUBMITTED` or `FAILED` with the reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr_answer: Option<String>,
}

/// Records the termination request and asks EMR to terminate the flow's cluster. Idempotent:
/// asking again after EMR accepted changes nothing; asking again after EMR refused tries again.
/// A flow that has ended keeps its status; its cluster is still terminated if it may run (a
/// cluster left waiting after its steps).
///
/// Errors: [`Error::Validation`], [`Error::FlowNotFound`]; [`Error::Upstream`] when EMR refuses
/// or fails (the request stays recorded, as an attempt with EMR's message).
pub async fn terminate(svc: &Services, request: Value) -> Result<TerminateResponse, Error> {
    let request: TerminateRequest = parse_request(request)?;
    if let Some(reason) = &request.reason {
        check_text("reason", reason, MAX_REASON_BYTES)?;
    }
    let reason = request.reason;
    let read = svc.store.read(request.flow_id).await?;
    let (mut written, _) = svc
        .store
        .update_from(read, |r| {
            r.request_termination(TerminationKind::Cancel, reason.clone(), svc.clock.now())
        })
        .await?;
    let record = &written.record;
    let unanswered = record
        .termination
        .as_ref()
        .is_some_and(|t| t.accepted_at.is_none());
    if unanswered && record.run_known() && record.cluster_may_run() {
        let (updated, result) = Target::of(&written.record).cancel(svc, written).await?;
        result?;
        written = updated;
    }
    let record = written.record;
    Ok(TerminateResponse {
        flow_id: record.flow_id,
        target: record.target,
        cluster_id: record.cluster_id.clone(),
        job_run_id: record.any_job_run_id().map(str::to_owned),
        status: record.status,
        termination_requested_at: record.termination.as_ref().map(|t| t.requested_at),
        termination_accepted_at: record.termination.as_ref().and_then(|t| t.accepted_at),
        emr_answer: record.termination.as_ref().and_then(|t| t.answer.clone()),
    })
}
