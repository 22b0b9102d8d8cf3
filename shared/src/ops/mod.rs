//! The operations behind the functions, one module each (as mini-redis has one file per
//! command). Each takes its request as JSON, checks it at the edge (every problem named with its
//! path) and works through the run targets (`targets`) and the adapters (`store`, `aws`,
//! `callback`) it is given (`services::Services`), which sit above the pure `model` and
//! `catalog`.
//!
//! - [`submit`]: validate, render, record, launch through its run target (never sent twice
//!   blindly), idempotency keys.
//! - [`state_change`]: apply one run target's event to the flow that owns what it is about.
//! - [`reconcile`]: the scheduled sweep: repair missed events, recover lost launches, enforce
//!   `max_runtime`, retry deliveries and terminations, fetch late failure causes.
//! - `follow_up` (private): the work a written record asks for, whoever wrote it: a
//!   termination due (through its run target), due deliveries and flow events.
//! - `deliveries` (private): callback deliveries: claim, send, record.
//! - `flow_events` (private): flow events (EventBridge): publish, record.
//! - [`terminate`]: record a termination request and carry it out.
//! - [`list`]: one flow, active flows, a definition's history, the catalog, the signing keys.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Problem};

mod deliveries;
mod flow_events;
mod follow_up;
pub mod list;
pub mod reconcile;
pub mod state_change;
pub mod submit;
pub mod terminate;

pub use crate::services::{Clock, Services};
pub use list::{ListRequest, list, list_with_keys};
pub use reconcile::{SweepReport, sweep};
pub use state_change::{StateChangeOutcome, on_state_change};
pub use submit::{DryRunResponse, SubmitAnswer, SubmitRequest, SubmitResponse, Submitter, submit};
pub use terminate::{TerminateRequest, TerminateResponse, terminate};

/// Parses a request, naming the path of the first problem (`params`, `callbacks[0].http`).
fn parse_request<T: DeserializeOwned>(request: Value) -> Result<T, Error> {
    if !request.is_object() {
        return Err(Error::invalid(
            "",
            // Its kind, never its content: a misplaced secret must not reach an answer or a log.
            format!("the request must be a JSON object, not {}", json_kind(&request)),
        ));
    }
    serde_path_to_error::deserialize(request).map_err(|e| Error::Validation(vec![Problem::from_serde("", e)]))
}

/// What kind of JSON value `value` is, in words (`a string`, `an array`, …).
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a caller's string at the edge: at most `max` bytes and no control characters but
/// line breaks and tabs.
fn check_text(path: &str, text: &str, max: usize) -> Result<(), Error> {
    if text.len() > max {
        return Err(Error::invalid(
            path,
            format!("is {} bytes; at most {max}", text.len()),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Error::invalid(path, "must not contain control characters"));
    }
    Ok(())
}
