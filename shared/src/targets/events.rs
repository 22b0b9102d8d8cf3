//! on-state-change's input, routed: the reconcile sweep's tick (an EventBridge scheduled event,
//! source `aws.events`, detail type "Scheduled Event", or `{"reconcile": true}` by hand), or an
//! event from a run target's source, parsed by that target (`aws.emr`: [`cluster::events`];
//! `aws.emr-serverless`: [`serverless::events`]; `aws.emr-containers`: [`eks::events`]).

use serde_json::Value;

use crate::error::Error;

use super::cluster::{self, events::EmrEvent};
use super::eks::{self, events::EksJobRunEvent};
use super::serverless::{self, events::JobRunEvent};

/// The detail type of EventBridge's scheduled events (the reconcile sweep's tick).
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// What on-state-change was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Apply a run target's event (boxed: it is much larger than the other variants).
    Event(Box<TargetEvent>),
    /// An event from a target's source of a kind emr-flows does not follow (EMR's auto-scaling
    /// and instance-group events): what it is not, for the answer.
    Unfollowed(&'static str),
    /// Run the reconcile sweep.
    Reconcile,
}

/// A run target's event emr-flows acts on, one variant per target.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetEvent {
    /// `aws.emr`: a cluster or step of a cluster.
    Cluster(EmrEvent),
    /// `aws.emr-serverless`: a job run's state change, retry or resource utilization.
    ServerlessJobRun(JobRunEvent),
    /// `aws.emr-containers`: an EMR on EKS job run's state change or new driver attempt.
    EksJobRun(EksJobRunEvent),
}

/// The EventBridge event's `time` (RFC 3339, when EventBridge received the event: EventBridge
/// user guide, "Amazon EventBridge events"); `None` when it is missing or malformed.
pub fn event_time(event: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let time = event.get("time")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Parses on-state-change's input: a run target's event, a scheduled event, or `{"reconcile": true}`.
///
/// Errors: [`Error::Validation`] naming what is malformed, or the source when it is neither
/// `aws.emr`, `aws.emr-serverless`, `aws.emr-containers` nor a scheduled event.
pub fn parse_input(input: Value) -> Result<Input, Error> {
    if input.get("reconcile") == Some(&Value::Bool(true)) && input.as_object().is_some_and(|o| o.len() == 1) {
        return Ok(Input::Reconcile);
    }
    if input.get("source").and_then(Value::as_str) == Some("aws.events")
        && input.get("detail-type").and_then(Value::as_str) == Some(SCHEDULED_EVENT)
    {
        return Ok(Input::Reconcile);
    }
    if input.get("source").and_then(Value::as_str) == Some(serverless::events::SOURCE) {
        return Ok(match serverless::events::parse(input)? {
            Some(event) => Input::Event(Box::new(TargetEvent::ServerlessJobRun(event))),
            None => Input::Unfollowed("not a job run state change, retry or utilization update"),
        });
    }
    if input.get("source").and_then(Value::as_str) == Some(eks::events::SOURCE) {
        return Ok(match eks::events::parse(input)? {
            Some(event) => Input::Event(Box::new(TargetEvent::EksJobRun(event))),
            None => Input::Unfollowed("not a job run state change or new driver attempt"),
        });
    }
    Ok(match cluster::events::parse(input)? {
        Some(event) => Input::Event(Box::new(TargetEvent::Cluster(event))),
        None => Input::Unfollowed("not a cluster or step state change"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::cluster::events::tests::real;

    #[test]
    fn an_events_time_is_read_and_bad_times_are_none() {
        // GIVEN a real event, one with a malformed time, one with a number, one without
        let event = real("cluster-STARTING.json");
        let expected = event["time"].as_str().unwrap().to_owned();
        // WHEN its time is read THEN it is the event's RFC 3339 time, the others none
        let time = event_time(&event).expect("a time");
        assert_eq!(time, chrono::DateTime::parse_from_rfc3339(&expected).unwrap());
        assert_eq!(event_time(&serde_json::json!({"time": "yesterday"})), None);
        assert_eq!(event_time(&serde_json::json!({"time": 12})), None);
        assert_eq!(event_time(&serde_json::json!("not an object")), None);
    }

    #[test]
    fn the_sweeps_tick_is_a_scheduled_event_or_a_hand_request() {
        let scheduled = serde_json::json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
            "time": "2026-11-29T12:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile"], "detail": {}
        });
        assert_eq!(parse_input(scheduled).unwrap(), Input::Reconcile);
        assert_eq!(
            parse_input(serde_json::json!({"reconcile": true})).unwrap(),
            Input::Reconcile
        );
        assert!(parse_input(serde_json::json!({"reconcile": false})).is_err());
        assert!(parse_input(serde_json::json!({"reconcile": true, "flow_id": "x"})).is_err());
        assert!(
            parse_input(serde_json::json!({"flow_id": "x"})).is_err(),
            "one key is not a tick"
        );
        // Only EventBridge's own scheduled events are ticks.
        let mut other = real("cluster-WAITING.json");
        other["source"] = "aws.events".into();
        assert!(
            parse_input(other).is_err(),
            "aws.events, but not a scheduled event"
        );
        let mut other = real("cluster-WAITING.json");
        other["detail-type"] = "Scheduled Event".into();
        assert!(
            matches!(parse_input(other), Ok(Input::Unfollowed(_))),
            "aws.emr, never a tick"
        );
        let mut other = real("cluster-WAITING.json");
        other["detail-type"] = "EMR Instance Group State Change".into();
        assert!(matches!(parse_input(other).unwrap(), Input::Unfollowed(_)));
        let Input::Event(event) = parse_input(real("cluster-WAITING.json")).unwrap() else {
            panic!("an EMR event")
        };
        assert!(matches!(*event, TargetEvent::Cluster(EmrEvent::Cluster(_))));
        assert!(parse_input(serde_json::json!([1])).is_err());
    }

    #[test]
    fn emr_on_eks_events_go_to_their_target_and_others_of_the_source_are_unfollowed() {
        let event =
            eks::events::tests::state_change("kfo3ayx4dkhpbo3bd5rd3a8mq", "00000002vhh0p0q9jbl", "RUNNING");
        let Input::Event(parsed) = parse_input(event.clone()).unwrap() else {
            panic!("a job run event")
        };
        assert!(matches!(*parsed, TargetEvent::EksJobRun(_)));
        let mut other = event;
        other["detail-type"] = "EMR Virtual Cluster State Change".into();
        assert!(matches!(parse_input(other).unwrap(), Input::Unfollowed(_)));
    }

    #[test]
    fn emr_serverless_events_go_to_the_job_run_target_and_application_events_are_unfollowed() {
        let Input::Event(event) = parse_input(real("serverless-job-RUNNING.json")).unwrap() else {
            panic!("a job run event")
        };
        assert!(matches!(*event, TargetEvent::ServerlessJobRun(_)));
        assert!(matches!(
            parse_input(real("serverless-application-CREATING.json")).unwrap(),
            Input::Unfollowed(_)
        ));
        let mut broken = real("serverless-job-RUNNING.json");
        broken["detail"]["applicationId"] = 7.into();
        assert!(
            parse_input(broken)
                .unwrap_err()
                .to_string()
                .contains("applicationId")
        );
    }
}
