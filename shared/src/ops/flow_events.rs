//! Flow events: every due publication of a flow's statuses sent with one PutEvents, then
//! recorded with one conditional write (see `model/record/flow_events.rs`). Sent before it is
//! recorded, so a worker that dies between the two leaves it due and the sweep sends it again:
//! at least once (a rule's target drops duplicates by `detail.flow_id` and `detail.status`). A
//! failed publication is recorded and retried by the sweep, never returned: it never holds the
//! flow up.

use crate::callback::CallbackDocument;
use crate::error::Error;
use crate::model::AttemptOutcome;
use crate::services::Services;
use crate::store::Versioned;

/// Publishes the flow events of the record read as `read` that are due now (the current
/// status's added first when a write without a read moved it), and records the results.
/// Returns the record as last written (or `read`, when nothing was due).
///
/// Errors: [`Error::Upstream`] (DynamoDB), [`Error::FlowNotFound`].
pub(super) async fn publish_due(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let now = svc.clock.now();
    let mut noted = read.record.clone();
    noted.note_status_event(now);
    let due = noted.due_flow_events(now);
    if due.is_empty() {
        return Ok(read);
    }
    let Some(bus) = noted.event_bus.as_deref() else {
        return Ok(read);
    };
    let events: Vec<_> = (due.iter())
        .map(|status| (*status, CallbackDocument::flow_event(&noted, *status)))
        .collect();
    let results = svc.events.publish(bus, &events).await;
    let flow_id = read.record.flow_id;
    for (status, outcome) in &results {
        match outcome {
            AttemptOutcome::Delivered { .. } => tracing::info!(%flow_id, %status, "flow event published"),
            AttemptOutcome::Failed { error, .. } => {
                tracing::warn!(%flow_id, %status, %error, "flow event not published; the sweep retries it")
            }
            _ => {}
        }
    }
    let (written, _) = svc
        .store
        .update_from(read, |r| {
            let now = svc.clock.now();
            r.note_status_event(now) | r.record_flow_events(&results, now)
        })
        .await?;
    Ok(written)
}
