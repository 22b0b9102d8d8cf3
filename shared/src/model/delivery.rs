//! One callback's delivery of a flow's outcome: at least once, each attempt claimed before it is
//! sent and recorded after, retried on a schedule that reaches past a day.
//!
//! The schedule follows the Standard Webhooks guidance (<https://www.standardwebhooks.com/>,
//! "Retry schedule"): at once, then seconds, minutes and hours apart. An attempt is claimed in
//! the same conditional write that counts it and moves `next_attempt_at` on, so two workers never
//! send one delivery at once, and an attempt whose worker dies is still counted and retried.
//! The claim also enters the attempt in the history (`SENDING`), so every attempt is there from
//! its claim on: its result replaces that once known, and an attempt the next claim finds
//! without one is `UNKNOWN` ("the attempt did not report"). A receiver's `Retry-After` on a
//! `429`, `3xx` or `5xx` pushes the next attempt to at least the moment it names (see
//! [`super::retry_after`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::retry_after::RetryAfter;
use super::{FlowStatus, bounded};

/// Whether a callback reached its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Not attempted yet, or attempted and to be retried at `next_attempt_at`.
    Pending,
    /// The target accepted it (HTTP 2xx, or Lambda queued the asynchronous invocation).
    Delivered,
    /// Given up: every attempt failed, or the receiver answered `410 Gone`.
    Failed,
}

/// The wait before each retry, after the attempt of the same index failed: attempt 1 is sent
/// at once, attempt 2 [`RETRY_DELAYS`]`[0]` after it, … 8 attempts over about 27.5 hours.
/// A retry is made by the first reconcile sweep at or after its time.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(10),
];

/// How many times a callback is attempted before its delivery is marked failed.
pub const MAX_DELIVERY_ATTEMPTS: u32 = RETRY_DELAYS.len() as u32 + 1;

/// How long a claimed attempt may take before another worker may try again: longer than the
/// HTTP timeout plus the write that records the result.
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// The longest error text kept per attempt, in bytes.
pub const MAX_ERROR_BYTES: usize = 300;

/// The error recorded for an attempt whose worker never reported a result (it died, or hung
/// past [`CLAIM_LEASE`]), once the next claim finds it so.
pub const UNREPORTED: &str = "unknown (the attempt did not report)";

/// What one attempt came to, as the dispatcher reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Accepted: HTTP 2xx (`http_status`), or a queued Lambda invocation (`None`).
    Delivered { http_status: Option<u16> },
    /// Not accepted, worth retrying: a non-2xx answer, a timeout, a refused connection.
    Failed { http_status: Option<u16>, error: String },
    /// Not accepted (HTTP `429`, `3xx` or `5xx`), and the receiver said with `Retry-After` when
    /// to try again (RFC 9110 §10.2.3, RFC 6585 §4): a failed attempt whose retry waits at least
    /// until then (see [`RetryAfter::not_before`]). `value` is the field as received (escaped
    /// and bounded), for the history.
    Deferred {
        http_status: u16,
        error: String,
        retry_after: RetryAfter,
        value: String,
    },
    /// The receiver answered `410 Gone`: it wants no more deliveries. Never retried.
    Gone,
}

impl AttemptOutcome {
    /// The outcome of an answer that is neither `2xx` nor `410 Gone`, with status `status`
    /// (`reason`: how to show it, e.g. `429 Too Many Requests`) and the raw `Retry-After` field
    /// value, if any: [`AttemptOutcome::Deferred`] when it is honoured ([`honoured`](super::retry_after::honoured)) and parses,
    /// else [`AttemptOutcome::Failed`] (a value that does not parse is named in the error and
    /// ignored).
    pub fn refused(status: u16, reason: &str, retry_after: Option<&[u8]>) -> Self {
        let error = format!("the endpoint answered HTTP {reason}");
        let Some(raw) = retry_after.filter(|_| super::retry_after::honoured(status)) else {
            return Self::Failed {
                http_status: Some(status),
                error,
            };
        };
        let text = String::from_utf8_lossy(raw);
        match RetryAfter::parse(&text) {
            Ok(parsed) => Self::Deferred {
                http_status: status,
                error,
                retry_after: parsed,
                value: super::retry_after::shown(text.trim_matches([' ', '\t'])),
            },
            Err(why) => Self::Failed {
                http_status: Some(status),
                error: format!("{error}; its Retry-After was ignored: {why}"),
            },
        }
    }
}

