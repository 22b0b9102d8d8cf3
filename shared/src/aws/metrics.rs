//! Metrics in CloudWatch's Embedded Metric Format (EMF): JSON lines on stdout that CloudWatch
//! Logs turns into metrics (Amazon CloudWatch user guide, "Specification: Embedded metric
//! format"). The operations call the plain functions below; only this module knows the
//! `metrics` facade and its EMF recorder (`metrics_cloudwatch_embedded`), so the operations
//! depend on no metrics library.
//!
//! Until [`init`] installs the recorder (the functions do it in [`crate::api::serve`]), every
//! function here does nothing: tests and tools that never call it print no metric lines.
//! Values are kept in memory and written by [`flush`], once per invocation, before the answer
//! goes back (Lambda may freeze the container right after).
//!
//! Namespace [`NAMESPACE`]; every metric carries the dimension `stack` (the stack's name,
//! [`crate::config::stack_name`]). The flow metrics are written twice: with the `flow`
//! dimension (the definition's name: the dashboard's lines) and without it (the stack's
//! total: what the alarms watch, since an alarm cannot sum over a dimension's values); the
//! submitted and ended counts a third time with the `target` dimension (`cluster`,
//! `serverless_job_run`: the dashboard's per-target lines).
//!
//! The metrics, their units and dimensions and what each counts are tabled once, in the
//! README's "Metrics and the dashboard"; the names are the constants below.
//!
//! This module must not call AWS, read the flow record store or log anything but its own
//! failures.

use std::io::Write;
use std::sync::OnceLock;

use ::metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use metrics_cloudwatch_embedded::{Builder, Collector};

use crate::model::{FlowStatus, Target};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "emr-flows";
pub const FLOWS_SUBMITTED: &str = "FlowsSubmitted";
pub const FLOWS_SUCCEEDED: &str = "FlowsSucceeded";
pub const FLOWS_FAILED: &str = "FlowsFailed";
pub const FLOWS_CANCELLED: &str = "FlowsCancelled";
pub const FLOWS_TIMED_OUT: &str = "FlowsTimedOut";
pub const DELIVERIES_FAILED: &str = "DeliveriesFailed";
pub const EVENT_LAG: &str = "EventLag";
pub const AWS_API_ERRORS: &str = "AwsApiErrors";

/// The dimension naming the flow definition.
pub const FLOW_DIMENSION: &str = "flow";
/// The dimension naming the run target ([`Target::as_str`]) of the flow counts.
pub const TARGET_DIMENSION: &str = "target";
/// The dimension naming the stack (every metric).
pub const STACK_DIMENSION: &str = "stack";
/// The dimension naming the AWS service of [`AWS_API_ERRORS`].
pub const SERVICE_DIMENSION: &str = "service";

/// CloudWatch refuses dimension values over 1024 characters; definition names are far shorter.
const MAX_DIMENSION_VALUE: usize = 1024;

static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

/// Installs the EMF recorder for this process, every metric with the dimension `stack` =
/// `stack`. Only the first call in a process installs; later calls change nothing. Returns
/// whether the recorder is installed (false when another `metrics` recorder was installed
/// first, logged).
pub fn init(stack: &str) -> bool {
    COLLECTOR
        .get_or_init(|| {
            let stack = bounded(stack);
            let collector = Builder::new()
                .cloudwatch_namespace(NAMESPACE)
                .with_dimension(STACK_DIMENSION, stack)
                .init();
            match collector {
                Ok(collector) => {
                    for name in [
                        FLOWS_SUBMITTED,
                        FLOWS_SUCCEEDED,
                        FLOWS_FAILED,
                        FLOWS_CANCELLED,
                        FLOWS_TIMED_OUT,
                        DELIVERIES_FAILED,
                        AWS_API_ERRORS,
                    ] {
                        describe_counter!(name, Unit::Count, "");
                    }
                    describe_histogram!(EVENT_LAG, Unit::Seconds, "");
                    Some(collector)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; no metrics");
                    None
                }
            }
        })
        .is_some()
}

/// Writes what was counted since the last flush to `writer` as EMF documents, one JSON line
/// per dimension set, and resets the counters. Writes nothing before [`init`] or when nothing
/// was counted.
///
/// Errors: the writer's.
pub fn flush_to(writer: impl Write) -> std::io::Result<()> {
    match COLLECTOR.get() {
        Some(Some(collector)) => collector.flush(writer),
        _ => Ok(()),
    }
}

