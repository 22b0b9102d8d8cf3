//! Every attempt in the history from its claim on (an unreported one as unknown), and a
//! receiver's `Retry-After` pushing the next attempt: issue 18, findings 1 and 4.

use chrono::Duration;

use super::tests::{failed, t0};
use super::*;
use crate::model::retry_after::{MAX_RETRY_AFTER, RetryAfter};

fn deferred(status: u16, retry_after: RetryAfter, value: &str) -> AttemptOutcome {
    AttemptOutcome::Deferred {
        http_status: status,
        error: format!("HTTP {status}"),
        retry_after,
        value: value.to_owned(),
    }
}

fn results(d: &Delivery) -> Vec<(u32, AttemptResult)> {
    d.history.iter().map(|a| (a.attempt, a.result)).collect()
}

#[test]
fn a_claimed_attempt_is_in_the_history_until_its_result_replaces_it() {
    // GIVEN a delivery WHEN its first attempt is claimed THEN the history holds it, being sent
    let mut d = Delivery::new(FlowStatus::Succeeded, t0());
    assert_eq!(d.claim(t0()), Some(1));
    assert_eq!(results(&d), [(1, AttemptResult::Sending)]);
    assert_eq!(d.history[0].at, t0());
    // WHEN its result comes THEN it replaces the entry, which keeps the claim's time
    let answered = t0() + Duration::seconds(3);
    assert!(d.record(1, &failed(500), answered));
    assert_eq!(results(&d), [(1, AttemptResult::Failed)]);
    assert_eq!(d.history[0].at, t0());
    assert_eq!(d.history[0].http_status, Some(500));
    assert!(!d.record(1, &failed(502), answered), "a result is recorded once");
}

#[test]
fn an_attempt_whose_worker_died_is_unknown_when_the_next_claim_finds_it() {
    // GIVEN an attempt claimed whose worker died before reporting
    let mut d = Delivery::new(FlowStatus::Succeeded, t0());
    d.claim(t0()).unwrap();
    // WHEN the sweep claims the next one, once the lease is over
    let later = d.next_attempt_at.unwrap();
    assert_eq!(later, t0() + CLAIM_LEASE);
    assert_eq!(d.claim(later), Some(2));
    // THEN the first is unknown, said so, and the second is being sent
    assert_eq!(
        results(&d),
        [(1, AttemptResult::Unknown), (2, AttemptResult::Sending)]
    );
    assert_eq!(d.history[0].error.as_deref(), Some(UNREPORTED));
    assert_eq!(d.last_error.as_deref(), Some(UNREPORTED));
    assert_eq!(d.claimed, Some(2));
    // AND once the second is delivered, the history holds both: every attempt counted
    assert!(d.record(
        2,
        &AttemptOutcome::Delivered {
            http_status: Some(204)
        },
        later
    ));
    assert_eq!(
        results(&d),
        [(1, AttemptResult::Unknown), (2, AttemptResult::Delivered)]
    );
    assert_eq!(d.attempts as usize, d.history.len());
    assert_eq!(d.status, DeliveryStatus::Delivered);
}

#[test]
fn a_late_report_replaces_unknown() {
    let mut d = Delivery::new(FlowStatus::Failed, t0());
    d.claim(t0()).unwrap();
    let later = t0() + CLAIM_LEASE;
    d.claim(later).unwrap();
    assert!(
        d.record(1, &failed(503), later),
        "the slow worker reports after all"
    );
    assert_eq!(
        results(&d),
        [(1, AttemptResult::Failed), (2, AttemptResult::Sending)]
    );
    assert_eq!(d.history[0].error.as_deref(), Some("HTTP 503"));
}

#[test]
fn a_last_attempt_that_never_reported_gives_the_delivery_up_without_another() {
    // GIVEN seven failed attempts and an eighth whose worker died
    let mut d = Delivery::new(FlowStatus::Failed, t0());
    let mut now = t0();
    for _ in 1..MAX_DELIVERY_ATTEMPTS {
        let attempt = d.claim(now).unwrap();
        d.record(attempt, &failed(503), now);
        now = d.next_attempt_at.unwrap();
    }
    assert_eq!(d.claim(now), Some(MAX_DELIVERY_ATTEMPTS));
    // WHEN it is due again after the lease
    let after = d.next_attempt_at.unwrap();
    assert_eq!(after, now + CLAIM_LEASE);
    // THEN no ninth attempt is claimed: the delivery is given up, the eighth unknown
    assert_eq!(d.claim(after), None);
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.attempts, MAX_DELIVERY_ATTEMPTS);
    assert_eq!(d.next_attempt_at, None);
    assert_eq!(d.history.len(), MAX_DELIVERY_ATTEMPTS as usize);
    assert_eq!(d.history.last().unwrap().result, AttemptResult::Unknown);
    assert!(!d.is_due(after + Duration::days(3)));
}

