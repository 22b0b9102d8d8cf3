//! The callback document: what a callback receives when a flow ends, and its stable
//! `webhook-id`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{EksJobRunRecord, FailureCause, FlowId, FlowRecord, FlowStatus, JobRunRecord, Target};

/// One step as a callback reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// What a callback receives when a flow ends (the HTTP body, or the Lambda payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackDocument {
    /// Always `"flow.ended"`: the Standard Webhooks event type.
    #[serde(rename = "type")]
    pub kind: String,
    pub flow_id: FlowId,
    pub flow: String,
    pub definition_version: String,
    pub status: FlowStatus,
    pub params: Value,
    /// What the flow ran on (`cluster`; see [`crate::model::Target`]).
    #[serde(default)]
    pub target: Target,
    pub cluster_id: Option<String>,
    pub steps: Vec<StepSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureCause>,
    pub artifacts: BTreeMap<String, String>,
    /// The cluster's `NormalizedInstanceHours` when EMR reported it by the time of sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_instance_hours: Option<i32>,
    /// The flow's EMR Serverless job run (target `serverless_job_run`): its ids, state,
    /// attempt, log location and billed vCPU-hours, memory GB-hours and storage GB-hours
    /// (`billed`, final once `billed_final`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run: Option<JobRunRecord>,
    /// The flow's EMR on EKS job run (target `eks_job_run`): its ids, state, attempt, log
    /// location, `created_at`, `finished_at` and `duration_seconds` (EMR on EKS gives no cost
    /// figure: the run's duration stands for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks_job_run: Option<EksJobRunRecord>,
    pub submitted_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// The `type` of a flow event's detail (see [`CallbackDocument::flow_event`]).
pub const FLOW_EVENT_KIND: &str = "flow.status_changed";

impl CallbackDocument {
    /// A flow event's detail (EventBridge, `Flow Status Change`): the record's document with
    /// `status` the status the event reports and `type` [`FLOW_EVENT_KIND`], as JSON.
    pub fn flow_event(record: &FlowRecord, status: FlowStatus) -> String {
        let mut document = Self::for_record(record);
        document.kind = FLOW_EVENT_KIND.into();
        document.status = status;
        serde_json::to_string(&document).unwrap_or_default()
    }

    /// The document for a flow record (normally one that just reached a terminal status).
    pub fn for_record(record: &FlowRecord) -> Self {
        Self {
            kind: "flow.ended".into(),
            flow_id: record.flow_id,
            flow: record.flow.clone(),
            definition_version: record.definition_version.clone(),
            status: record.status,
            params: record.params.clone(),
            target: record.target,
            cluster_id: record.cluster_id.as_ref().map(ToString::to_string),
            steps: record
                .ordered_steps()
                .into_iter()
                .map(|(id, s)| StepSummary {
                    id: id.to_string(),
                    name: s.name.clone(),
                    state: s.state.as_str().to_owned(),
                })
                .collect(),
            failure: record.failure.clone(),
            artifacts: record.artifacts.clone(),
            normalized_instance_hours: record.normalized_instance_hours,
            job_run: record.job_run.clone(),
            eks_job_run: record.eks_job_run.clone(),
            submitted_at: record.submitted_at,
            ended_at: record.ended_at,
        }
    }

    /// The `webhook-id`: the same for every delivery of one flow's outcome, so a receiver can
    /// drop duplicates.
    pub fn webhook_id(&self) -> String {
        format!(
            "flow_{}_{}",
            self.flow_id,
            self.status.as_str().to_ascii_lowercase()
        )
    }
}
