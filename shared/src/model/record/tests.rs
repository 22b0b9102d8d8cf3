//! The record's rules, GIVEN/WHEN/THEN, and a property test: any interleaving, duplication,
//! reordering and loss of a lifecycle's events, with reconcile runs in between, ends in the one
//! right outcome with exactly one successful send per callback.

use super::*;
use crate::model::delivery::MAX_DELIVERY_ATTEMPTS;
use crate::model::{
    ApplicationId, EksJobRunFacts, EksJobRunId, EksJobRunState, JobRunFacts, JobRunId, JobRunState,
    ResourceUtilization, VirtualClusterId,
};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

fn record(callbacks: usize) -> FlowRecord {
    FlowRecord {
        callbacks: (0..callbacks)
            .map(|i| CallbackTarget::Lambda(format!("f{i}")))
            .collect(),
        ..FlowRecord::pending(FlowId::generate(), "spark-pi", "1", "c", t0())
    }
}

fn step_id(i: usize) -> StepId {
    StepId::parse(&format!("s-{i}")).unwrap()
}

fn cluster() -> ClusterId {
    ClusterId::parse("j-ABC").unwrap()
}

fn listed(states: &[StepState]) -> Vec<ListedStep> {
    (states.iter().enumerate())
        .map(|(i, state)| ListedStep {
            id: step_id(i),
            name: format!("step {i}"),
            state: state.clone(),
        })
        .collect()
}

/// A started flow with `n` pending steps and `callbacks` callbacks.
fn started(n: usize, callbacks: usize) -> FlowRecord {
    let mut r = record(callbacks);
    assert!(r.started(&cluster(), &listed(&vec![StepState::Pending; n]), t0()));
    r
}

fn facts(state: &str, code: Option<&str>, steps: Option<&[StepState]>) -> ClusterFacts {
    let mut f = ClusterFacts::new(
        state.into(),
        code.map(Into::into),
        code.map(|c| format!("reason {c}")),
    );
    f.steps = steps.map(listed);
    f
}

use StepState::{Cancelled, Completed, Failed as StepFailed, Pending as StepPending, Running as StepRunning};

#[test]
fn a_started_flow_records_its_cluster_and_steps_once() {
    let mut r = record(0);
    let steps = listed(&[StepPending]);
    assert!(r.started(&cluster(), &steps, t0()));
    assert_eq!(r.status, FlowStatus::Starting);
    assert_eq!(r.steps[&step_id(0)].name, "step 0");
    assert_eq!(r.last_contact_at, Some(t0()));
    assert!(!r.started(&cluster(), &steps, t0()), "only a PENDING flow starts");
}

#[test]
fn steps_only_move_forward_and_a_duplicate_is_no_change() {
    let mut r = started(2, 0);
    assert!(r.apply_step(&step_id(0), "step 0", &Completed, None, t0()));
    assert!(
        !r.apply_step(&step_id(0), "step 0", &Completed, None, t0()),
        "duplicate"
    );
    assert!(
        !r.apply_step(&step_id(0), "step 0", &StepRunning, None, t0()),
        "late event"
    );
    assert!(
        !r.apply_step(&step_id(0), "step 0", &StepFailed, None, t0()),
        "late FAILED after COMPLETED"
    );
    assert_eq!(r.steps[&step_id(0)].state, Completed);
    assert_eq!(
        r.status,
        FlowStatus::Running,
        "a completed step means the cluster ran"
    );
    // A step first seen in an event goes last; EMR's list puts it in its place.
    assert!(r.apply_step(&step_id(7), "late", &StepPending, None, t0()));
    assert_eq!(r.steps[&step_id(7)].index, 2);
    assert!(r.apply_listed_steps(
        &[ListedStep {
            id: step_id(7),
            name: "late".into(),
            state: StepPending
        }],
        t0()
    ));
    assert_eq!(r.steps[&step_id(7)].index, 0);
    assert!(
        !r.apply_listed_steps(&listed(&[Completed]), t0()),
        "nothing new in EMR's list"
    );
}

#[test]
fn the_first_failed_step_is_the_first_in_job_flow_order() {
    let mut r = started(3, 0);
    r.apply_listed_steps(&listed(&[Completed, StepFailed, StepFailed]), t0());
    // Ids sort s-1 < s-2, but job-flow order decides: put s-2 first.
    r.steps.get_mut(&step_id(2)).unwrap().index = 0;
    r.steps.get_mut(&step_id(0)).unwrap().index = 1;
    r.steps.get_mut(&step_id(1)).unwrap().index = 2;
    assert_eq!(r.first_failed_step().unwrap().0, &step_id(2));
    let order: Vec<_> = r.ordered_steps().into_iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(order, [step_id(2), step_id(0), step_id(1)]);
}

#[test]
fn cluster_state_follows_emr_and_unknown_states_never_outrank_known_ones() {
    // GIVEN a flow that saw a state the product does not know (EMR also sends CREATING)
    let mut r = started(1, 0);
    assert!(r.apply_cluster(&facts("CREATING", None, None), t0()));
    assert_eq!(r.cluster_state, Some(ClusterState::Other("CREATING".into())));
    // WHEN RUNNING arrives THEN the cluster state follows EMR
    assert!(r.apply_cluster(&facts("RUNNING", None, None), t0()));
    assert_eq!(r.cluster_state, Some(ClusterState::Running));
    assert_eq!(r.status, FlowStatus::Running);
    // AND a late or unknown state never replaces it
    assert!(!r.apply_cluster(&facts("STARTING", None, None), t0()));
    assert!(!r.apply_cluster(&facts("BOOTSTRAPPING", None, None), t0()));
    assert!(!r.apply_cluster(&facts("CREATING", None, None), t0()));
    assert_eq!(r.cluster_state, Some(ClusterState::Running));
    assert!(r.apply_cluster(&facts("TERMINATING", None, None), t0()));
    assert!(
        !r.apply_cluster(&facts("RUNNING", None, None), t0()),
        "TERMINATING never goes back"
    );
}

#[test]
fn cluster_states_rank_in_lifecycle_order() {
    let order = [
        "CREATING",
        "STARTING",
        "BOOTSTRAPPING",
        "RUNNING",
        "TERMINATING",
        "TERMINATED",
    ];
    for pair in order.windows(2) {
        assert!(
            ClusterState::from(pair[0]).rank() < ClusterState::from(pair[1]).rank(),
            "{pair:?}"
        );
    }
    assert_eq!(ClusterState::Running.rank(), ClusterState::Waiting.rank());
    assert_eq!(
        ClusterState::Terminated.rank(),
        ClusterState::TerminatedWithErrors.rank()
    );
    for s in [
        "STARTING",
        "BOOTSTRAPPING",
        "RUNNING",
        "WAITING",
        "TERMINATING",
        "TERMINATED",
        "TERMINATED_WITH_ERRORS",
    ] {
        assert_eq!(ClusterState::from(s).as_str(), s);
        assert!(
            !matches!(ClusterState::from(s), ClusterState::Other(_)),
            "{s} is known"
        );
        assert_eq!(serde_json::to_value(ClusterState::from(s)).unwrap(), s);
    }
    assert!(ClusterState::Terminated.is_ended() && ClusterState::TerminatedWithErrors.is_ended());
    assert!(!ClusterState::Waiting.is_ended() && !ClusterState::Terminating.is_ended());
}

#[test]
fn a_step_failed_then_a_console_termination_is_failed_in_every_order() {
    let failed_then_cancelled = [StepFailed, Cancelled];
    // Order 1: WAITING (CANCEL_AND_WAIT) arrives, then TERMINATED USER_REQUEST.
    let mut a = started(2, 1);
    assert!(a.apply_cluster(&facts("WAITING", None, Some(&failed_then_cancelled)), t0()));
    a.apply_cluster(
        &facts("TERMINATED", Some("USER_REQUEST"), Some(&failed_then_cancelled)),
        t0(),
    );
    // Order 2: only TERMINATED USER_REQUEST (the WAITING event was lost).
    let mut b = started(2, 1);
    assert!(b.apply_cluster(
        &facts("TERMINATED", Some("USER_REQUEST"), Some(&failed_then_cancelled)),
        t0()
    ));
    for r in [&a, &b] {
        assert_eq!(r.status, FlowStatus::Failed);
        let cause = r.failure.as_ref().unwrap();
        assert_eq!(cause.code.as_deref(), Some("STEP_FAILURE"));
        assert_eq!(cause.message.as_deref(), Some("step step 0 (s-0) FAILED"));
        assert_eq!(cause.failed_step.as_ref().unwrap().id, step_id(0));
    }
    assert_eq!(
        a.cluster_state,
        Some(ClusterState::Terminated),
        "the ended flow notes its cluster ended"
    );
}

#[test]
fn a_refused_termination_is_an_attempt_and_a_later_instance_failure_is_failed() {
    // GIVEN a running flow whose termination EMR refused (termination protection)
    let mut r = started(1, 1);
    r.apply_step(&step_id(0), "step 0", &StepRunning, None, t0());
    assert!(r.request_termination(TerminationKind::Cancel, Some("stop".into()), t0()));
    assert!(r.termination_due(t0()));
    assert!(r.termination_attempted(Err("ValidationException: termination protected".into()), t0()));
    let t = r.termination.as_ref().unwrap();
    assert_eq!((t.attempts, t.accepted_at), (1, None));
    assert!(
        !r.termination_due(t0() + Duration::minutes(1)),
        "retried only after a while"
    );
    assert!(r.termination_due(t0() + TERMINATION_RETRY));
    // WHEN the cluster later fails on its own
    r.apply_cluster(
        &facts(
            "TERMINATED_WITH_ERRORS",
            Some("INSTANCE_FAILURE"),
            Some(&[StepRunning]),
        ),
        t0(),
    );
    // THEN the flow failed: the refused request was never a termination
    assert_eq!(r.status, FlowStatus::Failed);
    assert_eq!(
        r.failure.as_ref().unwrap().code.as_deref(),
        Some("INSTANCE_FAILURE")
    );
}

#[test]
fn an_accepted_termination_cancels_and_a_timeout_times_out() {
    let mut r = started(1, 1);
    assert!(r.request_termination(TerminationKind::Cancel, None, t0()));
    assert!(
        !r.request_termination(TerminationKind::Timeout, None, t0()),
        "asked once"
    );
    assert!(r.termination_attempted(Ok(()), t0()));
    assert!(!r.termination_attempted(Ok(()), t0()), "accepted once");
    assert!(!r.termination_due(t0() + Duration::days(1)));
    r.apply_cluster(
        &facts("TERMINATED", Some("USER_REQUEST"), Some(&[Cancelled])),
        t0(),
    );
    assert_eq!(r.status, FlowStatus::Cancelled);
    assert_eq!(r.failure.as_ref().unwrap().code.as_deref(), Some("USER_REQUEST"));

    let mut r = started(1, 1);
    r.deadline_at = Some(t0() + Duration::hours(1));
    assert!(!r.overdue(t0()));
    assert!(r.overdue(t0() + Duration::hours(1)));
    r.request_termination(TerminationKind::Timeout, None, t0());
    r.termination_attempted(Ok(()), t0());
    r.apply_cluster(
        &facts("TERMINATED", Some("USER_REQUEST"), Some(&[Cancelled])),
        t0(),
    );
    assert_eq!(r.status, FlowStatus::TimedOut);
    assert_eq!(
        r.failure.as_ref().unwrap().code.as_deref(),
        Some(MAX_RUNTIME_EXCEEDED)
    );
    assert_eq!(r.deliveries["0"].outcome, FlowStatus::TimedOut);
    assert!(
        !r.overdue(t0() + Duration::days(1)),
        "an ended flow is never overdue"
    );
}

