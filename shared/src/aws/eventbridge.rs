//! The EventBridge adapter: flow events published with PutEvents (source [`SOURCE`],
//! detail-type [`DETAIL_TYPE`], the detail as the caller made it: the callback document of the
//! status published, `crate::callback::CallbackDocument::flow_event`; Amazon EventBridge API
//! reference, "PutEvents").

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};

use crate::model::{AttemptOutcome, FlowStatus};

/// Every flow event's `source`.
pub const SOURCE: &str = "emr-flows";
/// Every flow event's `detail-type`.
pub const DETAIL_TYPE: &str = "Flow Status Change";
/// PutEvents takes at most this many entries per call.
const MAX_ENTRIES: usize = 10;

/// Publishes flow events ([`EventBridge::new`]), or none ([`EventBridge::none`]): a flow
/// publishes to the bus recorded on it at submit ([`EventBridge::bus`]).
#[derive(Debug, Clone, Default)]
pub struct EventBridge {
    client: Option<aws_sdk_eventbridge::Client>,
    bus: Option<String>,
}

impl EventBridge {
    /// Publishes with `client`; flows submitted now publish to `bus` (a name or ARN; `None`:
    /// they publish nothing).
    pub fn new(client: aws_sdk_eventbridge::Client, bus: Option<String>) -> Self {
        Self {
            client: Some(client),
            bus,
        }
    }

    /// Publishes nothing, and flows submitted with it publish nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// The bus a flow submitted now publishes to.
    pub fn bus(&self) -> Option<&str> {
        self.bus.as_deref()
    }

    /// Publishes one event per `(status, detail)` to `bus` (the detail a JSON object). Answers
    /// each status's outcome: published, or why not (a refused entry with EventBridge's error
    /// code, a failed call; a function that holds no client fails every entry, to be retried
    /// where one does).
    pub async fn publish(
        &self,
        bus: &str,
        events: &[(FlowStatus, String)],
    ) -> Vec<(FlowStatus, AttemptOutcome)> {
        let failed = |chunk: &[(FlowStatus, String)], error: String| -> Vec<_> {
            (chunk.iter())
                .map(|(status, _)| {
                    let error = error.clone();
                    (
                        *status,
                        AttemptOutcome::Failed {
                            http_status: None,
                            error,
                        },
                    )
                })
                .collect()
        };
        let Some(client) = &self.client else {
            return failed(events, "this function publishes no flow events".into());
        };
        let mut results = Vec::new();
        for chunk in events.chunks(MAX_ENTRIES) {
            let entries = chunk.iter().map(|(_, detail)| entry(bus, detail)).collect();
            match client.put_events().set_entries(Some(entries)).send().await {
                // PutEvents answers one entry per event, in order.
                Ok(output) => results.extend(
                    (chunk.iter().enumerate())
                        .map(|(i, (status, _))| (*status, outcome(output.entries().get(i)))),
                ),
                Err(e) => {
                    crate::aws::metrics::aws_api_error("EventBridge");
                    let error = format!(
                        "PutEvents failed: {}",
                        e.message().map_or_else(|| e.to_string(), str::to_owned)
                    );
                    results.extend(failed(chunk, error));
                }
            }
        }
        results
    }
}

/// What PutEvents said of one event: published when it got an id and no error code.
fn outcome(entry: Option<&PutEventsResultEntry>) -> AttemptOutcome {
    match entry {
        Some(e) if e.error_code().is_none() && e.event_id().is_some() => {
            AttemptOutcome::Delivered { http_status: None }
        }
        Some(e) => AttemptOutcome::Failed {
            http_status: None,
            error: format!(
                "EventBridge refused the event: {} {}",
                e.error_code().unwrap_or("(no code)"),
                e.error_message().unwrap_or_default()
            ),
        },
        None => AttemptOutcome::Failed {
            http_status: None,
            error: "EventBridge answered no entry for the event".into(),
        },
    }
}

/// The PutEvents entry of one flow event (its `time` is when it is published, EventBridge's
/// default).
fn entry(bus: &str, detail: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(DETAIL_TYPE)
        .detail(detail)
        .build()
}
