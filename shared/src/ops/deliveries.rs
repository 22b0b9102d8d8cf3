//! Callback deliveries: every due delivery of a flow is claimed in one conditional write (which
//! counts the attempt and sets when it may be retried), sent at once to all its targets, and
//! each result recorded. Two workers never send one delivery at once; a worker that dies after
//! its claim leaves a counted attempt that the sweep retries; a failed attempt waits for the
//! sweep (see [`crate::model::delivery::RETRY_DELAYS`]), never for Lambda's retries.

use crate::callback::CallbackDocument;
use crate::error::Error;
use crate::model::delivery::UNREPORTED;
use crate::model::{AttemptOutcome, DeliveryStatus};
use crate::store::Versioned;

use crate::services::Services;

/// Claims, sends and records every delivery of the flow read as `read` that is due now (two
/// conditional writes, no read unless a write race forces one). Returns the record as last
/// written.
///
/// Errors: [`Error::FlowNotFound`], [`Error::Upstream`] (DynamoDB); [`Error::Internal`] for a
/// delivery naming no callback. A failed send is recorded, not returned.
pub async fn deliver_due(svc: &Services, read: Versioned) -> Result<Versioned, Error> {
    let flow_id = read.record.flow_id;
    let mut claims = Vec::new();
    let (claimed, _) = svc
        .store
        .update_from(read.clone(), |r| {
            let before = r.deliveries.clone();
            claims = r.claim_deliveries(svc.clock.now());
            r.deliveries != before
        })
        .await?;
    // A delivery whose last attempt never reported is given up by the claim itself.
    for (key, delivery) in &claimed.record.deliveries {
        let was_pending =
            (read.record.deliveries.get(key)).is_some_and(|d| d.status == DeliveryStatus::Pending);
        if was_pending && delivery.status == DeliveryStatus::Failed {
            crate::aws::metrics::delivery_given_up(&claimed.record.flow);
            tracing::error!(%flow_id, delivery = %key, attempt = delivery.attempts, error = UNREPORTED, "callback delivery given up after its last attempt");
        }
    }
    if claims.is_empty() {
        return Ok(claimed);
    }
    let record = &claimed.record;
    let document = CallbackDocument::for_record(record);
    let mut sends = Vec::new();
    for (key, attempt) in &claims {
        let target = (key.parse::<usize>().ok())
            .and_then(|i| record.callbacks.get(i))
            .ok_or_else(|| Error::Internal(format!("delivery {key} names no callback")))?;
        let document = &document;
        sends.push(async move {
            (
                key,
                *attempt,
                target,
                svc.dispatcher.deliver(target, document).await,
            )
        });
    }
    // All at once: one slow endpoint must not hold the others past the function's timeout.
    let results = futures_util::future::join_all(sends).await;
    let (written, _) = svc
        .store
        .update_from(claimed.clone(), |r| {
            let now = svc.clock.now();
            let mut changed = false;
            for (key, attempt, _, outcome) in &results {
                changed |= r.record_delivery(key, *attempt, outcome, now);
            }
            changed
        })
        .await?;
    for (key, attempt, target, outcome) in &results {
        // Masked: header values and the URL's query never reach a log line.
        let target = crate::callback::Shown(target);
        let delivery = written.record.deliveries.get(*key);
        let given_up = delivery.is_some_and(|d| d.status == DeliveryStatus::Failed);
        let next = delivery.and_then(|d| d.next_attempt_at);
        match outcome {
            AttemptOutcome::Delivered { http_status } => {
                tracing::info!(%flow_id, delivery = %key, callback = %target, attempt, http_status = *http_status, "callback delivered");
            }
            AttemptOutcome::Failed { http_status, error } if given_up => {
                crate::aws::metrics::delivery_given_up(&written.record.flow);
                tracing::error!(%flow_id, delivery = %key, callback = %target, attempt, http_status = *http_status, %error, "callback delivery given up after its last attempt");
            }
            AttemptOutcome::Failed { http_status, error } => {
                tracing::warn!(%flow_id, delivery = %key, callback = %target, attempt, http_status = *http_status, %error, next_attempt_at = next.map(|t| t.to_rfc3339()), "callback delivery failed; will retry");
            }
            AttemptOutcome::Deferred {
                http_status,
                error,
                value,
                ..
            } if given_up => {
                crate::aws::metrics::delivery_given_up(&written.record.flow);
                tracing::error!(%flow_id, delivery = %key, callback = %target, attempt, http_status = *http_status, %error, retry_after = %value, "callback delivery given up after its last attempt");
            }
            AttemptOutcome::Deferred {
                http_status,
                error,
                value,
                ..
            } => {
                tracing::warn!(%flow_id, delivery = %key, callback = %target, attempt, http_status = *http_status, %error, retry_after = %value, next_attempt_at = next.map(|t| t.to_rfc3339()), "callback delivery failed; will retry when the receiver asked");
            }
            AttemptOutcome::Gone => {
                tracing::error!(%flow_id, delivery = %key, callback = %target, attempt, "callback receiver answered 410 Gone; delivery stopped");
            }
        }
    }
    Ok(written)
}