#[test]
fn a_termination_asked_while_pending_waits_for_the_cluster() {
    let mut r = record(0);
    assert!(r.request_termination(TerminationKind::Cancel, None, t0()));
    assert!(!r.termination_due(t0()), "no cluster to terminate yet");
    assert!(r.started(&cluster(), &[], t0()));
    assert!(r.termination_due(t0()), "the adopted cluster is terminated");
}

#[test]
fn every_ending_calls_back_also_a_refused_or_lost_launch() {
    let mut r = record(2);
    assert!(r.launch_failed("ValidationException: 2 primary nodes", t0()));
    assert_eq!(r.status, FlowStatus::Failed);
    assert_eq!(r.failure.as_ref().unwrap().code.as_deref(), Some(LAUNCH_FAILED));
    assert_eq!(r.deliveries.len(), 2);
    assert!(r.deliveries.values().all(|d| d.is_due(t0())));
    assert!(!r.launch_failed("again", t0()));

    let mut r = record(1);
    assert!(r.launch_uncertain("dispatch failure: connection reset", t0()));
    assert!(!r.launch_uncertain("again", t0()), "noted once");
    assert_eq!(r.status, FlowStatus::Pending);
    assert_eq!(r.next_sweep_at(), Some(t0() + LAUNCH_GRACE));
    assert!(r.launch_lost(t0() + LAUNCH_GRACE));
    assert_eq!(r.failure.as_ref().unwrap().code.as_deref(), Some(LAUNCH_LOST));
    assert!(
        r.failure
            .as_ref()
            .unwrap()
            .message
            .as_ref()
            .unwrap()
            .contains("connection reset")
    );
    assert_eq!(r.deliveries.len(), 1);
}

#[test]
fn an_ended_flow_is_final() {
    let mut r = started(1, 2);
    assert!(r.apply_cluster(
        &facts("TERMINATED", Some("ALL_STEPS_COMPLETED"), Some(&[Completed])),
        t0()
    ));
    assert_eq!(r.status, FlowStatus::Succeeded);
    assert_eq!(r.ended_at, Some(t0()));
    assert!(r.failure.is_none());
    assert!(!r.apply_cluster(
        &facts(
            "TERMINATED_WITH_ERRORS",
            Some("STEP_FAILURE"),
            Some(&[StepFailed])
        ),
        t0()
    ));
    assert!(!r.apply_step(&step_id(9), "late", &StepFailed, None, t0()));
    assert!(
        !r.request_termination(TerminationKind::Cancel, None, t0()),
        "its cluster has ended"
    );
    assert_eq!(r.status, FlowStatus::Succeeded);
    assert!(!r.cluster_may_run());
}

#[test]
fn a_cluster_left_waiting_may_still_run_until_emr_says_it_ended() {
    let mut r = started(1, 0);
    r.apply_cluster(&facts("WAITING", None, Some(&[Completed])), t0());
    assert_eq!(r.status, FlowStatus::Succeeded);
    assert!(r.cluster_may_run());
    assert!(r.request_termination(TerminationKind::Cancel, None, t0()));
    let mut ended = facts("TERMINATED", Some("USER_REQUEST"), None);
    ended.normalized_instance_hours = Some(16);
    assert!(r.apply_cluster(&ended, t0()));
    assert!(!r.cluster_may_run());
    assert_eq!(r.normalized_instance_hours, Some(16));
    assert_eq!(r.status, FlowStatus::Succeeded);
    assert!(!r.apply_cluster(&ended, t0()), "duplicate");
}

#[test]
fn deliveries_are_claimed_once_and_recorded_per_attempt() {
    let mut r = started(1, 2);
    r.apply_cluster(&facts("TERMINATED", None, Some(&[Completed])), t0());
    assert!(r.has_pending_deliveries());
    let claims = r.claim_deliveries(t0());
    assert_eq!(claims, [("0".to_owned(), 1), ("1".to_owned(), 1)]);
    assert!(
        r.claim_deliveries(t0()).is_empty(),
        "a second worker gets nothing"
    );
    assert!(r.record_delivery(
        "0",
        1,
        &AttemptOutcome::Delivered {
            http_status: Some(200)
        },
        t0()
    ));
    assert!(r.record_delivery(
        "1",
        1,
        &AttemptOutcome::Failed {
            http_status: Some(500),
            error: "HTTP 500".into()
        },
        t0()
    ));
    assert!(
        !r.record_delivery("9", 1, &AttemptOutcome::Gone, t0()),
        "no such delivery"
    );
    assert!(r.has_pending_deliveries());
    let next = r.deliveries["1"].next_attempt_at.unwrap();
    assert_eq!(r.next_sweep_at(), Some(next));
    for _ in 1..MAX_DELIVERY_ATTEMPTS {
        let now = r.deliveries["1"].next_attempt_at.unwrap();
        let claims = r.claim_deliveries(now);
        assert_eq!(claims.len(), 1);
        r.record_delivery(
            "1",
            claims[0].1,
            &AttemptOutcome::Failed {
                http_status: None,
                error: "refused".into(),
            },
            now,
        );
    }
    assert!(!r.has_pending_deliveries());
    assert_eq!(r.next_sweep_at(), None, "nothing left for the sweep");
}

#[test]
fn extra_clusters_are_noted_once_and_bounded() {
    let mut r = started(0, 0);
    assert!(
        !r.note_extra_cluster(&cluster(), t0()),
        "its own cluster is no extra"
    );
    for i in 0..MAX_EXTRA_CLUSTERS + 2 {
        let extra = ClusterId::parse(&format!("j-EXTRA{i}")).unwrap();
        assert_eq!(r.note_extra_cluster(&extra, t0()), i < MAX_EXTRA_CLUSTERS);
    }
    let first = ClusterId::parse("j-EXTRA0").unwrap();
    assert!(!r.note_extra_cluster(&first, t0()), "noted once");
    assert!(r.extra_cluster_terminated(&first, Ok(()), t0()));
    assert!(!r.extra_cluster_terminated(&first, Ok(()), t0()));
    assert_eq!(r.extra_clusters[0].terminated_at, Some(t0()));
}

#[test]
fn the_sweep_looks_at_a_flow_only_when_something_is_due() {
    let mut r = record(0);
    assert_eq!(r.next_sweep_at(), Some(t0() + LAUNCH_GRACE), "a pending launch");
    r.started(&cluster(), &listed(&[StepPending]), t0());
    assert_eq!(r.next_sweep_at(), Some(t0() + REPAIR_AFTER), "no word from EMR");
    r.deadline_at = Some(t0() + Duration::minutes(5));
    assert_eq!(
        r.next_sweep_at(),
        Some(t0() + Duration::minutes(5)),
        "the deadline"
    );
    r.apply_cluster(&facts("TERMINATED", None, Some(&[Completed])), t0());
    assert_eq!(r.next_sweep_at(), None, "ended, no callbacks, nothing to fetch");
}

#[test]
fn a_failed_steps_missing_cause_is_fetched_within_a_window() {
    let mut r = failed_at_step();
    assert!(r.cause_pending(t0()));
    assert_eq!(r.next_sweep_at(), Some(t0() + CAUSE_RETRY));
    assert!(!r.cause_pending(t0() + CAUSE_WINDOW));
    let details = StepFailureDetails {
        reason: Some("Unknown Error.".into()),
        message: None,
        log_file: Some("s3://logs/j-ABC/steps/s-0/stderr.gz".into()),
    };
    let log = format!("{}\nException in thread main: boom\n", "noise\n".repeat(2000));
    assert!(r.add_cause(&step_id(0), Some(details.clone()), Some(log), t0()));
    let step = r.failure.as_ref().unwrap().failed_step.as_ref().unwrap();
    assert_eq!(step.failure_details.as_ref(), Some(&details));
    let cause = step.probable_cause.as_ref().unwrap();
    assert!(cause.len() <= MAX_PROBABLE_CAUSE_BYTES && cause.ends_with("boom\n"));
    assert!(cause.starts_with("noise"), "cut at a line start: {cause:.20}");
    assert!(!r.cause_pending(t0()));
    assert!(
        !r.add_cause(&step_id(5), Some(details), None, t0()),
        "not the failed step"
    );
}

#[test]
fn strings_from_outside_are_bounded() {
    let mut r = started(0, 0);
    assert!(r.apply_step(&step_id(1), &"n".repeat(5000), &StepPending, None, t0()));
    assert!(r.steps[&step_id(1)].name.len() <= MAX_STEP_NAME_BYTES);
    r.request_termination(TerminationKind::Cancel, None, t0());
    r.termination_attempted(Err("e".repeat(100_000)), t0());
    assert!(r.termination.as_ref().unwrap().last_error.as_ref().unwrap().len() <= MAX_MESSAGE_BYTES);
    let mut full = started(0, 0);
    for i in 0..MAX_RECORDED_STEPS + 5 {
        full.apply_step(&step_id(i), "s", &StepPending, None, t0());
    }
    assert_eq!(full.steps.len(), MAX_RECORDED_STEPS);
}

// ---- The property: outcomes never depend on event luck. ----

/// How a lifecycle ends in EMR's truth.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Success,
    StepFailure(usize),
    /// ActionOnFailure CANCEL_AND_WAIT, then someone terminates the waiting cluster.
    FailedThenConsoleTermination(usize),
    OurCancel,
    Timeout,
    BootstrapFailure,
    /// Our terminate is refused (termination protection); an instance then fails.
    RefusedThenInstanceFailure,
}

/// EMR's truth at one moment: the cluster's state and reason, and every step's state.
#[derive(Debug, Clone)]
struct Snapshot {
    cluster: &'static str,
    reason: Option<&'static str>,
    steps: Vec<StepState>,
}

fn timeline(ending: Ending, n: usize) -> Vec<Snapshot> {
    let snap = |cluster, reason, steps: Vec<StepState>| Snapshot {
        cluster,
        reason,
        steps,
    };
    let mut t = vec![
        snap("STARTING", None, vec![StepPending; n]),
        snap("BOOTSTRAPPING", None, vec![StepPending; n]),
    ];
    if let Ending::BootstrapFailure = ending {
        t.push(snap(
            "TERMINATED_WITH_ERRORS",
            Some("BOOTSTRAP_FAILURE"),
            vec![Cancelled; n],
        ));
        return t;
    }
    t.push(snap("RUNNING", None, vec![StepPending; n]));
    let stop = match ending {
        Ending::StepFailure(k) | Ending::FailedThenConsoleTermination(k) => k % n,
        Ending::OurCancel | Ending::Timeout | Ending::RefusedThenInstanceFailure => n / 2,
        _ => n,
    };
    let mut steps = vec![StepPending; n];
    for i in 0..stop {
        steps[i] = StepRunning;
        t.push(snap("RUNNING", None, steps.clone()));
        steps[i] = Completed;
        t.push(snap("RUNNING", None, steps.clone()));
    }
    match ending {
        Ending::Success => t.push(snap("TERMINATED", Some("ALL_STEPS_COMPLETED"), steps)),
        Ending::StepFailure(_) => {
            steps[stop] = StepFailed;
            t.push(snap("RUNNING", None, steps.clone()));
            steps[stop + 1..].fill(Cancelled);
            t.push(snap("TERMINATING", Some("STEP_FAILURE"), steps.clone()));
            t.push(snap("TERMINATED_WITH_ERRORS", Some("STEP_FAILURE"), steps));
        }
        Ending::FailedThenConsoleTermination(_) => {
            steps[stop] = StepFailed;
            steps[stop + 1..].fill(Cancelled);
            t.push(snap("WAITING", None, steps.clone()));
            t.push(snap("TERMINATED", Some("USER_REQUEST"), steps));
        }
        Ending::OurCancel | Ending::Timeout => {
            steps[stop] = StepRunning;
            t.push(snap("RUNNING", None, steps.clone()));
            steps[stop..].fill(Cancelled);
            t.push(snap("TERMINATING", Some("USER_REQUEST"), steps.clone()));
            t.push(snap("TERMINATED", Some("USER_REQUEST"), steps));
        }
        Ending::RefusedThenInstanceFailure => {
            steps[stop] = StepRunning;
            t.push(snap("RUNNING", None, steps.clone()));
            steps[stop..].fill(Cancelled);
            t.push(snap("TERMINATED_WITH_ERRORS", Some("INSTANCE_FAILURE"), steps));
        }
        Ending::BootstrapFailure => unreachable!(),
    }
    t
}