#[test]
fn retry_after_pushes_the_next_attempt_to_at_least_its_moment_within_the_cap() {
    // GIVEN the answer to the first attempt: 429, Retry-After: 90
    let mut d = Delivery::new(FlowStatus::Succeeded, t0());
    d.claim(t0()).unwrap();
    let answered = t0() + Duration::seconds(2);
    assert!(d.record(1, &deferred(429, RetryAfter::Seconds(90), "90"), answered));
    // THEN the next attempt waits 90 s from the answer, not the schedule's 60 s, and the value
    // is in the history
    assert_eq!(d.next_attempt_at, Some(answered + Duration::seconds(90)));
    assert_eq!(d.history[0].retry_after.as_deref(), Some("90"));
    assert_eq!(d.history[0].result, AttemptResult::Failed);
    assert_eq!(d.last_http_status, Some(429));
    assert!(!d.is_due(answered + Duration::seconds(89)));
    assert!(d.is_due(answered + Duration::seconds(90)));

    // GIVEN a Retry-After shorter than the schedule's wait THEN the schedule's wait stands
    let now = d.next_attempt_at.unwrap();
    d.claim(now).unwrap(); // attempt 2: the schedule waits 5 minutes
    d.record(2, &deferred(503, RetryAfter::Seconds(1), "1"), now);
    assert_eq!(d.next_attempt_at, Some(now + Duration::minutes(5)));

    // GIVEN a hostile one THEN it is capped at the schedule's longest wait
    let now = d.next_attempt_at.unwrap();
    d.claim(now).unwrap();
    d.record(
        3,
        &deferred(503, RetryAfter::Seconds(u64::MAX), "99999999999999999999"),
        now,
    );
    assert_eq!(d.next_attempt_at, Some(now + MAX_RETRY_AFTER));
    assert_eq!(d.attempts, 3, "asking to wait never costs an attempt");
}

#[test]
fn retry_after_on_the_last_attempt_still_gives_up_as_documented() {
    let mut d = Delivery::new(FlowStatus::Failed, t0());
    let mut now = t0();
    while d.status == DeliveryStatus::Pending {
        let attempt = d.claim(now).unwrap();
        d.record(attempt, &deferred(503, RetryAfter::Seconds(7200), "7200"), now);
        if let Some(next) = d.next_attempt_at {
            assert!(next >= now + Duration::hours(2), "attempt {attempt}");
            now = next;
        }
    }
    assert_eq!(d.attempts, MAX_DELIVERY_ATTEMPTS);
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.next_attempt_at, None);
    assert!(d.history.iter().all(|a| a.retry_after.as_deref() == Some("7200")));
}

#[test]
fn attempts_stored_before_results_were_named_read_as_what_they_were() {
    // GIVEN history entries as earlier versions wrote them (no `result`, no claim entry)
    let stored = serde_json::json!([
        {"attempt": 1, "at": "2026-11-29T12:00:00Z", "http_status": 503, "error": "HTTP 503"},
        {"attempt": 2, "at": "2026-11-29T12:01:00Z", "error": "connection refused"},
        {"attempt": 3, "at": "2026-11-29T12:06:00Z", "http_status": 410, "error": "gone"},
        {"attempt": 4, "at": "2026-11-29T12:36:00Z", "http_status": 200}
    ]);
    let history: Vec<Attempt> = serde_json::from_value(stored).unwrap();
    let read: Vec<_> = history.iter().map(|a| a.result).collect();
    assert_eq!(
        read,
        [
            AttemptResult::Failed,
            AttemptResult::Failed,
            AttemptResult::Gone,
            AttemptResult::Delivered
        ]
    );
    // AND they are written back with it
    let written = serde_json::to_value(&history[0]).unwrap();
    assert_eq!(written["result"], "FAILED");
    assert!(written.get("retry_after").is_none());
}

#[test]
fn a_flow_record_is_written_when_a_claim_gives_a_delivery_up() {
    // GIVEN a record whose only delivery made its last attempt, never reported
    let mut record: crate::model::FlowRecord = serde_json::from_value(serde_json::json!({
        "flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6", "flow": "spark-pi", "definition_version": "1",
        "status": "SUCCEEDED", "params": {}, "cluster_name": "c",
        "submitted_at": "2026-11-29T12:00:00Z", "updated_at": "2026-11-29T12:00:00Z"
    }))
    .unwrap();
    let mut d = Delivery::new(FlowStatus::Succeeded, t0());
    d.attempts = MAX_DELIVERY_ATTEMPTS - 1;
    d.claim(t0()).unwrap();
    record.deliveries.insert("0".into(), d);
    // WHEN the sweep claims after the lease
    let later = t0() + CLAIM_LEASE;
    let claims = record.claim_deliveries(later);
    // THEN nothing is sent, but the record changed (given up) and says when
    assert!(claims.is_empty());
    assert_eq!(record.deliveries["0"].status, DeliveryStatus::Failed);
    assert_eq!(record.updated_at, later);
    assert_eq!(record.next_sweep_at(), None);
}
