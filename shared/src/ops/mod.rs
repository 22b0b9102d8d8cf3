//! The operations behind the functions, one module each (as mini-redis has one file per
//! command). Each takes its request as JSON, checks it at the edge (every problem named with its
//! path) and works through the adapters it is given. Operations sit above the adapters
//! (`store`, `emr`, `callback`, `logs`), which sit above the pure `model`.
//!
//! - [`submit`]: validate, render, record, launch (RunJobFlow never retried blindly),
//!   idempotency keys.
//! - [`state_change`]: apply one EMR event to its flow; adopt or terminate tagged clusters.
//! - [`reconcile`]: the scheduled sweep: repair missed events, recover lost launches, enforce
//!   `max_runtime`, retry deliveries and terminations, fetch late failure causes.
//! - [`settle`]: what the event path and the sweep share: cluster facts applied through the
//!   record's rules, and the follow-up work a record asks for.
//! - [`deliver`]: callback deliveries: claim, send, record.
//! - [`terminate`]: record a termination request and carry it out.
//! - [`list`]: one flow, active flows, a definition's history, the catalog, the signing keys.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::aws::emr::Emr;
use crate::aws::step_logs::StepLogs;
use crate::callback::Dispatcher;
use crate::error::{Error, Problem};
use crate::store::FlowStore;

pub mod deliver;
pub mod list;
pub mod reconcile;
pub mod settle;
pub mod state_change;
pub mod submit;
pub mod terminate;

pub use list::{ListRequest, list, list_with_keys};
pub use reconcile::{SweepReport, sweep};
pub use state_change::{StateChangeOutcome, on_state_change};
pub use submit::{DryRunResponse, SubmitAnswer, SubmitRequest, SubmitResponse, Submitter, submit};
pub use terminate::{TerminateRequest, TerminateResponse, terminate};

/// Where operations read the time. The system clock in the functions; a clock a test sets and
/// moves (simulated hours pass in a moment) in tests.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `at` until moved with [`Clock::advance`].
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(Mutex::new(at))))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a fixed clock forward by `by`; the system clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.0 {
            *at.lock().unwrap_or_else(|e| e.into_inner()) += by;
        }
    }
}

/// What the event path, the sweep and terminate work with.
#[derive(Clone)]
pub struct Services {
    pub store: FlowStore,
    pub emr: Emr,
    pub dispatcher: Dispatcher,
    /// Reads failed steps' logs from S3.
    pub logs: StepLogs,
    pub clock: Clock,
}

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