/// The events EMR would send for a timeline: `(time, event)`, a cluster event per state
/// change and a step event per step change.
#[derive(Debug, Clone)]
enum Event {
    Cluster(usize),
    Step(usize, usize),
}

fn events(t: &[Snapshot]) -> Vec<(usize, Event)> {
    let mut out = vec![(0, Event::Cluster(0))];
    for i in 1..t.len() {
        if t[i].cluster != t[i - 1].cluster {
            out.push((i, Event::Cluster(i)));
        }
        for s in 0..t[i].steps.len() {
            if t[i].steps[s] != t[i - 1].steps[s] {
                out.push((i, Event::Step(i, s)));
            }
        }
    }
    out
}

fn expected(ending: Ending) -> (FlowStatus, Option<usize>) {
    match ending {
        Ending::Success => (FlowStatus::Succeeded, None),
        Ending::StepFailure(k) | Ending::FailedThenConsoleTermination(k) => (FlowStatus::Failed, Some(k)),
        Ending::OurCancel => (FlowStatus::Cancelled, None),
        Ending::Timeout => (FlowStatus::TimedOut, None),
        Ending::BootstrapFailure | Ending::RefusedThenInstanceFailure => (FlowStatus::Failed, None),
    }
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        Just(Ending::Success),
        (0..4usize).prop_map(Ending::StepFailure),
        (0..4usize).prop_map(Ending::FailedThenConsoleTermination),
        Just(Ending::OurCancel),
        Just(Ending::Timeout),
        Just(Ending::BootstrapFailure),
        Just(Ending::RefusedThenInstanceFailure),
    ]
}

/// What happens to each event: lost, delivered once, or twice; and where it lands in the order.
#[derive(Debug, Clone)]
struct Fate {
    copies: u8,
    delay: usize,
}

