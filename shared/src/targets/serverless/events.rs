//! EMR Serverless' EventBridge events, as on-state-change receives them: source
//! `aws.emr-serverless`, detail types "EMR Serverless Job Run State Change", "EMR Serverless Job
//! Run Retry" and "EMR Serverless Job Resource Utilization Update" (EMR Serverless user guide,
//! "Automating EMR Serverless with Amazon EventBridge"; the published state change in
//! `events/real/`). Application state changes are not followed.
//!
//! No event carries `stateDetails` (GetJobRun does); a retry event carries no `state` (the run
//! goes on with its next attempt); the utilization update's last one says
//! `resourceUtilizationFinal: true`. Times are ISO 8601 strings (`2022-05-31T21:07:42.299487Z`).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Problem};
use crate::model::{ApplicationId, JobRunFacts, JobRunId, JobRunState, ResourceUtilization};

pub const SOURCE: &str = "aws.emr-serverless";
pub const JOB_RUN_STATE_CHANGE: &str = "EMR Serverless Job Run State Change";
pub const JOB_RUN_RETRY: &str = "EMR Serverless Job Run Retry";
pub const RESOURCE_UTILIZATION_UPDATE: &str = "EMR Serverless Job Resource Utilization Update";

/// An EMR Serverless event about a job run: whose run, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRunEvent {
    pub application_id: ApplicationId,
    pub job_run_id: JobRunId,
    pub kind: JobRunEventKind,
    /// The facts the event gives: a state (state change), an attempt (retry, utilization),
    /// billed resources (utilization).
    pub facts: JobRunFacts,
}

/// Which of the followed detail types an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRunEventKind {
    StateChange,
    Retry,
    ResourceUtilization,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateDetail {
    application_id: String,
    job_run_id: String,
    state: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryDetail {
    application_id: String,
    job_run_id: String,
    new_attempt: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UtilizationDetail {
    application_id: String,
    job_run_id: String,
    #[serde(default)]
    attempt: Option<u32>,
    #[serde(default)]
    resource_utilization_final: bool,
    #[serde(default)]
    total_billed_resource_utilization: Option<ResourceUtilization>,
}

fn detail<T: serde::de::DeserializeOwned>(detail: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(detail)
        .map_err(|e| Error::Validation(vec![Problem::from_serde("detail", e)]))
}

fn ids(application_id: &str, job_run_id: &str) -> Result<(ApplicationId, JobRunId), Error> {
    Ok((
        ApplicationId::parse(application_id).map_err(|m| Error::invalid("detail.applicationId", m))?,
        JobRunId::parse(job_run_id).map_err(|m| Error::invalid("detail.jobRunId", m))?,
    ))
}

fn time(path: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, Error> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.to_utc())
            .map_err(|e| Error::invalid(path, format!("`{t}` is not an ISO 8601 time: {e}")))
    })
    .transpose()
}