/// [`flush_to`] stdout, where Lambda's log stream picks the lines up; a failure is logged.
pub fn flush() {
    if let Err(e) = flush_to(std::io::stdout().lock()) {
        tracing::warn!(error = %e, "metrics not written");
    }
}

fn bounded(value: &str) -> String {
    crate::model::bounded(value, MAX_DIMENSION_VALUE)
}

/// Counts `name` once for `flow`, and once in the stack's total.
fn per_flow(name: &'static str, flow: &str) {
    counter!(name, FLOW_DIMENSION => bounded(flow)).increment(1);
    counter!(name).increment(1);
}

/// Counts `name` once for `flow`, once in the stack's total and once for `target`.
fn per_flow_and_target(name: &'static str, flow: &str, target: Target) {
    per_flow(name, flow);
    counter!(name, TARGET_DIMENSION => target.as_str()).increment(1);
}

/// A flow of definition `flow` on `target` was submitted (its record written, its launch sent).
pub fn flow_submitted(flow: &str, target: Target) {
    per_flow_and_target(FLOWS_SUBMITTED, flow, target);
}

/// The metric counting flows that end in `status`; `None` for an active status.
pub fn ended_metric(status: FlowStatus) -> Option<&'static str> {
    match status {
        FlowStatus::Succeeded => Some(FLOWS_SUCCEEDED),
        FlowStatus::Failed => Some(FLOWS_FAILED),
        FlowStatus::Cancelled => Some(FLOWS_CANCELLED),
        FlowStatus::TimedOut => Some(FLOWS_TIMED_OUT),
        FlowStatus::Pending | FlowStatus::Starting | FlowStatus::Running => None,
    }
}

/// A flow of definition `flow` on `target` moved from `before` to `after`: counted when it has
/// just ended (`before` active, `after` terminal), otherwise nothing.
pub fn flow_transition(flow: &str, target: Target, before: FlowStatus, after: FlowStatus) {
    if before.is_terminal() {
        return;
    }
    if let Some(name) = ended_metric(after) {
        per_flow_and_target(name, flow, target);
    }
}

/// A callback delivery of a flow of definition `flow` was given up after its last attempt.
pub fn delivery_given_up(flow: &str) {
    per_flow(DELIVERIES_FAILED, flow);
}

/// An EMR event arrived `lag` after its EventBridge `time` (seconds; a negative lag, from
/// clock skew, counts as 0).
pub fn event_lag(lag: chrono::Duration) {
    let seconds = lag.num_milliseconds().max(0) as f64 / 1000.0;
    histogram!(EVENT_LAG).record(seconds);
}

