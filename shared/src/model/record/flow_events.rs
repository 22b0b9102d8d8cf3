//! Flow events: each status a flow reaches, published to an EventBridge bus (source
//! `emr-flows`, detail-type `Flow Status Change`) at least once. The status-changing write
//! records the publication as due, in the same write as the status; the publisher sends every
//! due one and records the result in one more write; a failed publication is retried by the
//! sweep on the callbacks' schedule ([`super::super::delivery::RETRY_DELAYS`]) and given up
//! after [`super::super::MAX_DELIVERY_ATTEMPTS`], each attempt in its history.

use chrono::{DateTime, Utc};

use super::super::FlowStatus;
use super::super::delivery::{AttemptOutcome, Delivery};
use super::FlowRecord;

impl FlowRecord {
    /// Records the publication of the flow's current status as due, unless the flow publishes
    /// no events (no `event_bus`), is still `PENDING` (its first status is not a change) or has
    /// it already. For a status reached by a write that could not add it (the step event's
    /// single UpdateItem). Returns whether it was added.
    pub fn note_status_event(&mut self, now: DateTime<Utc>) -> bool {
        if self.event_bus.is_none()
            || self.status == FlowStatus::Pending
            || self.flow_events.contains_key(self.status.as_str())
        {
            return false;
        }
        (self.flow_events).insert(self.status.as_str().to_owned(), Delivery::new(self.status, now));
        true
    }

    /// The statuses whose publication is due at `now`, in the order the flow reached them.
    pub fn due_flow_events(&self, now: DateTime<Utc>) -> Vec<FlowStatus> {
        let mut due: Vec<FlowStatus> = (self.flow_events.values())
            .filter(|e| e.is_due(now))
            .map(|e| e.outcome)
            .collect();
        due.sort_by_key(|s| FlowStatus::ALL.iter().position(|a| a == s));
        due
    }

    /// Records one attempt per published status (counted and answered at once: a publication
    /// is sent before it is recorded, so a worker that dies between the two leaves it due, and
    /// it is sent again: at least once). Returns whether anything changed.
    pub fn record_flow_events(
        &mut self,
        results: &[(FlowStatus, AttemptOutcome)],
        now: DateTime<Utc>,
    ) -> bool {
        let mut changed = false;
        for (status, outcome) in results {
            let Some(event) = self.flow_events.get_mut(status.as_str()) else {
                continue;
            };
            if let Some(attempt) = event.claim(now) {
                event.record(attempt, outcome, now);
                changed = true;
            }
        }
        if changed {
            self.updated_at = now;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::super::super::delivery::{DeliveryStatus, MAX_DELIVERY_ATTEMPTS, RETRY_DELAYS};
    use super::super::super::outcome::ClusterFacts;
    use super::super::super::{ClusterId, FlowId};
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-12-06T09:00:00Z".parse().unwrap()
    }

    fn record(bus: Option<&str>) -> FlowRecord {
        FlowRecord {
            event_bus: bus.map(Into::into),
            ..FlowRecord::pending(FlowId::generate(), "spark-pi", "1", "c", t0())
        }
    }

    fn running(r: &mut FlowRecord, at: DateTime<Utc>) {
        assert!(r.started(&ClusterId::parse("j-ABC").unwrap(), &[], t0()));
        assert!(r.apply_cluster(&ClusterFacts::new("RUNNING".into(), None, None), at));
    }

    fn published() -> AttemptOutcome {
        AttemptOutcome::Delivered { http_status: None }
    }

    fn refused() -> AttemptOutcome {
        AttemptOutcome::Failed {
            http_status: None,
            error: "EventBridge refused the event: InternalFailure".into(),
        }
    }

    #[test]
    fn a_flow_without_a_bus_publishes_nothing() {
        let mut r = record(None);
        running(&mut r, t0());
        assert!(!r.note_status_event(t0()));
        assert!(r.flow_events.is_empty() && r.due_flow_events(t0()).is_empty());
    }

    #[test]
    fn each_status_reached_is_due_once_in_the_order_reached_and_done_when_published() {
        let mut r = record(Some("default"));
        assert!(
            r.due_flow_events(t0()).is_empty(),
            "PENDING is the first status, not a change"
        );
        running(&mut r, t0() + Duration::seconds(1));
        assert_eq!(
            r.due_flow_events(t0() + Duration::seconds(1)),
            [FlowStatus::Starting, FlowStatus::Running]
        );
        assert!(
            r.next_sweep_at()
                .is_some_and(|at| at <= t0() + Duration::seconds(1)),
            "due now"
        );
        assert!(!r.note_status_event(t0()), "a status has one publication");
        let now = t0() + Duration::seconds(2);
        assert!(r.record_flow_events(
            &[
                (FlowStatus::Starting, published()),
                (FlowStatus::Running, published())
            ],
            now
        ));
        assert!(r.due_flow_events(now + Duration::days(1)).is_empty());
        assert_eq!(r.flow_events["RUNNING"].status, DeliveryStatus::Delivered);
        assert_eq!(r.flow_events["RUNNING"].attempts, 1);
        assert_eq!(r.updated_at, now);
        assert!(
            !r.record_flow_events(&[(FlowStatus::Running, published())], now),
            "recorded once"
        );
        let mut without = r.clone();
        without.flow_events.clear();
        assert_eq!(
            r.next_sweep_at(),
            without.next_sweep_at(),
            "published events keep no sweep"
        );
    }

    #[test]
    fn a_failed_publication_is_retried_by_the_sweep_then_given_up() {
        let mut r = record(Some("default"));
        running(&mut r, t0());
        r.flow_events.remove("STARTING");
        let mut now = t0();
        for attempt in 1..=MAX_DELIVERY_ATTEMPTS {
            assert_eq!(r.due_flow_events(now), [FlowStatus::Running], "attempt {attempt}");
            assert!(r.record_flow_events(&[(FlowStatus::Running, refused())], now));
            let event = &r.flow_events["RUNNING"];
            assert_eq!(event.attempts, attempt);
            if attempt < MAX_DELIVERY_ATTEMPTS {
                let retry = now + RETRY_DELAYS[attempt as usize - 1].max(Duration::seconds(60));
                assert_eq!(event.next_attempt_at, Some(retry));
                assert!(
                    r.next_sweep_at().is_some_and(|at| at <= retry),
                    "the sweep comes back for it"
                );
                assert!(r.due_flow_events(retry - Duration::seconds(1)).is_empty());
                now = retry;
            }
        }
        assert_eq!(r.flow_events["RUNNING"].status, DeliveryStatus::Failed);
        assert!(r.due_flow_events(now + Duration::days(30)).is_empty());
    }

    #[test]
    fn a_status_a_write_without_the_record_moved_is_noted_once() {
        let mut r = record(Some("default"));
        assert!(!r.note_status_event(t0()), "never for PENDING");
        r.status = FlowStatus::Running; // as a step event's UpdateItem leaves it
        assert!(r.note_status_event(t0()));
        assert!(!r.note_status_event(t0()));
        assert_eq!(r.due_flow_events(t0()), [FlowStatus::Running]);
    }
}