/// Parses an EventBridge event from `aws.emr-serverless`. `Ok(None)` for a detail type
/// emr-flows does not follow (application state changes); errors name what is malformed.
pub fn parse(event: Value) -> Result<Option<JobRunEvent>, Error> {
    if !event.is_object() {
        return Err(Error::invalid("", "an event must be a JSON object"));
    }
    let event: EventBridgeEvent<Value> = serde_path_to_error::deserialize(event)
        .map_err(|e| Error::Validation(vec![Problem::from_serde("", e)]))?;
    if event.source != SOURCE {
        return Err(Error::invalid(
            "source",
            format!("`{}` is not {SOURCE}", event.source),
        ));
    }
    let parsed = match event.detail_type.as_str() {
        JOB_RUN_STATE_CHANGE => {
            let d: StateDetail = detail(event.detail)?;
            let (application_id, job_run_id) = ids(&d.application_id, &d.job_run_id)?;
            let facts = JobRunFacts {
                created_at: time("detail.createdAt", d.created_at.as_deref())?,
                updated_at: time("detail.updatedAt", d.updated_at.as_deref())?,
                ..JobRunFacts::state(JobRunState::from(d.state))
            };
            JobRunEvent {
                application_id,
                job_run_id,
                kind: JobRunEventKind::StateChange,
                facts,
            }
        }
        JOB_RUN_RETRY => {
            let d: RetryDetail = detail(event.detail)?;
            let (application_id, job_run_id) = ids(&d.application_id, &d.job_run_id)?;
            JobRunEvent {
                application_id,
                job_run_id,
                kind: JobRunEventKind::Retry,
                facts: JobRunFacts {
                    attempt: Some(d.new_attempt),
                    ..JobRunFacts::default()
                },
            }
        }
        RESOURCE_UTILIZATION_UPDATE => {
            let d: UtilizationDetail = detail(event.detail)?;
            let (application_id, job_run_id) = ids(&d.application_id, &d.job_run_id)?;
            JobRunEvent {
                application_id,
                job_run_id,
                kind: JobRunEventKind::ResourceUtilization,
                facts: JobRunFacts {
                    attempt: d.attempt,
                    billed: d.total_billed_resource_utilization,
                    billed_final: d.resource_utilization_final,
                    ..JobRunFacts::default()
                },
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(parsed))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::targets::cluster::events::tests::real;
    use serde_json::json;

    /// The published RUNNING event with its detail changed as `change` says: the only
    /// published job-run events are this one and an application's (see `events/real/SOURCES.md`).
    pub(crate) fn state_change(state: &str) -> Value {
        let mut event = real("serverless-job-RUNNING.json");
        event["detail"]["previousState"] = event["detail"]["state"].clone();
        event["detail"]["state"] = state.into();
        event
    }

    /// A retry event built from the event guide's field list (no valid JSON sample is published).
    pub(crate) fn retry(new_attempt: u32) -> Value {
        let mut event = real("serverless-job-RUNNING.json");
        event["detail-type"] = JOB_RUN_RETRY.into();
        let detail = event["detail"].as_object_mut().unwrap();
        for key in [
            "state",
            "previousState",
            "createdBy",
            "updatedAt",
            "createdAt",
            "releaseLabel",
        ] {
            detail.remove(key);
        }
        detail.insert("previousAttempt".into(), json!(new_attempt - 1));
        detail.insert("previousAttemptState".into(), json!("FAILED"));
        detail.insert(
            "previousAttemptCreatedAt".into(),
            json!("2022-05-31T21:07:25.325900Z"),
        );
        detail.insert(
            "previousAttemptEndedAt".into(),
            json!("2022-05-31T21:17:25.325900Z"),
        );
        detail.insert("newAttempt".into(), json!(new_attempt));
        detail.insert("newAttemptCreatedAt".into(), json!("2022-05-31T21:17:30.000000Z"));
        event
    }

    /// A resource utilization update built from the event guide's field list.
    pub(crate) fn utilization(final_: bool, vcpu: f64, memory: f64, storage: f64) -> Value {
        let mut event = real("serverless-job-RUNNING.json");
        event["detail-type"] = RESOURCE_UTILIZATION_UPDATE.into();
        let figures = json!({"vCPUHour": vcpu, "memoryGBHour": memory, "storageGBHour": storage});
        let detail = &event["detail"];
        event["detail"] = json!({
            "applicationId": detail["applicationId"], "jobRunId": detail["jobRunId"],
            "attempt": 1, "mode": "BATCH", "createdAt": "2022-05-31T21:07:25.325900Z",
            "startedAt": "2022-05-31T21:07:42.299487Z",
            "calculatedFrom": "2022-05-31T21:07:42.299487Z", "calculatedTo": "2022-05-31T21:37:42.299487Z",
            "resourceUtilizationFinal": final_,
            "resourceUtilizationForInterval": figures, "billedResourceUtilizationForInterval": figures,
            "totalResourceUtilization": figures, "totalBilledResourceUtilization": figures,
        });
        event
    }

    #[test]
    fn the_published_running_event_parses() {
        let event = parse(real("serverless-job-RUNNING.json")).unwrap().unwrap();
        assert_eq!(event.application_id.as_str(), "00f1982r1uukb925");
        assert_eq!(event.job_run_id.as_str(), "00f1cbn5g4bb0c01");
        assert_eq!(event.kind, JobRunEventKind::StateChange);
        assert_eq!(event.facts.state, Some(JobRunState::Running));
        assert_eq!(event.facts.state_details, None);
        assert_eq!(
            event.facts.updated_at.unwrap().to_rfc3339(),
            "2022-05-31T21:07:42.299487+00:00"
        );
        // The run's creation time: with the end's, it tells EMR Serverless' own timeout apart.
        let created = real("serverless-job-RUNNING.json")["detail"]["createdAt"].clone();
        let created = DateTime::parse_from_rfc3339(created.as_str().unwrap())
            .unwrap()
            .to_utc();
        assert_eq!(event.facts.created_at, Some(created));
    }

    #[test]
    fn unknown_states_are_kept_and_ends_parse() {
        for state in ["FAILED", "CANCELLED", "SUCCESS", "QUEUED", "SOMETHING_NEW"] {
            let event = parse(state_change(state)).unwrap().unwrap();
            assert_eq!(event.facts.state, Some(JobRunState::from(state)), "{state}");
        }
    }

    #[test]
    fn a_retry_names_the_new_attempt_and_no_state() {
        let event = parse(retry(2)).unwrap().unwrap();
        assert_eq!(event.kind, JobRunEventKind::Retry);
        assert_eq!((event.facts.state, event.facts.attempt), (None, Some(2)));
    }

    #[test]
    fn the_final_utilization_update_carries_the_billed_figures() {
        let event = parse(utilization(true, 0.106, 0.531, 0.0)).unwrap().unwrap();
        assert_eq!(event.kind, JobRunEventKind::ResourceUtilization);
        assert!(event.facts.billed_final);
        assert_eq!(
            event.facts.billed,
            Some(ResourceUtilization {
                vcpu_hour: 0.106,
                memory_gb_hour: 0.531,
                storage_gb_hour: 0.0
            })
        );
        assert!(
            !parse(utilization(false, 1.0, 1.0, 1.0))
                .unwrap()
                .unwrap()
                .facts
                .billed_final
        );
    }

    #[test]
    fn application_events_are_not_followed_and_malformed_ones_are_named() {
        assert_eq!(parse(real("serverless-application-CREATING.json")).unwrap(), None);
        let mut event = state_change("RUNNING");
        event["detail"]["jobRunId"] = "00F1-X".into();
        assert!(parse(event).unwrap_err().to_string().contains("detail.jobRunId"));
        let mut event = state_change("RUNNING");
        event["detail"].as_object_mut().unwrap().remove("state");
        assert!(
            parse(event)
                .unwrap_err()
                .to_string()
                .contains("detail: missing field `state`")
        );
        let mut event = state_change("RUNNING");
        event["detail"]["updatedAt"] = "yesterday".into();
        assert!(parse(event).unwrap_err().to_string().contains("detail.updatedAt"));
        let mut event = retry(2);
        event["detail"]["newAttempt"] = "two".into();
        assert!(parse(event).unwrap_err().to_string().contains("newAttempt"));
        let mut event = state_change("RUNNING");
        event["source"] = "aws.emr".into();
        assert!(parse(event).unwrap_err().to_string().contains("source"));
    }
}