/// A call to the AWS service `service` (`DynamoDB`, `EMR`, …) failed.
pub fn aws_api_error(service: &'static str) {
    counter!(AWS_API_ERRORS, SERVICE_DIMENSION => service).increment(1);
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The EMF documents whose dimensions include `key` = `value`.
    fn documents(lines: &str, key: &str, value: &str) -> Vec<Value> {
        lines
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("every line is one JSON document"))
            .filter(|d| d.get(key).and_then(Value::as_str) == Some(value))
            .collect()
    }

    /// The metric names and units a document declares.
    fn declared(document: &Value) -> Vec<(String, String)> {
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("Metrics")
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap_or_default().to_owned(),
                    m["Unit"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn dimensions(document: &Value) -> Vec<String> {
        document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .expect("Dimensions")
            .iter()
            .map(|d| d.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    // One test: the recorder is process-wide and a flush takes every count, so a second test
    // flushing at the same time could take this one's.
    #[test]
    fn emits_emf_lines_with_names_units_and_dimensions() {
        // GIVEN the recorder for stack `test-stack` and a definition name no other test uses
        assert!(init("test-stack"));
        assert!(init("another-stack"), "a second init keeps the first recorder");
        let flow = "metrics-test-flow";

        // WHEN a flow is submitted, ends twice (a repeated write: counted once), another
        // flow times out, a delivery is given up, an event arrives late, an AWS call fails
        let job_run = Target::ServerlessJobRun;
        flow_submitted(flow, job_run);
        flow_transition(flow, job_run, FlowStatus::Running, FlowStatus::Succeeded);
        flow_transition(flow, job_run, FlowStatus::Succeeded, FlowStatus::Succeeded);
        flow_transition(flow, job_run, FlowStatus::Starting, FlowStatus::Running);
        flow_transition(flow, job_run, FlowStatus::Running, FlowStatus::TimedOut);
        delivery_given_up(flow);
        event_lag(chrono::Duration::milliseconds(2500));
        event_lag(chrono::Duration::seconds(-3));
        aws_api_error("SecretsManager");
        let mut out = Vec::new();
        flush_to(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();

        // THEN the per-flow document counts each metric once, in Count, with stack and flow
        let per_flow = documents(&out, FLOW_DIMENSION, flow);
        assert_eq!(per_flow.len(), 1, "{out}");
        let doc = &per_flow[0];
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert!(
            doc["_aws"]["Timestamp"]
                .as_u64()
                .is_some_and(|t| t > 1_700_000_000_000)
        );
        assert_eq!(dimensions(doc), ["stack", "flow"]);
        assert_eq!(doc["stack"], "test-stack");
        let mut names = declared(doc);
        names.sort();
        assert_eq!(
            names,
            [
                DELIVERIES_FAILED,
                FLOWS_SUBMITTED,
                FLOWS_SUCCEEDED,
                FLOWS_TIMED_OUT
            ]
            .map(|n| (n.to_owned(), "Count".to_owned()))
        );
        for name in [
            DELIVERIES_FAILED,
            FLOWS_SUBMITTED,
            FLOWS_SUCCEEDED,
            FLOWS_TIMED_OUT,
        ] {
            assert_eq!(doc[name], 1, "{name} in {doc}");
        }
        assert!(doc.get(FLOWS_FAILED).is_none());

        // AND the stack's totals (one document: the same dimension set) carry the counts in
        // Count and the event lag in Seconds, with the stack dimension only
        let totals: Vec<_> = documents(&out, STACK_DIMENSION, "test-stack")
            .into_iter()
            .filter(|d| dimensions(d) == ["stack"])
            .collect();
        assert_eq!(totals.len(), 1, "{out}");
        let lag = &totals[0];
        assert!(lag[FLOWS_TIMED_OUT].as_u64() >= Some(1));
        assert!(lag[DELIVERIES_FAILED].as_u64() >= Some(1));
        let units = declared(lag);
        assert!(
            units.contains(&(EVENT_LAG.to_owned(), "Seconds".to_owned())),
            "{units:?}"
        );
        assert!(
            units.contains(&(FLOWS_TIMED_OUT.to_owned(), "Count".to_owned())),
            "{units:?}"
        );
        let values: Vec<f64> = lag[EVENT_LAG]
            .as_array()
            .expect("a list of values")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert!(values.contains(&2.5) && values.contains(&0.0), "{values:?}");

        // AND the submitted and ended flows are counted by target too
        let per_target = documents(&out, TARGET_DIMENSION, "serverless_job_run");
        assert_eq!(per_target.len(), 1, "{out}");
        assert_eq!(dimensions(&per_target[0]), ["stack", "target"]);
        assert!(per_target[0][FLOWS_SUCCEEDED].as_u64() >= Some(1));
        assert!(per_target[0][FLOWS_SUBMITTED].as_u64() >= Some(1));
        assert!(
            per_target[0].get(DELIVERIES_FAILED).is_none(),
            "deliveries are per flow"
        );

        // AND AWS API errors are counted by service
        let errors = documents(&out, SERVICE_DIMENSION, "SecretsManager");
        assert_eq!(errors.len(), 1, "{out}");
        assert_eq!(dimensions(&errors[0]), ["stack", "service"]);
        assert_eq!(
            declared(&errors[0]),
            [(AWS_API_ERRORS.to_owned(), "Count".to_owned())]
        );

        // AND a flush resets: nothing of this flow is written again
        let mut again = Vec::new();
        flush_to(&mut again).unwrap();
        let again = String::from_utf8(again).unwrap();
        assert!(documents(&again, FLOW_DIMENSION, flow).is_empty(), "{again}");
    }

    #[test]
    fn only_terminal_statuses_have_a_metric() {
        // GIVEN every status WHEN asked for its metric THEN only the four ended ones have one
        let named: Vec<_> = FlowStatus::ALL.into_iter().filter_map(ended_metric).collect();
        assert_eq!(
            named,
            [FLOWS_SUCCEEDED, FLOWS_FAILED, FLOWS_CANCELLED, FLOWS_TIMED_OUT]
        );
        for status in FlowStatus::ALL {
            assert_eq!(ended_metric(status).is_some(), status.is_terminal(), "{status}");
        }
    }
}
