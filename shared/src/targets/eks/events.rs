//! EMR on EKS' EventBridge events, as on-state-change receives them: source
//! `aws.emr-containers`, detail types "EMR Job Run State Change", "EmrContainers Job Run State
//! Change" and "EMR Job Run New Driver Attempt" (EMR on EKS development guide, "Monitoring jobs
//! with Amazon EventBridge": only the names are published).
//!
//! No body of these events is published anywhere (`events/real/SOURCES.md`): community code
//! reads `detail.id`, `detail.virtualClusterId`, `detail.state` and `detail.failureReason`, and
//! the guide lists the new driver attempt's `currentAttemptCount`. So an event is read for the
//! run's ids, and for a state or an attempt when it carries one; everything else comes from
//! DescribeJobRun, which confirms every event ([`super::apply_event`]).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Problem};
use crate::model::{EksJobRunFacts, EksJobRunId, EksJobRunState, VirtualClusterId};

pub const SOURCE: &str = "aws.emr-containers";
pub const JOB_RUN_STATE_CHANGE: &str = "EMR Job Run State Change";
pub const CONTAINERS_JOB_RUN_STATE_CHANGE: &str = "EmrContainers Job Run State Change";
/// The two names EMR on EKS' job-run state changes go by (both are followed).
pub const JOB_RUN_STATE_CHANGES: [&str; 2] = [JOB_RUN_STATE_CHANGE, CONTAINERS_JOB_RUN_STATE_CHANGE];
pub const NEW_DRIVER_ATTEMPT: &str = "EMR Job Run New Driver Attempt";

/// An EMR on EKS event about a job run: whose run, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct EksJobRunEvent {
    pub virtual_cluster_id: VirtualClusterId,
    pub job_run_id: EksJobRunId,
    /// The state (a state change that carries one) or attempt (a new driver attempt) the event
    /// gives.
    pub facts: EksJobRunFacts,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    id: String,
    virtual_cluster_id: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    current_attempt_count: Option<u32>,
}

/// Parses an EventBridge event from `aws.emr-containers`. `Ok(None)` for a detail type
/// emr-flows does not follow; errors name what is malformed.
pub fn parse(event: Value) -> Result<Option<EksJobRunEvent>, Error> {
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
    let detail_type = event.detail_type.as_str();
    if !JOB_RUN_STATE_CHANGES.contains(&detail_type) && detail_type != NEW_DRIVER_ATTEMPT {
        return Ok(None);
    }
    let detail: Detail = serde_path_to_error::deserialize(event.detail)
        .map_err(|e| Error::Validation(vec![Problem::from_serde("detail", e)]))?;
    Ok(Some(EksJobRunEvent {
        virtual_cluster_id: VirtualClusterId::parse(&detail.virtual_cluster_id)
            .map_err(|m| Error::invalid("detail.virtualClusterId", m))?,
        job_run_id: EksJobRunId::parse(&detail.id).map_err(|m| Error::invalid("detail.id", m))?,
        facts: EksJobRunFacts {
            state: detail.state.map(EksJobRunState::from),
            attempt: detail.current_attempt_count,
            ..EksJobRunFacts::default()
        },
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A job-run state change built from the API shapes and the fields community code reads
    /// (no body is published: see the module's documentation), ids from the published
    /// ListJobRuns item.
    pub(crate) fn state_change(virtual_cluster_id: &str, job_run_id: &str, state: &str) -> Value {
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "EMR Job Run State Change", "source": SOURCE,
            "account": "777788889999", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
            "resources": [format!("arn:aws:emr-containers:us-east-1:777788889999:/virtualclusters/{virtual_cluster_id}/jobruns/{job_run_id}")],
            "detail": {"id": job_run_id, "virtualClusterId": virtual_cluster_id, "state": state},
        })
    }

    const VC: &str = "kfo3ayx4dkhpbo3bd5rd3a8mq";
    const RUN: &str = "00000002vhh0p0q9jbl";

    #[test]
    fn both_state_change_names_parse_with_their_state() {
        for detail_type in JOB_RUN_STATE_CHANGES {
            let mut event = state_change(VC, RUN, "COMPLETED");
            event["detail-type"] = detail_type.into();
            let parsed = parse(event).unwrap().unwrap();
            assert_eq!(parsed.virtual_cluster_id.as_str(), VC);
            assert_eq!(parsed.job_run_id.as_str(), RUN);
            assert_eq!(
                parsed.facts.state,
                Some(EksJobRunState::Completed),
                "{detail_type}"
            );
        }
        let mut stateless = state_change(VC, RUN, "RUNNING");
        stateless["detail"].as_object_mut().unwrap().remove("state");
        assert_eq!(
            parse(stateless).unwrap().unwrap().facts.state,
            None,
            "DescribeJobRun tells"
        );
    }

    #[test]
    fn a_new_driver_attempt_names_its_attempt_and_other_events_are_not_followed() {
        let mut event = state_change(VC, RUN, "RUNNING");
        event["detail-type"] = NEW_DRIVER_ATTEMPT.into();
        let detail = event["detail"].as_object_mut().unwrap();
        detail.remove("state");
        detail.insert("currentAttemptCount".into(), json!(2));
        detail.insert(
            "newDriverPodName".into(),
            json!("spark-00000002vhh0p0q9jbl-driver-2"),
        );
        let parsed = parse(event).unwrap().unwrap();
        assert_eq!((parsed.facts.state, parsed.facts.attempt), (None, Some(2)));
        let mut other = state_change(VC, RUN, "RUNNING");
        other["detail-type"] = "EMR Virtual Cluster State Change".into();
        assert_eq!(parse(other).unwrap(), None);
    }

    #[test]
    fn malformed_events_are_named() {
        let mut event = state_change(VC, RUN, "RUNNING");
        event["detail"]["id"] = "0000-X".into();
        assert!(parse(event).unwrap_err().to_string().contains("detail.id"));
        let mut event = state_change(VC, RUN, "RUNNING");
        event["detail"]
            .as_object_mut()
            .unwrap()
            .remove("virtualClusterId");
        assert!(parse(event).unwrap_err().to_string().contains("virtualClusterId"));
        let mut event = state_change(VC, RUN, "RUNNING");
        event["source"] = "aws.emr".into();
        assert!(parse(event).unwrap_err().to_string().contains("source"));
        assert!(parse(json!([])).is_err());
    }
}
