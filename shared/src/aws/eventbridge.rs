//! The EventBridge adapter: flow events published with PutEvents (source [`SOURCE`],
//! detail-type [`DETAIL_TYPE`], the detail a [`CallbackDocument`] of the status published;
//! Amazon EventBridge API reference, "PutEvents").

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::callback::CallbackDocument;
use crate::model::{AttemptOutcome, FlowRecord, FlowStatus};

/// Every flow event's `source`.
pub const SOURCE: &str = "emr-flows";
/// Every flow event's `detail-type`.
pub const DETAIL_TYPE: &str = "Flow Status Change";
/// The `type` of a flow event's detail (a callback's is `flow.ended`).
pub const DETAIL_KIND: &str = "flow.status_changed";
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

    /// Publishes `record`'s events for `statuses` to its bus, one entry each (the detail: the
    /// record as a callback document, with the status published and `type`
    /// [`DETAIL_KIND`]). Answers each status's outcome: published, or why not (a refused entry
    /// with EventBridge's error code, a failed call; a flow without a bus, or a function that
    /// holds no client, fails every entry, to be retried where one does).
    pub async fn publish(
        &self,
        record: &FlowRecord,
        statuses: &[FlowStatus],
    ) -> Vec<(FlowStatus, AttemptOutcome)> {
        let failed = |error: String| {
            (statuses.iter())
                .map(|s| {
                    (
                        *s,
                        AttemptOutcome::Failed {
                            http_status: None,
                            error: error.clone(),
                        },
                    )
                })
                .collect()
        };
        let (Some(client), Some(bus)) = (&self.client, &record.event_bus) else {
            return failed("this function publishes no flow events".into());
        };
        let mut results = Vec::new();
        for chunk in statuses.chunks(MAX_ENTRIES) {
            let entries = chunk.iter().map(|status| entry(record, bus, *status)).collect();
            let outcomes: Vec<AttemptOutcome> =
                match client.put_events().set_entries(Some(entries)).send().await {
                    Ok(output) => (chunk.iter().enumerate())
                        .map(|(i, _)| match output.entries().get(i) {
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
                        })
                        .collect(),
                    Err(e) => {
                        crate::aws::metrics::aws_api_error("EventBridge");
                        let error = format!(
                            "PutEvents failed: {}",
                            e.message().map_or_else(|| e.to_string(), str::to_owned)
                        );
                        chunk
                            .iter()
                            .map(|_| AttemptOutcome::Failed {
                                http_status: None,
                                error: error.clone(),
                            })
                            .collect()
                    }
                };
            results.extend(chunk.iter().copied().zip(outcomes));
        }
        results
    }
}

/// The PutEvents entry for `record` having reached `status` (the event's `time` is when it is
/// published, EventBridge's default).
fn entry(record: &FlowRecord, bus: &str, status: FlowStatus) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(DETAIL_TYPE)
        .detail(detail(record, status))
        .build()
}

/// A flow event's detail: the record as a callback document, with `status` and `type`
/// [`DETAIL_KIND`].
pub fn detail(record: &FlowRecord, status: FlowStatus) -> String {
    let mut document = CallbackDocument::for_record(record);
    document.kind = DETAIL_KIND.into();
    document.status = status;
    serde_json::to_string(&document).unwrap_or_default()
}