/// What an attempt came to, as its history entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptResult {
    /// Claimed and being sent; no result recorded yet.
    Sending,
    /// Accepted (HTTP 2xx, or a queued Lambda invocation).
    Delivered,
    /// Not accepted (its `http_status` and `error` say why).
    Failed,
    /// The receiver answered `410 Gone`.
    Gone,
    /// Its worker never reported a result: found so by the next claim ([`UNREPORTED`]).
    Unknown,
}

/// One attempt as the record keeps it: entered when it is claimed, its result filled in when
/// known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredAttempt")]
pub struct Attempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the attempt was claimed (it is sent right after); for attempts recorded before
    /// claims entered the history, when its result was recorded.
    pub at: DateTime<Utc>,
    pub result: AttemptResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The receiver's `Retry-After` as it answered it (at most
    /// [`super::retry_after::MAX_RETRY_AFTER_BYTES`]), when it was honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
}

/// An [`Attempt`] as stored: entries written before `result` existed were all recorded
/// results, told apart by their status and error.
#[derive(Deserialize)]
struct StoredAttempt {
    attempt: u32,
    at: DateTime<Utc>,
    #[serde(default)]
    result: Option<AttemptResult>,
    #[serde(default)]
    http_status: Option<u16>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    retry_after: Option<String>,
}

impl From<StoredAttempt> for Attempt {
    fn from(s: StoredAttempt) -> Self {
        let result = s.result.unwrap_or(match (s.http_status, &s.error) {
            (_, None) => AttemptResult::Delivered,
            (Some(410), Some(_)) => AttemptResult::Gone,
            (_, Some(_)) => AttemptResult::Failed,
        });
        Self {
            attempt: s.attempt,
            at: s.at,
            result,
            http_status: s.http_status,
            error: s.error,
            retry_after: s.retry_after,
        }
    }
}

/// One callback's delivery for a flow's outcome, kept on the flow record under the callback's
/// index in [`super::FlowRecord::callbacks`] (the target is not copied, so the record stays
/// small).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The flow status the delivery reports.
    pub outcome: FlowStatus,
    pub status: DeliveryStatus,
    /// Attempts claimed so far (each one sent, or at least begun).
    pub attempts: u32,
    /// When the next attempt is due; `None` once delivered or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The attempt number that is being sent now, until its result is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every attempt from its claim on, with its result once known, oldest first (at most
    /// [`MAX_DELIVERY_ATTEMPTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Attempt>,
}

impl Delivery {
    /// A delivery of `outcome`, due at `now`.
    pub fn new(outcome: FlowStatus, now: DateTime<Utc>) -> Self {
        Self {
            outcome,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            claimed: None,
            last_error: None,
            last_http_status: None,
            delivered_at: None,
            history: Vec::new(),
        }
    }