fn fates() -> impl Strategy<Value = Vec<Fate>> {
    prop::collection::vec(
        (0u8..=2, 0usize..12).prop_map(|(copies, delay)| Fate { copies, delay }),
        64,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_order_loss_and_duplication_of_events_with_reconciles_ends_right(
        ending in ending(),
        n in 1usize..5,
        fates in fates(),
        reconcile_every in 1usize..8,
        send_fails in prop::collection::vec(any::<bool>(), 40),
    ) {
        let ending = match ending {
            Ending::StepFailure(k) => Ending::StepFailure(k % n),
            Ending::FailedThenConsoleTermination(k) => Ending::FailedThenConsoleTermination(k % n),
            e => e,
        };
        let truth = timeline(ending, n);
        let last = truth.len() - 1;
        // Each event arrives at `time + delay` (lost with 0 copies, twice with 2).
        let mut arrivals: Vec<(usize, usize, Event)> = Vec::new();
        for (i, (time, event)) in events(&truth).into_iter().enumerate() {
            let fate = &fates[i % fates.len()];
            for copy in 0..fate.copies {
                arrivals.push((time + fate.delay + copy as usize, i, event.clone()));
            }
        }
        arrivals.sort_by_key(|(at, i, _)| (*at, *i));

        let mut r = record(2);
        r.started(&cluster(), &listed(&truth[0].steps), t0());
        let mut sends = [0u32; 2];
        let mut successes = [0u32; 2];
        let mut fail = send_fails.iter().cycle();
        let mut now = t0();
        // Our own termination, asked when the truth shows a cluster about to be stopped.
        let ask_at = truth.iter().position(|s| s.cluster == "TERMINATING" || s.cluster.starts_with("TERMINATED")).unwrap_or(last);
        let ours = match ending {
            Ending::OurCancel => Some((TerminationKind::Cancel, Ok(()))),
            Ending::Timeout => Some((TerminationKind::Timeout, Ok(()))),
            Ending::RefusedThenInstanceFailure => Some((TerminationKind::Cancel, Err("termination protected".to_owned()))),
            _ => None,
        };
        let facts_at = |w: usize, state: &Snapshot| {
            let mut f = ClusterFacts::new(state.cluster.into(), state.reason.map(Into::into), None);
            if f.may_end_flow() {
                f.steps = Some(listed(&truth[w.min(last)].steps)); // ListSteps at handling time
            }
            f
        };
        let mut deliver = |r: &mut FlowRecord, now: DateTime<Utc>, receivers_down: bool| {
            for (key, attempt) in r.claim_deliveries(now) {
                let i: usize = key.parse().unwrap();
                sends[i] += 1;
                let outcome = if receivers_down && *fail.next().unwrap() {
                    AttemptOutcome::Failed { http_status: Some(503), error: "down".into() }
                } else {
                    successes[i] += 1;
                    AttemptOutcome::Delivered { http_status: Some(200) }
                };
                r.record_delivery(&key, attempt, &outcome, now);
            }
        };
        let horizon = arrivals.last().map_or(last, |(at, _, _)| *at).max(last);
        let mut next = arrivals.into_iter().peekable();
        for w in 0..=horizon {
            now += Duration::minutes(1);
            if w == ask_at && let Some((kind, result)) = &ours {
                r.request_termination(*kind, None, now);
                r.termination_attempted(result.clone(), now);
            }
            while let Some((_, _, event)) = next.next_if(|(at, _, _)| *at == w) {
                match event {
                    Event::Cluster(i) => { r.apply_cluster(&facts_at(w, &truth[i]), now); }
                    Event::Step(i, s) => { r.apply_step(&step_id(s), &format!("step {s}"), &truth[i].steps[s], None, now); }
                }
                deliver(&mut r, now, true);
            }
            if w % reconcile_every == 0 {
                // The sweep reads EMR's truth as of now.
                r.apply_cluster(&facts_at(w, &truth[w.min(last)]), now);
                deliver(&mut r, now, true);
            }
        }
        // The last sweep sees the end, and the receivers come back: sweeps until nothing is due.
        r.apply_cluster(&facts_at(last, &truth[last]), now);
        for _ in 0..20 {
            now += Duration::hours(11);
            deliver(&mut r, now, false);
        }
        let (status, failed_step) = expected(ending);
        prop_assert_eq!(r.status, status);
        let recorded = r.failure.as_ref().and_then(|f| f.failed_step.as_ref()).map(|s| s.id.clone());
        prop_assert_eq!(recorded, failed_step.map(step_id));
        for i in 0..2 {
            let d = &r.deliveries[&i.to_string()];
            prop_assert_eq!(d.attempts, sends[i], "every send counted");
            prop_assert_eq!(successes[i], 1, "exactly one successful send");
            prop_assert_eq!(d.status, DeliveryStatus::Delivered);
        }
    }
}

#[test]
fn only_the_steps_emr_lists_decide_the_outcome() {
    // GIVEN a flow whose step completed, and an event naming a step EMR never listed
    let mut r = started(1, 0);
    let stray = StepId::parse("s-NOTINFLOW1").unwrap();
    r.apply_step(&stray, "stray", &StepRunning, None, t0());
    r.apply_step(&step_id(0), "step 0", &Completed, None, t0());
    // WHEN the cluster ends cleanly and ListSteps lists only the real step, completed
    r.apply_cluster(
        &facts("TERMINATED", Some("ALL_STEPS_COMPLETED"), Some(&[Completed])),
        t0(),
    );
    // THEN the flow succeeded
    assert_eq!(r.status, FlowStatus::Succeeded);
}

#[test]
fn a_failure_without_a_failed_step_or_an_error_code_says_what_did_not_complete() {
    let mut r = started(2, 0);
    r.apply_cluster(
        &facts(
            "TERMINATED",
            Some("ALL_STEPS_COMPLETED"),
            Some(&[Completed, StepRunning]),
        ),
        t0(),
    );
    assert_eq!(r.status, FlowStatus::Failed);
    let cause = r.failure.unwrap();
    assert_eq!(cause.code.as_deref(), Some(STEPS_INCOMPLETE));
    assert_eq!(
        cause.message.as_deref(),
        Some("the cluster ended TERMINATED with steps not completed: step 1 (s-1) RUNNING")
    );
}

#[test]
fn past_its_deadline_a_flow_is_due_once_for_its_termination() {
    let mut r = started(1, 0);
    r.deadline_at = Some(t0() + Duration::minutes(1));
    assert_eq!(r.next_sweep_at(), Some(t0() + Duration::minutes(1)));
    r.request_termination(TerminationKind::Timeout, None, t0() + Duration::minutes(2));
    r.termination_attempted(Ok(()), t0() + Duration::minutes(2));
    // The deadline no longer makes it due; only EMR's silence does.
    assert_eq!(r.next_sweep_at(), Some(t0() + REPAIR_AFTER));
}

// ---- Second batch (issue 10): what cargo-mutants showed the tests above let through. ----

fn t(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

#[test]
fn every_change_stamps_the_record_with_its_time() {
    // GIVEN a started flow
    let mut r = started(1, 1);
    assert_eq!(r.updated_at, t0());
    // WHEN its step runs a minute later THEN the record is stamped with that minute
    assert!(r.apply_step(&step_id(0), "step 0", &StepRunning, None, t(1)));
    assert_eq!(r.updated_at, t(1));
    // AND a sweep's claim that finds no delivery due leaves it as it was
    assert!(r.claim_deliveries(t(2)).is_empty());
    assert_eq!(r.updated_at, t(1));
    // AND a termination request, an attempt, the ending and a delivery's claim stamp it too
    assert!(r.request_termination(TerminationKind::Cancel, None, t(2)));
    assert_eq!(r.updated_at, t(2));
    assert!(r.termination_attempted(Ok(()), t(3)));
    assert_eq!(r.updated_at, t(3));
    r.apply_cluster(
        &facts("TERMINATED", Some("USER_REQUEST"), Some(&[Cancelled])),
        t(4),
    );
    assert_eq!(r.updated_at, t(4));
    assert_eq!(r.claim_deliveries(t(5)).len(), 1);
    assert_eq!(r.updated_at, t(5));
}

#[test]
fn a_step_event_is_a_change_whether_or_not_it_moves_the_flow() {
    // GIVEN a flow already RUNNING (its first step runs)
    let mut r = started(2, 0);
    assert!(r.apply_step(&step_id(0), "step 0", &StepRunning, None, t0()));
    assert_eq!(r.status, FlowStatus::Running);
    // WHEN the next step starts running THEN that is a change to write, though the flow stays
    assert!(r.apply_step(&step_id(1), "step 1", &StepRunning, None, t(1)));
    assert_eq!(r.steps[&step_id(1)].state, StepRunning);
    assert_eq!(r.last_contact_at, Some(t(1)));
    // AND a step EMR listed RUNNING at launch moves a STARTING flow when its event arrives,
    // though the step itself is no further along
    let mut s = record(0);
    assert!(s.started(&cluster(), &listed(&[StepRunning]), t0()));
    assert_eq!(s.status, FlowStatus::Starting);
    assert!(s.apply_step(&step_id(0), "step 0", &StepRunning, None, t(1)));
    assert_eq!(s.status, FlowStatus::Running);
}

#[test]
fn a_cluster_moves_between_running_and_waiting_both_ways() {
    // GIVEN a running cluster with a step still to run
    let mut r = started(1, 0);
    assert!(r.apply_cluster(&facts("RUNNING", None, None), t0()));
    // WHEN it waits (between steps) THEN WAITING is recorded: it ranks with RUNNING, not below
    assert!(r.apply_cluster(&facts("WAITING", None, None), t(1)));
    assert_eq!(r.cluster_state, Some(ClusterState::Waiting));
    assert_eq!(r.status, FlowStatus::Running);
    // AND when it runs again, RUNNING is recorded
    assert!(r.apply_cluster(&facts("RUNNING", None, None), t(2)));
    assert_eq!(r.cluster_state, Some(ClusterState::Running));
}

#[test]
fn an_ending_is_written_even_when_nothing_else_changed() {
    // GIVEN a flow whose one step completed, as events told
    let mut r = started(1, 1);
    assert!(r.apply_step(&step_id(0), "step 0", &Completed, None, t0()));
    // WHEN the cluster ends, EMR's list saying what the record knows, no instance hours yet
    let ended = facts("TERMINATED", Some("ALL_STEPS_COMPLETED"), Some(&[Completed]));
    // THEN the ending is a change (written, with its delivery)
    assert!(r.apply_cluster(&ended, t(1)));
    assert_eq!(r.status, FlowStatus::Succeeded);
    assert_eq!(r.deliveries.len(), 1);
    // AND an ended flow whose cluster was left waiting notes the cluster's end as a change
    let mut w = started(1, 0);
    w.apply_cluster(&facts("WAITING", None, Some(&[Completed])), t0());
    assert_eq!(w.status, FlowStatus::Succeeded);
    assert!(w.apply_cluster(&facts("TERMINATED", Some("USER_REQUEST"), None), t(1)));
    assert_eq!(w.cluster_state, Some(ClusterState::Terminated));
}

#[test]
fn steps_emr_lists_are_a_change_while_the_cluster_state_stays() {
    // GIVEN a running flow and cluster
    let mut r = started(2, 0);
    r.apply_cluster(&facts("RUNNING", None, Some(&[StepRunning, StepPending])), t0());
    // WHEN the sweep's ListSteps shows the first step completed, the cluster still RUNNING
    let sweep = facts("RUNNING", None, Some(&[Completed, StepRunning]));
    // THEN that is a change to write
    assert!(r.apply_cluster(&sweep, t(1)));
    assert_eq!(r.steps[&step_id(0)].state, Completed);
    assert_eq!(r.steps[&step_id(1)].state, StepRunning);
    // AND the same list again is none
    assert!(!r.apply_cluster(&sweep, t(2)));
}

#[test]
fn the_failed_steps_details_are_kept_only_for_that_step() {
    let details = StepFailureDetails {
        reason: Some("Unknown Error.".into()),
        message: Some("exit 1".into()),
        log_file: None,
    };
    let ending = |details_of: usize| {
        let mut f = facts(
            "TERMINATED_WITH_ERRORS",
            Some("STEP_FAILURE"),
            Some(&[Completed, StepFailed]),
        );
        f.failure_details = Some((step_id(details_of), details.clone()));
        f
    };
    // GIVEN EMR's details of the failed step WHEN the flow ends THEN the failed step has them
    let mut r = started(2, 0);
    r.apply_cluster(&ending(1), t0());
    let failed = r.failure.as_ref().unwrap().failed_step.as_ref().unwrap();
    assert_eq!(failed.id, step_id(1));
    assert_eq!(failed.failure_details.as_ref(), Some(&details));
    // AND details fetched for another step are never put on it
    let mut r = started(2, 0);
    r.apply_cluster(&ending(0), t0());
    let failed = r.failure.as_ref().unwrap().failed_step.as_ref().unwrap();
    assert_eq!(failed.failure_details, None);
}

#[test]
fn termination_is_tried_at_most_eight_times() {
    // GIVEN a running flow whose termination EMR refuses every time
    let mut r = started(1, 0);
    r.apply_step(&step_id(0), "step 0", &StepRunning, None, t0());
    r.request_termination(TerminationKind::Cancel, None, t0());
    let mut now = t0();
    for attempt in 1..=MAX_TERMINATION_ATTEMPTS {
        // WHEN each attempt is due THEN it is made
        assert!(r.termination_due(now), "attempt {attempt}");
        r.termination_attempted(Err("termination protected".into()), now);
        now += TERMINATION_RETRY;
    }
    // THEN after the eighth there is no ninth, and the sweep waits for no attempt
    assert_eq!(r.termination.as_ref().unwrap().attempts, 8);
    assert!(!r.termination_due(now));
    assert!(!r.termination_due(now + Duration::days(1)));
    r.last_contact_at = Some(now);
    assert_eq!(r.next_sweep_at(), Some(now + REPAIR_AFTER));
}

#[test]
fn a_sweep_that_found_nothing_new_is_noted_as_contact() {
    // GIVEN a started flow EMR has said nothing about for a while
    let mut r = started(1, 0);
    assert_eq!(r.next_sweep_at(), Some(t0() + REPAIR_AFTER));
    // WHEN the sweep asked EMR and found nothing new
    let later = t0() + REPAIR_AFTER;
    // THEN that is written: the contact and the record's time move, and so does the next sweep
    assert!(r.checked(later));
    assert_eq!(r.last_contact_at, Some(later));
    assert_eq!(r.updated_at, later);
    assert_eq!(r.next_sweep_at(), Some(later + REPAIR_AFTER));
}

/// A flow that failed at its one step, EMR's details and log not fetched yet.
fn failed_at_step() -> FlowRecord {
    let mut r = started(1, 0);
    r.apply_cluster(
        &facts(
            "TERMINATED_WITH_ERRORS",
            Some("STEP_FAILURE"),
            Some(&[StepFailed]),
        ),
        t0(),
    );
    r
}

#[test]
fn a_cause_is_pending_until_both_the_details_and_the_log_are_in() {
    let details = StepFailureDetails {
        reason: Some("Unknown Error.".into()),
        message: None,
        log_file: Some("s3://logs/j-ABC/steps/s-0/stderr.gz".into()),
    };
    // GIVEN a failed step WHEN only EMR's details are in THEN the log is still awaited
    let mut r = failed_at_step();
    assert!(r.add_cause(&step_id(0), Some(details.clone()), None, t(1)));
    assert!(r.cause_pending(t(1)));
    // AND when only the log is in, the details are still awaited
    let mut r = failed_at_step();
    assert!(r.add_cause(&step_id(0), None, Some("boom\n".into()), t(1)));
    assert!(r.cause_pending(t(1)));
    // AND with both, nothing is pending
    assert!(r.add_cause(&step_id(0), Some(details), None, t(2)));
    assert!(!r.cause_pending(t(2)));
}

#[test]
fn failure_details_count_as_said_when_any_one_field_is_there() {
    // GIVEN EMR's details with only some fields, as DescribeStep returns them
    let only = |reason: bool, message: bool, log_file: bool| StepFailureDetails {
        reason: reason.then(|| "Unknown Error.".to_owned()),
        message: message.then(|| "exit 1".to_owned()),
        log_file: log_file.then(|| "s3://logs/stderr.gz".to_owned()),
    };
    // WHEN each is judged THEN any one field is something said, none is nothing
    assert!(only(false, false, false).is_empty());
    for (reason, message, log_file) in [
        (true, false, false),
        (false, true, false),
        (false, false, true),
        (true, false, true),
        (true, true, false),
    ] {
        assert!(
            !only(reason, message, log_file).is_empty(),
            "{reason} {message} {log_file}"
        );
    }
    // AND a fetch that found only a log file is kept, while one that found nothing is no change
    let mut r = failed_at_step();
    assert!(!r.add_cause(&step_id(0), Some(only(false, false, false)), None, t(1)));
    assert_eq!(
        r.failure
            .as_ref()
            .unwrap()
            .failed_step
            .as_ref()
            .unwrap()
            .failure_details,
        None
    );
    assert!(r.add_cause(&step_id(0), Some(only(false, false, true)), None, t(1)));
    // AND details that say nothing leave the cause pending, though the log is in
    let mut r = started(1, 0);
    let mut ending = facts(
        "TERMINATED_WITH_ERRORS",
        Some("STEP_FAILURE"),
        Some(&[StepFailed]),
    );
    ending.failure_details = Some((step_id(0), only(false, false, false)));
    r.apply_cluster(&ending, t0());
    assert!(r.add_cause(&step_id(0), None, Some("boom\n".into()), t(1)));
    assert!(r.cause_pending(t(1)));
}

#[test]
fn the_sweep_comes_back_for_a_termination_until_emr_accepts_it() {
    // GIVEN a flow that succeeded with its cluster left waiting, nothing else due
    let mut r = started(1, 0);
    r.apply_cluster(&facts("WAITING", None, Some(&[Completed])), t0());
    assert_eq!(r.status, FlowStatus::Succeeded);
    assert_eq!(r.next_sweep_at(), None);
    // WHEN a termination is asked THEN the sweep is due at once
    assert!(r.request_termination(TerminationKind::Cancel, None, t(1)));
    assert_eq!(r.next_sweep_at(), Some(t(1)));
    // AND after a refused attempt, when the retry wait is over
    r.termination_attempted(Err("ThrottlingException".into()), t(2));
    assert_eq!(r.next_sweep_at(), Some(t(2) + TERMINATION_RETRY));
    // AND once EMR accepted it, never for it again
    r.termination_attempted(Ok(()), t(2) + TERMINATION_RETRY);
    assert_eq!(r.next_sweep_at(), None);
}

#[test]
fn the_sweep_gives_up_on_a_termination_after_eight_refusals() {
    // GIVEN a cluster left waiting whose termination EMR refused eight times
    let mut r = started(1, 0);
    r.apply_cluster(&facts("WAITING", None, Some(&[Completed])), t0());
    r.request_termination(TerminationKind::Cancel, None, t0());
    for i in 0..MAX_TERMINATION_ATTEMPTS {
        assert!(r.next_sweep_at().is_some(), "attempt {}", i + 1);
        r.termination_attempted(Err("termination protected".into()), t(i64::from(i) * 15));
    }
    // WHEN the sweep's next visit is asked for THEN there is none
    assert_eq!(r.next_sweep_at(), None);
}

#[test]
fn no_sweep_is_planned_for_a_cause_once_its_window_has_closed() {
    // GIVEN a flow that failed at a step, its cause still missing, last fetched 25 minutes in
    let mut r = failed_at_step();
    r.last_contact_at = Some(t0() + CAUSE_WINDOW - CAUSE_RETRY);
    // WHEN the next try would fall on the window's end THEN none is planned
    assert_eq!(r.next_sweep_at(), None);
    // AND a minute earlier, the try falls inside the window and is planned
    r.last_contact_at = Some(t0() + CAUSE_WINDOW - CAUSE_RETRY - Duration::minutes(1));
    assert_eq!(
        r.next_sweep_at(),
        Some(t0() + CAUSE_WINDOW - Duration::minutes(1))
    );
}

#[test]
fn a_probable_cause_is_the_logs_end_cut_at_a_character_boundary_and_a_line() {
    // GIVEN a failed step whose log is one long line of two-byte characters, its cut point
    // inside a character
    let log = format!("{}\n", "é".repeat(3000));
    let mut r = failed_at_step();
    // WHEN the log is added THEN its end is kept from the next character, whole, never empty
    assert!(r.add_cause(&step_id(0), None, Some(log), t(1)));
    let step = r.failure.as_ref().unwrap().failed_step.as_ref().unwrap();
    let cause = step.probable_cause.as_deref().unwrap();
    assert_eq!(cause, format!("{}\n", "é".repeat(2047)));
    assert!(cause.len() <= MAX_PROBABLE_CAUSE_BYTES);
}

// EMR Serverless job runs: the same promises, from a job run's facts.

fn job_run_record(callbacks: usize, timeout_minutes: Option<u64>) -> FlowRecord {
    let app = ApplicationId::parse("00f1982r1uukb925").unwrap();
    FlowRecord {
        target: Target::ServerlessJobRun,
        job_run: Some(JobRunRecord::new(
            app,
            "spark-pi",
            Some("s3://logs/serverless/"),
            timeout_minutes,
        )),
        ..record(callbacks)
    }
}

fn run_id() -> JobRunId {
    JobRunId::parse("00f1cbn5g4bb0c01").unwrap()
}

fn run_facts(state: &str) -> JobRunFacts {
    JobRunFacts::state(JobRunState::from(state))
}

#[test]
fn a_job_run_starts_once_and_follows_its_states_forward() {
    // GIVEN a pending job-run flow WHEN StartJobRun answers THEN it is STARTING with the run
    let mut r = job_run_record(1, None);
    assert!(r.job_run_started(&run_id(), t0()));
    assert!(
        !r.job_run_started(&JobRunId::parse("other").unwrap(), t0()),
        "once"
    );
    assert_eq!(
        (r.status, r.job_run_id()),
        (FlowStatus::Starting, Some(&run_id()))
    );
    // WHEN RUNNING, then a late SCHEDULED, then an unknown state arrive
    assert!(r.apply_job_run(&run_facts("RUNNING"), t0()));
    assert!(
        !r.apply_job_run(&run_facts("SCHEDULED"), t0()),
        "late: nothing changes"
    );
    r.apply_job_run(&run_facts("QUEUED"), t0());
    r.apply_job_run(&run_facts("SOMETHING_NEW"), t0());
    // THEN the flow runs, its run's state never went back, nothing ended
    assert_eq!(r.status, FlowStatus::Running);
    assert_eq!(r.job_run.as_ref().unwrap().state, Some(JobRunState::Running));
    assert!(r.deliveries.is_empty());
    // AND a retry starts the next attempt's states afresh, and moves the log under attempts/2/
    assert!(r.apply_job_run(
        &JobRunFacts {
            attempt: Some(2),
            ..JobRunFacts::default()
        },
        t0()
    ));
    let run = r.job_run.as_ref().unwrap();
    assert_eq!((run.attempt, run.state.clone()), (2, None));
    assert_eq!(
        run.driver_stderr_key().unwrap(),
        "s3://logs/serverless/applications/00f1982r1uukb925/jobs/00f1cbn5g4bb0c01/attempts/2/SPARK_DRIVER/stderr.gz"
    );
    assert!(r.apply_job_run(&run_facts("PENDING"), t0()));
    assert_eq!(r.status, FlowStatus::Running, "never backwards");
    // AND a Hive job's driver log is under HIVE_DRIVER
    r.job_run.as_mut().unwrap().driver_log_folder = "HIVE_DRIVER".into();
    let key = r.job_run.as_ref().unwrap().driver_stderr_key().unwrap();
    assert!(key.ends_with("/attempts/2/HIVE_DRIVER/stderr.gz"), "{key}");
}

#[test]
fn a_failed_run_keeps_its_state_details_bounded_and_says_when_it_has_no_s3_logs() {
    // GIVEN a run that failed with stateDetails longer than a record keeps
    let mut r = job_run_record(1, None);
    r.job_run_started(&run_id(), t0());
    let details = "Job failed, please check complete logs. ".repeat(100);
    let facts = JobRunFacts {
        state_details: Some(details.clone()),
        ..run_facts("FAILED")
    };
    assert!(r.apply_job_run(&facts, t0()));
    // THEN the flow FAILED with them, bounded, and its driver log is due
    let failure = r.failure.clone().unwrap();
    assert_eq!(failure.code.as_deref(), Some(JOB_RUN_FAILED));
    let message = failure.message.unwrap();
    assert!(message.len() <= MAX_MESSAGE_BYTES && message.ends_with('…'));
    assert!(details.starts_with(message.trim_end_matches('…')));
    assert!(r.cause_pending(t0()));
    assert!(r.next_sweep_at().is_some());
    // WHEN the log arrives THEN it is the probable cause, and nothing more is due
    let at = r.job_run.as_ref().unwrap().driver_stderr_key().unwrap();
    assert!(r.add_job_run_cause(Some(&at), Some("boom\n".into()), t0()));
    assert_eq!(
        r.failure.as_ref().unwrap().probable_cause.as_deref(),
        Some("boom\n")
    );
    assert!(!r.cause_pending(t0()));
    // AND a run whose stateDetails GetJobRun did not give at its end has them read later
    let mut late = job_run_record(0, None);
    late.job_run.as_mut().unwrap().log_uri = None;
    late.job_run_started(&run_id(), t0());
    late.apply_job_run(&run_facts("FAILED"), t0());
    assert_eq!(
        late.failure.as_ref().unwrap().message.as_deref(),
        Some(NO_STATE_DETAILS)
    );
    assert!(late.cause_pending(t0()), "the details are due");
    assert!(!late.add_state_details("  ", t0()));
    assert!(late.add_state_details("ExitCode: 1", t0()));
    assert_eq!(
        late.failure.as_ref().unwrap().message.as_deref(),
        Some("ExitCode: 1")
    );
    assert!(!late.add_state_details("again", t0()), "once");
    assert!(!late.cause_pending(t0()));

    // AND a run without an S3 log location says so, and nothing is fetched for it
    let mut r = job_run_record(0, None);
    r.job_run.as_mut().unwrap().log_uri = None;
    r.job_run_started(&run_id(), t0());
    let failed = JobRunFacts {
        state_details: Some("ExitCode: 1".into()),
        ..run_facts("FAILED")
    };
    r.apply_job_run(&failed, t0());
    assert_eq!(
        r.failure.as_ref().unwrap().log_location.as_deref(),
        Some(NO_S3_LOGS)
    );
    assert!(!r.cause_pending(t0()));
}

#[test]
fn a_cancelled_run_is_told_apart_by_what_we_asked_and_its_own_timeout() {
    let ended = |termination: Option<(TerminationKind, Result<(), String>)>, ran_minutes: i64| {
        let mut r = job_run_record(0, Some(60));
        r.job_run_started(&run_id(), t0());
        if let Some((kind, result)) = termination {
            r.request_termination(kind, None, t0());
            r.termination_attempted(result, t0());
        }
        let facts = JobRunFacts {
            created_at: Some(t0()),
            updated_at: Some(t0() + Duration::minutes(ran_minutes)),
            ..run_facts("CANCELLED")
        };
        r.apply_job_run(&facts, t0());
        (r.status, r.failure.and_then(|f| f.code))
    };
    assert_eq!(
        ended(Some((TerminationKind::Cancel, Ok(()))), 5).0,
        FlowStatus::Cancelled
    );
    assert_eq!(
        ended(Some((TerminationKind::Timeout, Ok(()))), 5),
        (FlowStatus::TimedOut, Some(MAX_RUNTIME_EXCEEDED.to_owned()))
    );
    assert_eq!(
        ended(None, 61),
        (FlowStatus::TimedOut, Some(EXECUTION_TIMEOUT.to_owned()))
    );
    assert_eq!(
        ended(None, 5),
        (FlowStatus::Cancelled, Some(JOB_RUN_CANCELLED.to_owned()))
    );
    // A refused cancel of ours counts for nothing.
    assert_eq!(
        ended(Some((TerminationKind::Cancel, Err("refused".into()))), 5),
        (FlowStatus::Cancelled, Some(JOB_RUN_CANCELLED.to_owned()))
    );
}

/// How a job run's lifecycle ends, in the property test.
#[derive(Debug, Clone, Copy)]
enum RunEnding {
    Success,
    Failure,
    RetryThenSuccess,
    RetryThenFailure,
    OurCancel,
    OurTimeout,
    ServiceTimeout,
    CancelledByOthers,
    OurCancelTooLate,
}

fn run_ending() -> impl Strategy<Value = RunEnding> {
    prop_oneof![
        Just(RunEnding::Success),
        Just(RunEnding::Failure),
        Just(RunEnding::RetryThenSuccess),
        Just(RunEnding::RetryThenFailure),
        Just(RunEnding::OurCancel),
        Just(RunEnding::OurTimeout),
        Just(RunEnding::ServiceTimeout),
        Just(RunEnding::CancelledByOthers),
        Just(RunEnding::OurCancelTooLate),
    ]
}

/// The run's truth over time: `(attempt, state)` per step; the last is the end.
fn run_timeline(ending: RunEnding) -> Vec<(u32, &'static str)> {
    let mut t = vec![(1, "SUBMITTED"), (1, "PENDING"), (1, "SCHEDULED"), (1, "RUNNING")];
    if matches!(ending, RunEnding::RetryThenSuccess | RunEnding::RetryThenFailure) {
        t.extend([(2, "PENDING"), (2, "SCHEDULED"), (2, "RUNNING")]);
    }
    t.push(match ending {
        RunEnding::Success | RunEnding::RetryThenSuccess | RunEnding::OurCancelTooLate => {
            (t.last().unwrap().0, "SUCCESS")
        }
        RunEnding::Failure | RunEnding::RetryThenFailure => (t.last().unwrap().0, "FAILED"),
        _ => (1, "CANCELLING"),
    });
    if !t.last().unwrap().1.starts_with('S') && t.last().unwrap().1 != "FAILED" {
        t.push((1, "CANCELLED"));
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_order_loss_and_duplication_of_job_run_events_with_sweeps_ends_right(
        ending in run_ending(),
        fates in fates(),
        sweep_every in 1usize..8,
        send_fails in prop::collection::vec(any::<bool>(), 40),
    ) {
        let truth = run_timeline(ending);
        let last = truth.len() - 1;
        // The run was created at minute 0; a service timeout makes its end 61 minutes later.
        let ran = if matches!(ending, RunEnding::ServiceTimeout) { 61 } else { 5 };
        let times = |i: usize| (Some(t0()), Some(t0() + Duration::minutes(if i == last { ran } else { 1 })));
        // Events: a state change per step, a retry event when the attempt moves, the final
        // utilization update after the end.
        let mut events: Vec<(usize, JobRunFacts)> = Vec::new();
        for (i, (attempt, state)) in truth.iter().enumerate() {
            if i > 0 && *attempt != truth[i - 1].0 {
                events.push((i, JobRunFacts { attempt: Some(*attempt), ..JobRunFacts::default() }));
            }
            let (created_at, updated_at) = times(i);
            events.push((i, JobRunFacts { created_at, updated_at, ..run_facts(state) }));
        }
        let billed = ResourceUtilization { vcpu_hour: 0.106, memory_gb_hour: 0.531, storage_gb_hour: 0.0 };
        events.push((last, JobRunFacts { billed: Some(billed), billed_final: true, ..JobRunFacts::default() }));
        let mut arrivals: Vec<(usize, usize, JobRunFacts)> = Vec::new();
        let mut final_delivered = false;
        for (i, (time, facts)) in events.into_iter().enumerate() {
            let fate = &fates[i % fates.len()];
            for copy in 0..fate.copies {
                final_delivered |= facts.billed_final;
                arrivals.push((time + fate.delay + copy as usize, i, facts.clone()));
            }
        }
        arrivals.sort_by_key(|(at, i, _)| (*at, *i));

        let mut r = job_run_record(2, Some(60));
        r.job_run_started(&run_id(), t0());
        let mut sends = [0u32; 2];
        let mut successes = [0u32; 2];
        let mut fail = send_fails.iter().cycle();
        let mut now = t0();
        let ask_at = last.saturating_sub(1);
        let ours = match ending {
            RunEnding::OurCancel | RunEnding::OurCancelTooLate => Some(TerminationKind::Cancel),
            RunEnding::OurTimeout => Some(TerminationKind::Timeout),
            _ => None,
        };
        // GetJobRun as the sweep reads it: the truth as of now, with the billed figure (not final).
        let get_job_run = |w: usize| {
            let (attempt, state) = truth[w.min(last)];
            let (created_at, updated_at) = times(w.min(last));
            JobRunFacts {
                attempt: Some(attempt),
                billed: Some(ResourceUtilization::default()),
                execution_timeout_minutes: Some(60),
                created_at,
                updated_at,
                ..run_facts(state)
            }
        };
        let mut deliver = |r: &mut FlowRecord, now: DateTime<Utc>, receivers_down: bool| {
            for (key, attempt) in r.claim_deliveries(now) {
                let i: usize = key.parse().unwrap();
                sends[i] += 1;
                let outcome = if receivers_down && *fail.next().unwrap() {
                    AttemptOutcome::Failed { http_status: Some(503), error: "down".into() }
                } else {
                    successes[i] += 1;
                    AttemptOutcome::Delivered { http_status: Some(200) }
                };
                r.record_delivery(&key, attempt, &outcome, now);
            }
        };
        let horizon = arrivals.last().map_or(last, |(at, _, _)| *at).max(last);
        let mut next = arrivals.into_iter().peekable();
        for w in 0..=horizon {
            now += Duration::minutes(1);
            if w == ask_at && let Some(kind) = ours {
                r.request_termination(kind, None, now);
                r.termination_attempted(Ok(()), now);
            }
            while let Some((_, _, facts)) = next.next_if(|(at, _, _)| *at == w) {
                r.apply_job_run(&facts, now);
                deliver(&mut r, now, true);
            }
            if w % sweep_every == 0 {
                r.apply_job_run(&get_job_run(w), now);
                deliver(&mut r, now, true);
            }
        }
        r.apply_job_run(&get_job_run(last), now);
        for _ in 0..20 {
            now += Duration::hours(11);
            deliver(&mut r, now, false);
        }
        let expected = match ending {
            RunEnding::Success | RunEnding::RetryThenSuccess | RunEnding::OurCancelTooLate => FlowStatus::Succeeded,
            RunEnding::Failure | RunEnding::RetryThenFailure => FlowStatus::Failed,
            RunEnding::OurCancel | RunEnding::CancelledByOthers => FlowStatus::Cancelled,
            RunEnding::OurTimeout | RunEnding::ServiceTimeout => FlowStatus::TimedOut,
        };
        prop_assert_eq!(r.status, expected);
        let run = r.job_run.as_ref().unwrap();
        prop_assert_eq!(run.state.as_ref().map(|s| s.is_ended()), Some(true));
        prop_assert_eq!(run.attempt, truth[last].0.max(truth.iter().map(|t| t.0).max().unwrap()));
        if final_delivered {
            prop_assert!(run.billed_final);
            prop_assert_eq!(run.billed, Some(billed));
        }
        for i in 0..2 {
            let d = &r.deliveries[&i.to_string()];
            prop_assert_eq!(d.attempts, sends[i], "every send counted");
            prop_assert_eq!(successes[i], 1, "exactly one successful send");
            prop_assert_eq!(d.status, DeliveryStatus::Delivered);
        }
    }
}

/// How a step flow on a shared cluster ends, in the property test below.
#[derive(Debug, Clone, Copy)]
enum StepsEnding {
    Success,
    /// Its step k fails (`ActionOnFailure: CONTINUE`: the later ones still run and complete).
    StepFailure(usize),
    /// Someone else cancels its step k (the later ones still run).
    OtherCancel(usize),
    OurCancel,
    Timeout,
    /// The cluster ends while its first step runs.
    ClusterEnds,
}

/// The flow's own steps' states at each moment (0..=`end`), `n` steps.
fn steps_truth(ending: StepsEnding, n: usize, end: usize) -> Vec<Vec<StepState>> {
    let mut t = vec![vec![StepPending; n]];
    for w in 1..=end {
        let mut now = t[w - 1].clone();
        match ending {
            StepsEnding::OurCancel | StepsEnding::Timeout | StepsEnding::ClusterEnds => {
                if w == 1 {
                    now[0] = StepRunning;
                }
                if w == 3 && !matches!(ending, StepsEnding::ClusterEnds) {
                    now.fill(Cancelled);
                }
            }
            _ => {
                // Step i runs at 2i+1 and ends at 2i+2.
                if w % 2 == 1 && (w - 1) / 2 < n {
                    now[(w - 1) / 2] = StepRunning;
                } else if w % 2 == 0 && (w - 2) / 2 < n {
                    let i = (w - 2) / 2;
                    now[i] = match ending {
                        StepsEnding::StepFailure(k) if k == i => StepFailed,
                        StepsEnding::OtherCancel(k) if k == i => Cancelled,
                        _ => Completed,
                    };
                }
            }
        }
        t.push(now);
    }
    t
}

fn steps_ending() -> impl Strategy<Value = StepsEnding> {
    prop_oneof![
        Just(StepsEnding::Success),
        (0..3usize).prop_map(StepsEnding::StepFailure),
        (0..3usize).prop_map(StepsEnding::OtherCancel),
        Just(StepsEnding::OurCancel),
        Just(StepsEnding::Timeout),
        Just(StepsEnding::ClusterEnds),
    ]
}

fn flow_step(flow: usize, step: usize) -> StepId {
    StepId::parse(&format!("s-F{flow}S{step}")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Several step flows share a cluster with an operator's steps. Every flow's record sees
    /// every step event of the cluster (anyone's), lost, duplicated and reordered, the sweep's
    /// ListSteps of its own steps now and then, and the cluster's end: each ends as its own
    /// steps say, holds only its own steps, and calls back once.
    #[test]
    fn step_flows_on_a_shared_cluster_end_by_their_own_steps_only(
        endings in prop::collection::vec((steps_ending(), 1usize..4), 2..5),
        fates in fates(),
        reconcile_every in 1usize..8,
    ) {
        let endings: Vec<(StepsEnding, usize)> = endings
            .into_iter()
            .map(|(e, n)| match e {
                StepsEnding::StepFailure(k) => (StepsEnding::StepFailure(k % n), n),
                StepsEnding::OtherCancel(k) => (StepsEnding::OtherCancel(k % n), n),
                e => (e, n),
            })
            .collect();
        let cluster_ends = endings.iter().any(|(e, _)| matches!(e, StepsEnding::ClusterEnds));
        let end = 2 * 3 + 2;
        let truths: Vec<_> = endings.iter().map(|(e, n)| steps_truth(*e, *n, end)).collect();
        // The operator's two steps: one fails, one completes, with ids no flow holds.
        let operator = [StepId::parse("s-OPERATOR0").unwrap(), StepId::parse("s-OPERATOR1").unwrap()];
        // Every step event of the cluster: (time, flow or operator, step, state).
        let mut events: Vec<(usize, StepId, StepState)> = Vec::new();
        for (f, truth) in truths.iter().enumerate() {
            for w in 1..=end {
                for (s, state) in truth[w].iter().enumerate() {
                    if *state != truth[w - 1][s] {
                        events.push((w, flow_step(f, s), state.clone()));
                    }
                }
            }
        }
        events.push((2, operator[0].clone(), StepRunning));
        events.push((4, operator[0].clone(), StepFailed));
        events.push((5, operator[1].clone(), Cancelled));
        let mut arrivals: Vec<(usize, usize, StepId, StepState)> = Vec::new();
        for (i, (at, id, state)) in events.into_iter().enumerate() {
            let fate = &fates[i % fates.len()];
            for copy in 0..fate.copies {
                arrivals.push((at + fate.delay + copy as usize, i, id.clone(), state.clone()));
            }
        }
        arrivals.sort_by_key(|(at, i, _, _)| (*at, *i));
        let horizon = arrivals.last().map_or(end, |a| a.0).max(end) + 8;
        let cluster_end = ClusterFacts::new("TERMINATED".into(), Some("USER_REQUEST".into()), Some("Terminated by user request".into()));

        let mut records: Vec<FlowRecord> = truths.iter().enumerate().map(|(f, truth)| {
            let mut r = FlowRecord { target: Target::Steps, ..record(1) };
            let own: Vec<ListedStep> = (0..truth[0].len())
                .map(|s| ListedStep { id: flow_step(f, s), name: format!("step {s}"), state: StepPending })
                .collect();
            r.started(&cluster(), &own, t0());
            r
        }).collect();
        let own_listed = |f: usize, w: usize| -> Vec<ListedStep> {
            (truths[f][w.min(end)].iter().enumerate())
                .map(|(s, state)| ListedStep { id: flow_step(f, s), name: format!("step {s}"), state: state.clone() })
                .collect()
        };
        let mut sends = vec![0u32; records.len()];
        let mut now = t0();
        let mut next = arrivals.into_iter().peekable();
        for w in 0..=horizon {
            now += Duration::minutes(1);
            for (f, (ending, _)) in endings.iter().enumerate() {
                let kind = match ending {
                    StepsEnding::OurCancel => TerminationKind::Cancel,
                    StepsEnding::Timeout => TerminationKind::Timeout,
                    _ => continue,
                };
                if w == 2 && records[f].request_termination(kind, None, now) {
                    records[f].termination_attempted(Ok(()), now);
                }
            }
            while let Some((_, _, id, state)) = next.next_if(|a| a.0 == w) {
                // Every record hears every step of the cluster.
                for r in records.iter_mut() {
                    let listed = ListedStep { id: id.clone(), name: "any".into(), state: state.clone() };
                    r.apply_own_steps(&[listed], None, None, now);
                }
            }
            let ended = cluster_ends && w >= end;
            if w % reconcile_every == 0 || (ended && w == end) {
                for (f, r) in records.iter_mut().enumerate() {
                    r.apply_own_steps(&own_listed(f, w), ended.then_some(&cluster_end), None, now);
                }
            }
            for (f, r) in records.iter_mut().enumerate() {
                for (key, attempt) in r.claim_deliveries(now) {
                    sends[f] += 1;
                    r.record_delivery(&key, attempt, &AttemptOutcome::Delivered { http_status: Some(200) }, now);
                }
            }
        }
        for (f, ((ending, n), r)) in endings.iter().zip(&records).enumerate() {
            let (status, failed_step, code) = match ending {
                StepsEnding::Success => (FlowStatus::Succeeded, None, None),
                StepsEnding::StepFailure(k) | StepsEnding::OtherCancel(k) => (FlowStatus::Failed, Some(flow_step(f, *k)), Some("STEP_FAILURE")),
                StepsEnding::OurCancel => (FlowStatus::Cancelled, None, None),
                StepsEnding::Timeout => (FlowStatus::TimedOut, None, Some(MAX_RUNTIME_EXCEEDED)),
                StepsEnding::ClusterEnds => (FlowStatus::Failed, None, Some(CLUSTER_ENDED)),
            };
            prop_assert_eq!(r.status, status, "flow {} {:?}", f, ending);
            let recorded = r.failure.as_ref().and_then(|x| x.failed_step.as_ref()).map(|s| s.id.clone());
            prop_assert_eq!(recorded, failed_step, "flow {} {:?}", f, ending);
            prop_assert_eq!(r.failure.as_ref().and_then(|x| x.code.as_deref()), code, "flow {} {:?}", f, ending);
            prop_assert_eq!(r.steps.len(), *n, "only its own steps");
            let prefix = format!("s-F{f}S");
            prop_assert!(r.steps.keys().all(|id| id.as_str().starts_with(&prefix)), "{:?}", r.steps);
            prop_assert_eq!(sends[f], 1, "called back once");
        }
    }
}

#[test]
fn a_step_flow_notes_its_own_steps_run_time_only() {
    // GIVEN a step flow with two steps
    let mut r = FlowRecord {
        target: Target::Steps,
        ..record(0)
    };
    r.started(&cluster(), &listed(&[StepPending, StepPending]), t0());
    // WHEN run times come for its steps and for a step that is not its own
    let other = StepId::parse("s-OPERATOR0").unwrap();
    assert!(r.note_step_seconds(&[(step_id(0), 42), (other.clone(), 7)], t0()));
    // THEN only its own are kept, and the same figures again change nothing
    assert_eq!(r.step_seconds.len(), 1);
    assert_eq!(r.step_seconds[&step_id(0)], 42);
    assert!(!r.note_step_seconds(&[(step_id(0), 42)], t0()));
    // AND the record keeps them as seconds by step id
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["step_seconds"]["s-0"], 42);
    assert!(
        serde_json::to_value(record(0))
            .unwrap()
            .get("step_seconds")
            .is_none()
    );
}

#[test]
fn a_step_flow_never_takes_in_a_step_it_did_not_add() {
    // GIVEN a running step flow, and a cluster flow on its own cluster
    let mut steps = FlowRecord {
        target: Target::Steps,
        ..record(0)
    };
    steps.started(&cluster(), &listed(&[StepRunning]), t0());
    let mut own = started(1, 0);
    let stray = StepId::parse("s-OPERATOR0").unwrap();
    // WHEN a step neither launched is reported running
    // THEN the step flow ignores it; the cluster flow, whose cluster it runs on, takes it in
    assert!(!steps.apply_step(&stray, "adhoc-debug", &StepRunning, None, t0()));
    assert!(!steps.apply_own_steps(
        &[ListedStep {
            id: stray.clone(),
            name: "adhoc-debug".into(),
            state: StepFailed
        }],
        None,
        None,
        t0()
    ));
    assert_eq!(steps.steps.len(), 1);
    assert!(own.apply_step(&stray, "adhoc-debug", &StepRunning, None, t0()));
    // AND once the cluster flow ended, no step is taken in any more
    own.apply_cluster(&facts("WAITING", None, Some(&[Completed])), t0());
    assert_eq!(own.status, FlowStatus::Succeeded);
    let late = StepId::parse("s-OPERATOR1").unwrap();
    assert!(!own.owns_step(&late));
    assert!(!own.apply_step(&late, "adhoc-debug", &StepFailed, None, t0()));
}

// EMR on EKS job runs: the same promises, from a run's facts (DescribeJobRun's, or an event's).

fn eks_record(callbacks: usize, log_uri: Option<&str>) -> FlowRecord {
    let vc = VirtualClusterId::parse("kfo3ayx4dkhpbo3bd5rd3a8mq").unwrap();
    FlowRecord {
        target: Target::EksJobRun,
        eks_job_run: Some(EksJobRunRecord::new(vc, "spark-pi", log_uri)),
        ..record(callbacks)
    }
}

fn eks_run() -> EksJobRunId {
    EksJobRunId::parse("00000002vhh0p0q9jbl").unwrap()
}

fn eks_facts(state: &str) -> EksJobRunFacts {
    EksJobRunFacts::state(EksJobRunState::from(state))
}

#[test]
fn an_eks_job_run_starts_once_and_follows_its_states_forward() {
    // GIVEN a pending EMR on EKS flow WHEN StartJobRun answers THEN it is STARTING with the run
    let mut r = eks_record(1, Some("s3://logs/eks/"));
    assert!(!r.run_known());
    assert!(r.eks_job_run_started(&eks_run(), t0()));
    assert!(
        !r.eks_job_run_started(&EksJobRunId::parse("other").unwrap(), t0()),
        "once"
    );
    assert_eq!(
        (r.status, r.eks_job_run_id()),
        (FlowStatus::Starting, Some(&eks_run()))
    );
    assert!(r.run_known());
    // WHEN RUNNING, then a late SUBMITTED, then an unknown state and CANCEL_PENDING arrive
    assert!(r.apply_eks_job_run(&eks_facts("RUNNING"), t0()));
    assert!(
        !r.apply_eks_job_run(&eks_facts("SUBMITTED"), t0()),
        "late: nothing changes"
    );
    r.apply_eks_job_run(&eks_facts("SOMETHING_NEW"), t0());
    r.apply_eks_job_run(&eks_facts("CANCEL_PENDING"), t0());
    // THEN the flow runs, nothing ended, and the run may still run
    assert_eq!(r.status, FlowStatus::Running);
    assert!(r.deliveries.is_empty());
    assert!(r.cluster_may_run(), "a run not seen ended may cost");
    // AND a new driver attempt starts the attempt's states afresh, never the flow's status
    assert!(r.apply_eks_job_run(
        &EksJobRunFacts {
            attempt: Some(2),
            ..EksJobRunFacts::default()
        },
        t0()
    ));
    let run = r.eks_job_run.as_ref().unwrap();
    assert_eq!((run.attempt, run.state.clone()), (2, None));
    assert!(r.apply_eks_job_run(&eks_facts("SUBMITTED"), t0()));
    assert_eq!(r.status, FlowStatus::Running, "never backwards");
    // AND the driver's log is looked for under the run's containers/ folder
    let run = r.eks_job_run.as_ref().unwrap();
    assert_eq!(
        run.containers_prefix().unwrap(),
        "s3://logs/eks/kfo3ayx4dkhpbo3bd5rd3a8mq/jobs/00000002vhh0p0q9jbl/containers/"
    );
    assert_eq!(
        run.driver_stderr_suffix().unwrap(),
        "/spark-00000002vhh0p0q9jbl-driver/stderr.gz"
    );
    // WHEN it completes with its times THEN SUCCEEDED, its duration the cost, a delivery due
    let done = EksJobRunFacts {
        created_at: Some(t0()),
        finished_at: Some(t0() + Duration::seconds(41)),
        ..eks_facts("COMPLETED")
    };
    assert!(r.apply_eks_job_run(&done, t0()));
    assert_eq!(r.status, FlowStatus::Succeeded);
    assert_eq!(r.failure, None, "a success has no failure");
    assert_eq!(r.eks_job_run.as_ref().unwrap().duration_seconds, Some(41));
    assert_eq!(r.deliveries.len(), 1);
    assert!(!r.cluster_may_run(), "an ended run costs nothing more");
    assert!(
        !r.apply_eks_job_run(&eks_facts("FAILED"), t0()),
        "an end is final"
    );
    assert_eq!(r.status, FlowStatus::Succeeded);
}

#[test]
fn an_eks_runs_same_attempt_again_changes_nothing_and_a_stored_run_without_one_is_on_its_first() {
    // GIVEN a running EKS run on its first attempt
    let mut r = eks_record(0, None);
    r.eks_job_run_started(&eks_run(), t0());
    r.apply_eks_job_run(&eks_facts("RUNNING"), t0());
    // WHEN DescribeJobRun says attempt 1 again, with no state THEN nothing changes (no write)
    let same = EksJobRunFacts {
        attempt: Some(1),
        ..EksJobRunFacts::default()
    };
    assert!(!r.apply_eks_job_run(&same, t0()));
    assert_eq!(
        r.eks_job_run.as_ref().unwrap().state,
        Some(EksJobRunState::Running)
    );
    // AND a record stored without `attempt` reads back on attempt 1
    let mut stored = serde_json::to_value(r.eks_job_run.as_ref().unwrap()).unwrap();
    stored.as_object_mut().unwrap().remove("attempt");
    let read: EksJobRunRecord = serde_json::from_value(stored).unwrap();
    assert_eq!(read.attempt, 1);
    assert_eq!(EksJobRunState::CancelPending.to_string(), "CANCEL_PENDING");
}

#[test]
fn a_failed_eks_run_keeps_its_reason_and_details_and_says_when_it_has_no_s3_logs() {
    // GIVEN each documented failureReason/stateDetails pair (events/real/requests)
    let path = format!(
        "{}/../events/real/requests/describe-job-run-eks-stateDetails-FAILED.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(rows.len() >= 3);
    for row in rows {
        let (reason, details) = (
            row["failureReason"].as_str().unwrap(),
            row["stateDetails"].as_str().unwrap(),
        );
        let mut r = eks_record(1, Some("s3://logs/eks/"));
        r.eks_job_run_started(&eks_run(), t0());
        let facts = EksJobRunFacts {
            failure_reason: Some(reason.into()),
            state_details: Some(details.into()),
            ..eks_facts(row["state"].as_str().unwrap())
        };
        // THEN the flow FAILED with both, and its driver log is due
        assert!(r.apply_eks_job_run(&facts, t0()));
        let failure = r.failure.clone().unwrap();
        assert_eq!(
            (r.status, failure.code.as_deref()),
            (FlowStatus::Failed, Some(JOB_RUN_FAILED))
        );
        assert_eq!(failure.message.unwrap(), format!("{reason}: {details}"));
        assert!(r.cause_pending(t0()) && !r.state_details_missing());
        assert!(r.add_job_run_cause(Some("s3://logs/x/stderr.gz"), Some("boom\n".into()), t0()));
        assert!(!r.cause_pending(t0()), "nothing more to fetch");
    }
    // AND a run DescribeJobRun told nothing of at its end has it read later, once
    let mut late = eks_record(0, None);
    late.eks_job_run_started(&eks_run(), t0());
    late.apply_eks_job_run(&eks_facts("FAILED"), t0());
    let failure = late.failure.clone().unwrap();
    assert_eq!(failure.message.as_deref(), Some(NO_FAILURE_DETAILS));
    assert_eq!(
        failure.log_location.as_deref(),
        Some(NO_S3_LOGS_EKS),
        "no logs in S3: said"
    );
    assert!(late.state_details_missing() && late.cause_pending(t0()));
    assert!(!late.cause_pending(t0() + CAUSE_WINDOW), "only within the window");
    assert!(late.add_state_details("USER_ERROR: Cluster X does not have sufficient resources.", t0()));
    assert!(!late.add_state_details("again", t0()), "once");
    assert!(!late.cause_pending(t0()), "no S3 logs: nothing more is fetched");
    // AND a failure message longer than a record keeps is bounded
    let mut long = eks_record(0, None);
    long.eks_job_run_started(&eks_run(), t0());
    let facts = EksJobRunFacts {
        state_details: Some("x".repeat(10 * MAX_MESSAGE_BYTES)),
        ..eks_facts("FAILED")
    };
    long.apply_eks_job_run(&facts, t0());
    assert!(long.failure.unwrap().message.unwrap().len() <= MAX_MESSAGE_BYTES);
}

#[test]
fn a_cancelled_eks_run_is_told_apart_by_what_we_asked() {
    let ended = |termination: Option<(TerminationKind, Result<(), String>)>| {
        let accepted_cancel = matches!(termination, Some((TerminationKind::Cancel, Ok(()))));
        let mut r = eks_record(0, None);
        r.eks_job_run_started(&eks_run(), t0());
        if let Some((kind, result)) = termination {
            r.request_termination(kind, None, t0());
            r.termination_attempted(result, t0());
        }
        r.apply_eks_job_run(&eks_facts("CANCELLED"), t0());
        let failure = r.failure.clone().unwrap();
        assert_eq!(failure.log_location, None, "only a failure points at logs");
        let ours = failure.message.as_deref() == Some("the job run was cancelled on request (terminate)");
        let theirs = failure.message.as_deref() == Some("the job run was cancelled, not by emr-flows");
        assert!(
            r.status != FlowStatus::Cancelled || (ours == accepted_cancel && theirs != accepted_cancel),
            "{failure:?}"
        );
        (r.status, failure.code)
    };
    let cancelled = (FlowStatus::Cancelled, Some(JOB_RUN_CANCELLED.to_owned()));
    assert_eq!(ended(Some((TerminationKind::Cancel, Ok(())))), cancelled);
    assert_eq!(
        ended(Some((TerminationKind::Timeout, Ok(())))),
        (FlowStatus::TimedOut, Some(MAX_RUNTIME_EXCEEDED.to_owned()))
    );
    assert_eq!(ended(None), cancelled);
    assert_eq!(
        ended(Some((TerminationKind::Timeout, Err("refused".into())))),
        cancelled,
        "a refused cancel counts for nothing"
    );
}

#[test]
fn extra_eks_runs_are_noted_once_and_their_cancel_recorded_once() {
    let mut r = eks_record(0, None);
    r.eks_job_run_started(&eks_run(), t0());
    let extra = EksJobRunId::parse("00000003abcdefghijk").unwrap();
    assert!(
        !r.note_extra_eks_job_run(&eks_run(), t0()),
        "the flow's own run is no extra"
    );
    assert!(r.note_extra_eks_job_run(&extra, t0()));
    assert!(!r.note_extra_eks_job_run(&extra, t0()), "noted once");
    assert!(r.extra_eks_job_run_cancelled(&extra, Err("throttled".into()), t0()));
    assert_eq!(
        r.eks_job_run.as_ref().unwrap().extra_runs[0]
            .last_error
            .as_deref(),
        Some("throttled")
    );
    assert!(r.extra_eks_job_run_cancelled(&extra, Ok(()), t0()));
    assert!(
        !r.extra_eks_job_run_cancelled(&extra, Ok(()), t0()),
        "cancelled once"
    );
    assert!(
        !r.extra_eks_job_run_cancelled(&eks_run(), Ok(()), t0()),
        "not noted"
    );
    let noted = &r.eks_job_run.as_ref().unwrap().extra_runs[0];
    assert_eq!(
        (noted.cancelled_at, noted.last_error.as_deref()),
        (Some(t0()), None)
    );
    for i in 0..MAX_EXTRA_CLUSTERS + 2 {
        r.note_extra_eks_job_run(&EksJobRunId::parse(&format!("{i:019}")).unwrap(), t0());
    }
    assert_eq!(
        r.eks_job_run.as_ref().unwrap().extra_runs.len(),
        MAX_EXTRA_CLUSTERS,
        "bounded"
    );
}

/// How an EMR on EKS run's lifecycle ends, in the property test.
#[derive(Debug, Clone, Copy)]
enum EksEnding {
    Completed,
    Failed,
    NewDriverThenCompleted,
    OurCancel,
    OurTimeout,
    CancelledByOthers,
    OurCancelTooLate,
}

fn eks_ending() -> impl Strategy<Value = EksEnding> {
    prop_oneof![
        Just(EksEnding::Completed),
        Just(EksEnding::Failed),
        Just(EksEnding::NewDriverThenCompleted),
        Just(EksEnding::OurCancel),
        Just(EksEnding::OurTimeout),
        Just(EksEnding::CancelledByOthers),
        Just(EksEnding::OurCancelTooLate),
    ]
}

/// The run's truth over time: `(attempt, state)` per step; the last is the end.
fn eks_timeline(ending: EksEnding) -> Vec<(u32, &'static str)> {
    let mut t = vec![(1, "PENDING"), (1, "SUBMITTED"), (1, "RUNNING")];
    if matches!(ending, EksEnding::NewDriverThenCompleted) {
        t.extend([(2, "SUBMITTED"), (2, "RUNNING")]);
    }
    let attempt = t.last().unwrap().0;
    match ending {
        EksEnding::Completed | EksEnding::NewDriverThenCompleted | EksEnding::OurCancelTooLate => {
            t.push((attempt, "COMPLETED"))
        }
        EksEnding::Failed => t.push((attempt, "FAILED")),
        _ => t.extend([(attempt, "CANCEL_PENDING"), (attempt, "CANCELLED")]),
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_order_loss_and_duplication_of_eks_job_run_events_with_sweeps_ends_right(
        ending in eks_ending(),
        fates in fates(),
        stateless in prop::collection::vec(any::<bool>(), 16),
        sweep_every in 1usize..8,
        send_fails in prop::collection::vec(any::<bool>(), 40),
    ) {
        let truth = eks_timeline(ending);
        let last = truth.len() - 1;
        // DescribeJobRun as the sweep (and every event's confirmation) reads it: the truth as
        // of minute `w`, with the failure's reason and details once it failed.
        let describe = |w: usize| {
            let (attempt, state) = truth[w.min(last)];
            EksJobRunFacts {
                attempt: Some(attempt),
                failure_reason: (state == "FAILED").then(|| "USER_ERROR".to_owned()),
                state_details: (state == "FAILED").then(|| "Cluster X does not have sufficient resources.".to_owned()),
                created_at: Some(t0()),
                finished_at: truth[w.min(last)].1.ends_with("ED").then(|| t0() + Duration::minutes(w as i64)),
                ..eks_facts(state)
            }
        };
        // Events: a state change per step (some carry no state: DescribeJobRun tells), a new
        // driver attempt when the attempt moves.
        let mut events: Vec<(usize, EksJobRunFacts)> = Vec::new();
        for (i, (attempt, state)) in truth.iter().enumerate() {
            if i > 0 && *attempt != truth[i - 1].0 {
                events.push((i, EksJobRunFacts { attempt: Some(*attempt), ..EksJobRunFacts::default() }));
            }
            let state = (!stateless[i % stateless.len()]).then(|| EksJobRunState::from(*state));
            events.push((i, EksJobRunFacts { state, ..EksJobRunFacts::default() }));
        }
        let mut arrivals: Vec<(usize, usize, EksJobRunFacts)> = Vec::new();
        for (i, (time, facts)) in events.into_iter().enumerate() {
            let fate = &fates[i % fates.len()];
            for copy in 0..fate.copies {
                // Confirmed when it arrives: the event's state further along, else DescribeJobRun's.
                arrivals.push((time + fate.delay + copy as usize, i, facts.clone()));
            }
        }
        arrivals.sort_by_key(|(at, i, _)| (*at, *i));

        let mut r = eks_record(2, Some("s3://logs/eks/"));
        r.eks_job_run_started(&eks_run(), t0());
        let mut sends = [0u32; 2];
        let mut successes = [0u32; 2];
        let mut fail = send_fails.iter().cycle();
        let mut now = t0();
        let ask_at = last.saturating_sub(1);
        let ours = match ending {
            EksEnding::OurCancel | EksEnding::OurCancelTooLate => Some(TerminationKind::Cancel),
            EksEnding::OurTimeout => Some(TerminationKind::Timeout),
            _ => None,
        };
        let mut deliver = |r: &mut FlowRecord, now: DateTime<Utc>, receivers_down: bool| {
            for (key, attempt) in r.claim_deliveries(now) {
                let i: usize = key.parse().unwrap();
                sends[i] += 1;
                let outcome = if receivers_down && *fail.next().unwrap() {
                    AttemptOutcome::Failed { http_status: Some(503), error: "down".into() }
                } else {
                    successes[i] += 1;
                    AttemptOutcome::Delivered { http_status: Some(200) }
                };
                r.record_delivery(&key, attempt, &outcome, now);
            }
        };
        let horizon = arrivals.last().map_or(last, |(at, _, _)| *at).max(last);
        let mut next = arrivals.into_iter().peekable();
        for w in 0..=horizon {
            now += Duration::minutes(1);
            if w == ask_at && let Some(kind) = ours {
                r.request_termination(kind, None, now);
                r.termination_attempted(Ok(()), now);
            }
            while let Some((_, _, facts)) = next.next_if(|(at, _, _)| *at == w) {
                // An event that arrives at minute w is confirmed by DescribeJobRun at minute w,
                // as on-state-change does.
                r.apply_eks_job_run(&facts.confirmed_by(describe(w)), now);
                deliver(&mut r, now, true);
            }
            if w % sweep_every == 0 {
                r.apply_eks_job_run(&describe(w), now);
                deliver(&mut r, now, true);
            }
        }
        r.apply_eks_job_run(&describe(last), now);
        for _ in 0..20 {
            now += Duration::hours(11);
            deliver(&mut r, now, false);
        }
        let expected = match ending {
            EksEnding::Completed | EksEnding::NewDriverThenCompleted | EksEnding::OurCancelTooLate => FlowStatus::Succeeded,
            EksEnding::Failed => FlowStatus::Failed,
            EksEnding::OurCancel | EksEnding::CancelledByOthers => FlowStatus::Cancelled,
            EksEnding::OurTimeout => FlowStatus::TimedOut,
        };
        prop_assert_eq!(r.status, expected);
        let run = r.eks_job_run.as_ref().unwrap();
        prop_assert_eq!(run.state.as_ref().map(EksJobRunState::is_ended), Some(true));
        prop_assert_eq!(run.attempt, truth.iter().map(|t| t.0).max().unwrap());
        if expected == FlowStatus::Failed {
            let message = r.failure.as_ref().and_then(|f| f.message.clone());
            prop_assert_eq!(message.as_deref(), Some("USER_ERROR: Cluster X does not have sufficient resources."));
        }
        for i in 0..2 {
            let d = &r.deliveries[&i.to_string()];
            prop_assert_eq!(d.attempts, sends[i], "every send counted");
            prop_assert_eq!(successes[i], 1, "exactly one successful send");
            prop_assert_eq!(d.status, DeliveryStatus::Delivered);
        }
    }
}
