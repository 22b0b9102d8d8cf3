//! EMR's EventBridge events, as on-state-change receives them: source `aws.emr`, detail types
//! "EMR Cluster State Change" and "EMR Step Status Change" (Amazon EMR management guide,
//! "Monitor Amazon EMR events with CloudWatch"; samples in `events/real/`).
//!
//! In a cluster event, `stateChangeReason` is a JSON document inside a string
//! (`"{\"code\":\"STEP_FAILURE\",\"message\":\"…\"}"`), and its `code` may be empty.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Problem};
use crate::model::{ClusterFacts, ClusterId, ClusterState, StepId, StepState};

pub const CLUSTER_STATE_CHANGE: &str = "EMR Cluster State Change";
pub const STEP_STATUS_CHANGE: &str = "EMR Step Status Change";

/// An EMR event emr-flows acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum EmrEvent {
    Cluster(ClusterChange),
    Step(StepChange),
}

impl EmrEvent {
    pub fn cluster_id(&self) -> &ClusterId {
        match self {
            Self::Cluster(c) => &c.cluster_id,
            Self::Step(s) => &s.cluster_id,
        }
    }
}

/// "EMR Cluster State Change": the cluster's state and state change reason (`facts.steps`
/// and the other fetched facts are `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterChange {
    pub cluster_id: ClusterId,
    pub facts: ClusterFacts,
}

/// "EMR Step Status Change".
#[derive(Debug, Clone, PartialEq)]
pub struct StepChange {
    pub cluster_id: ClusterId,
    pub step_id: StepId,
    pub name: String,
    pub state: StepState,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterDetail {
    cluster_id: String,
    state: String,
    #[serde(default)]
    state_change_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StepDetail {
    cluster_id: String,
    step_id: String,
    #[serde(default)]
    name: String,
    state: String,
}

#[derive(Deserialize, Default)]
struct Reason {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn detail<T: serde::de::DeserializeOwned>(detail: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(detail)
        .map_err(|e| Error::Validation(vec![Problem::from_serde("detail", e)]))
}

/// Parses an EventBridge event. `Ok(None)` for an `aws.emr` event of another detail type
/// (EMR also sends auto-scaling and instance-group events); errors name what is malformed.
pub fn parse(event: Value) -> Result<Option<EmrEvent>, Error> {
    if !event.is_object() {
        return Err(Error::invalid("", "an event must be a JSON object"));
    }
    let event: EventBridgeEvent<Value> = serde_path_to_error::deserialize(event)
        .map_err(|e| Error::Validation(vec![Problem::from_serde("", e)]))?;
    if event.source != "aws.emr" {
        return Err(Error::invalid(
            "source",
            format!("`{}` is not aws.emr", event.source),
        ));
    }
    match event.detail_type.as_str() {
        CLUSTER_STATE_CHANGE => {
            let d: ClusterDetail = detail(event.detail)?;
            let reason = match d.state_change_reason.as_deref() {
                None | Some("") => Reason::default(),
                // Not JSON after all: keep the text as the message rather than lose it.
                Some(text) => serde_json::from_str(text).unwrap_or_else(|_| Reason {
                    code: None,
                    message: Some(text.to_owned()),
                }),
            };
            Ok(Some(EmrEvent::Cluster(ClusterChange {
                cluster_id: ClusterId::parse(&d.cluster_id)
                    .map_err(|m| Error::invalid("detail.clusterId", m))?,
                facts: ClusterFacts::new(ClusterState::from(d.state), reason.code, reason.message),
            })))
        }
        STEP_STATUS_CHANGE => {
            let d: StepDetail = detail(event.detail)?;
            Ok(Some(EmrEvent::Step(StepChange {
                cluster_id: ClusterId::parse(&d.cluster_id)
                    .map_err(|m| Error::invalid("detail.clusterId", m))?,
                step_id: StepId::parse(&d.step_id).map_err(|m| Error::invalid("detail.stepId", m))?,
                name: d.name,
                state: StepState::from(d.state),
            })))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A published EMR event from `events/real/events/` (also read by `targets::events`' tests).
    pub(crate) fn real(name: &str) -> Value {
        let path = format!("{}/../events/real/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_starting_event_has_an_empty_reason_code() {
        let Some(EmrEvent::Cluster(c)) = parse(real("cluster-STARTING.json")).unwrap() else {
            panic!()
        };
        assert_eq!(c.cluster_id.as_str(), "j-123456789ABCD");
        assert_eq!(c.facts.state, ClusterState::Starting);
        assert_eq!(c.facts.reason_code, None);
    }

    #[test]
    fn a_step_failure_termination_carries_its_reason() {
        let event = real("cluster-TERMINATED_WITH_ERRORS-STEP_FAILURE.json");
        let Some(EmrEvent::Cluster(c)) = parse(event).unwrap() else {
            panic!()
        };
        assert_eq!(c.facts.state, ClusterState::TerminatedWithErrors);
        assert_eq!(c.facts.reason_code.as_deref(), Some("STEP_FAILURE"));
        assert_eq!(
            c.facts.reason_message.as_deref(),
            Some("Shut down as step failed")
        );
    }

    #[test]
    fn a_user_termination_and_a_waiting_cluster_parse() {
        let Some(EmrEvent::Cluster(c)) = parse(real("cluster-TERMINATED-USER_REQUEST.json")).unwrap() else {
            panic!()
        };
        assert_eq!(c.facts.reason_code.as_deref(), Some("USER_REQUEST"));
        let Some(EmrEvent::Cluster(c)) = parse(real("cluster-WAITING.json")).unwrap() else {
            panic!()
        };
        assert_eq!(c.facts.state, ClusterState::Waiting);
    }

    #[test]
    fn a_failed_step_event_parses() {
        let Some(EmrEvent::Step(s)) = parse(real("step-FAILED-CONTINUE.json")).unwrap() else {
            panic!()
        };
        assert_eq!(s.step_id.as_str(), "s-ZYXWVUTSRQPON");
        assert_eq!(s.name, "CustomJAR");
        assert_eq!(s.state, StepState::Failed);
    }

    #[test]
    fn other_sources_and_malformed_details_are_named() {
        let mut event = real("cluster-WAITING.json");
        event["source"] = "aws.ec2".into();
        assert!(
            parse(event)
                .unwrap_err()
                .to_string()
                .contains("source: `aws.ec2`")
        );
        let mut event = real("step-FAILED-CONTINUE.json");
        event["detail"]["stepId"] = "x-1".into();
        assert!(parse(event).unwrap_err().to_string().contains("detail.stepId"));
        let mut event = real("step-FAILED-CONTINUE.json");
        event["detail"].as_object_mut().unwrap().remove("clusterId");
        assert!(
            parse(event)
                .unwrap_err()
                .to_string()
                .contains("detail: missing field `clusterId`")
        );
        let mut event = real("cluster-WAITING.json");
        event["detail-type"] = "EMR Auto Scaling Policy State Change".into();
        assert_eq!(parse(event).unwrap(), None);
    }
}