    /// Whether an attempt may be claimed at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at.is_some_and(|at| at <= now)
    }

    /// Claims the next attempt: counts it, enters it in the history (`SENDING`) and moves
    /// `next_attempt_at` to when it may be retried if it fails (or its worker dies): the
    /// schedule's wait, and never before the claim's lease ends. An earlier attempt still
    /// `SENDING` did not report: it becomes `UNKNOWN` ([`UNREPORTED`]). Returns the attempt
    /// number, or `None` when no attempt is due, or when the last attempt was made and did not
    /// report (the delivery is then given up: `FAILED`).
    pub fn claim(&mut self, now: DateTime<Utc>) -> Option<u32> {
        if !self.is_due(now) {
            return None;
        }
        for unreported in (self.history.iter_mut()).filter(|a| a.result == AttemptResult::Sending) {
            unreported.result = AttemptResult::Unknown;
            unreported.error = Some(UNREPORTED.to_owned());
            self.claimed = None;
            self.last_error = Some(UNREPORTED.to_owned());
            self.last_http_status = None;
        }
        if self.attempts >= MAX_DELIVERY_ATTEMPTS {
            // Due again after the last attempt only when that one never reported.
            self.status = DeliveryStatus::Failed;
            self.next_attempt_at = None;
            return None;
        }
        self.attempts += 1;
        self.claimed = Some(self.attempts);
        self.history.push(Attempt {
            attempt: self.attempts,
            at: now,
            result: AttemptResult::Sending,
            http_status: None,
            error: None,
            retry_after: None,
        });
        let wait = RETRY_DELAYS
            .get(self.attempts as usize - 1)
            .copied()
            .unwrap_or(Duration::zero());
        self.next_attempt_at = Some(now + wait.max(CLAIM_LEASE));
        Some(self.attempts)
    }

    /// Records the result of attempt `attempt` (answered at `now`) in its history entry. A
    /// delivered or failed delivery stays so; a failure after the last attempt (or `410 Gone`)
    /// gives the delivery up; a [`AttemptOutcome::Deferred`] failure moves the next attempt to
    /// at least the moment its `Retry-After` names (at most
    /// [`super::retry_after::MAX_RETRY_AFTER`] on). A result already recorded is kept; one for
    /// an attempt marked `UNKNOWN` replaces that. Returns whether anything changed.
    pub fn record(&mut self, attempt: u32, outcome: &AttemptOutcome, now: DateTime<Utc>) -> bool {
        if self.status != DeliveryStatus::Pending || attempt == 0 || attempt > self.attempts {
            return false;
        }
        let entry = self.history.iter().position(|a| a.attempt == attempt);
        let reported = |a: &Attempt| !matches!(a.result, AttemptResult::Sending | AttemptResult::Unknown);
        if entry.is_some_and(|i| reported(&self.history[i])) {
            return false;
        }
        if self.claimed == Some(attempt) {
            self.claimed = None;
        }
        let (result, http_status, error, retry_after) = match outcome {
            AttemptOutcome::Delivered { http_status } => (AttemptResult::Delivered, *http_status, None, None),
            AttemptOutcome::Failed { http_status, error } => (
                AttemptResult::Failed,
                *http_status,
                Some(bounded(error, MAX_ERROR_BYTES)),
                None,
            ),
            AttemptOutcome::Deferred {
                http_status,
                error,
                value,
                ..
            } => (
                AttemptResult::Failed,
                Some(*http_status),
                Some(bounded(error, MAX_ERROR_BYTES)),
                Some(value.clone()),
            ),
            AttemptOutcome::Gone => (
                AttemptResult::Gone,
                Some(410),
                Some("the receiver answered 410 Gone".to_owned()),
                None,
            ),
        };
        let recorded = Attempt {
            attempt,
            // When it was claimed, if the claim entered it (results from before did not).
            at: entry.map_or(now, |i| self.history[i].at),
            result,
            http_status,
            error: error.clone(),
            retry_after,
        };
        match entry {
            Some(i) => self.history[i] = recorded,
            None => {
                let at = self.history.partition_point(|a| a.attempt < attempt);
                self.history.insert(at, recorded);
            }
        }
        self.last_http_status = http_status;
        match outcome {
            AttemptOutcome::Delivered { .. } => {
                self.status = DeliveryStatus::Delivered;
                self.delivered_at = Some(now);
                self.next_attempt_at = None;
                self.last_error = None;
            }
            AttemptOutcome::Gone => {
                self.status = DeliveryStatus::Failed;
                self.next_attempt_at = None;
                self.last_error = error;
            }
            AttemptOutcome::Failed { .. } | AttemptOutcome::Deferred { .. } => {
                self.last_error = error;
                if self.attempts >= MAX_DELIVERY_ATTEMPTS {
                    self.status = DeliveryStatus::Failed;
                    self.next_attempt_at = None;
                } else if let AttemptOutcome::Deferred { retry_after, .. } = outcome {
                    let asked = retry_after.not_before(now);
                    self.next_attempt_at = self.next_attempt_at.map(|next| next.max(asked));
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn t0() -> DateTime<Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    pub(super) fn failed(status: u16) -> AttemptOutcome {
        AttemptOutcome::Failed {
            http_status: Some(status),
            error: format!("HTTP {status}"),
        }
    }

    #[test]
    fn a_new_delivery_is_due_at_once_and_only_one_claim_is_granted() {
        // GIVEN a new delivery
        let mut d = Delivery::new(FlowStatus::Succeeded, t0());
        // WHEN two workers try to claim it at the same moment
        let first = d.claim(t0());
        let second = d.claim(t0());
        // THEN only the first gets an attempt, counted before it is sent
        assert_eq!(first, Some(1));
        assert_eq!(second, None);
        assert_eq!(d.attempts, 1);
        assert_eq!(d.claimed, Some(1));
        assert_eq!(d.next_attempt_at, Some(t0() + CLAIM_LEASE));
    }

    #[test]
    fn failed_attempts_follow_the_schedule_past_a_day_then_give_up() {
        let mut d = Delivery::new(FlowStatus::Failed, t0());
        let mut now = t0();
        let mut times = Vec::new();
        while d.status == DeliveryStatus::Pending {
            assert!(!d.is_due(now - Duration::seconds(1)) || d.attempts == 0);
            let attempt = d.claim(now).expect("due");
            times.push(now);
            assert!(d.record(attempt, &failed(503), now));
            if let Some(next) = d.next_attempt_at {
                now = next;
            }
        }
        assert_eq!(d.attempts, MAX_DELIVERY_ATTEMPTS);
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.history.len(), MAX_DELIVERY_ATTEMPTS as usize);
        assert_eq!(d.last_http_status, Some(503));
        assert_eq!(d.next_attempt_at, None);
        let span = *times.last().unwrap() - times[0];
        assert!(span >= Duration::hours(24), "retries span {span}");
        // The second attempt waits the lease (60 s), not 5 s: a claim is never overtaken.
        assert_eq!(times[1] - times[0], CLAIM_LEASE);
        assert_eq!(times[2] - times[1], Duration::minutes(5));
        assert_eq!(times[7] - times[6], Duration::hours(10));
    }

    #[test]
    fn a_success_is_final_and_a_late_result_changes_nothing() {
        let mut d = Delivery::new(FlowStatus::Succeeded, t0());
        let a1 = d.claim(t0()).unwrap();
        let later = t0() + Duration::minutes(2);
        let a2 = d.claim(later).unwrap();
        assert!(d.record(
            a2,
            &AttemptOutcome::Delivered {
                http_status: Some(204)
            },
            later
        ));
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(d.delivered_at, Some(later));
        assert_eq!(d.next_attempt_at, None);
        assert!(!d.record(a1, &failed(500), later), "late failure after delivery");
        assert!(!d.record(a2, &failed(500), later), "same attempt twice");
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(d.claim(later + Duration::days(2)), None);
    }

    #[test]
    fn gone_stops_at_once() {
        let mut d = Delivery::new(FlowStatus::Succeeded, t0());
        let a = d.claim(t0()).unwrap();
        assert!(d.record(a, &AttemptOutcome::Gone, t0()));
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.last_http_status, Some(410));
        assert_eq!(d.attempts, 1);
        assert!(!d.is_due(t0() + Duration::days(3)));
    }

    #[test]
    fn an_attempt_never_claimed_cannot_be_recorded_and_errors_are_bounded() {
        let mut d = Delivery::new(FlowStatus::Succeeded, t0());
        assert!(!d.record(1, &failed(500), t0()), "no attempt was claimed");
        let a = d.claim(t0()).unwrap();
        let long = AttemptOutcome::Failed {
            http_status: None,
            error: "x".repeat(10_000),
        };
        assert!(d.record(a, &long, t0()));
        assert!(d.last_error.as_ref().unwrap().len() <= MAX_ERROR_BYTES);
        assert_eq!(d.claimed, None);
        assert_eq!(d.status, DeliveryStatus::Pending);
    }

    #[test]
    fn a_refusal_carries_the_retry_after_it_honours() {
        // GIVEN the answer: 429 with Retry-After: 90
        let outcome = AttemptOutcome::refused(429, "429 Too Many Requests", Some(b"90"));
        assert_eq!(
            outcome,
            AttemptOutcome::Deferred {
                http_status: 429,
                error: "the endpoint answered HTTP 429 Too Many Requests".into(),
                retry_after: RetryAfter::Seconds(90),
                value: "90".into(),
            }
        );
        // AND a 503 with a date
        let outcome = AttemptOutcome::refused(
            503,
            "503 Service Unavailable",
            Some(b"Sun, 29 Nov 2026 14:00:00 GMT"),
        );
        let AttemptOutcome::Deferred {
            retry_after, value, ..
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            retry_after,
            RetryAfter::At("2026-11-29T14:00:00Z".parse().unwrap())
        );
        assert_eq!(value, "Sun, 29 Nov 2026 14:00:00 GMT");
        // AND a 400 with Retry-After, or a 503 without one, is a plain failure
        assert_eq!(
            AttemptOutcome::refused(400, "400 Bad Request", Some(b"90")),
            AttemptOutcome::Failed {
                http_status: Some(400),
                error: "the endpoint answered HTTP 400 Bad Request".into()
            }
        );
        assert!(matches!(
            AttemptOutcome::refused(503, "503 Service Unavailable", None),
            AttemptOutcome::Failed {
                http_status: Some(503),
                ..
            }
        ));
        // AND a value that does not parse is named in the error and ignored
        let AttemptOutcome::Failed { error, .. } = AttemptOutcome::refused(503, "503", Some(b"later")) else {
            panic!()
        };
        assert!(
            error.contains("Retry-After was ignored") && error.contains("`later`"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod history_tests;
