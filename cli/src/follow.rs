//! `--wait` and `watch`: reads the flow record with list `{"flow_id"}` until the flow ends and
//! tells a person what changed: the status, cluster states, a line per step as it starts and
//! ends (with its duration), and a progress bar of steps done on a terminal; then the outcome
//! with its cause and the probable cause's last lines.
//!
//! The functions follow EMR by its events; this only reads. Reads start `interval` apart, the
//! wait grows by half after each read that saw no change (up to [`MAX_WAIT`]), and starts over
//! at a change. A read that fails for want of an answer is tried again ([`MAX_FAILED_READS`]
//! in a row at most); a refusal (the flow does not exist) ends the watch at once.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use console::style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::error::{Failure, exit};
use crate::target::{Call, Functions};
use crate::time::{between, parse, short};
use crate::view::{self, TERMINAL, status};

/// The longest wait between two reads (unless `--interval` asks for longer).
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Failed reads in a row before the watch gives up.
pub const MAX_FAILED_READS: u32 = 8;

const STEP_ENDED: [&str; 4] = ["COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"];

/// Something the person is told about.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The flow's status (the first read's too), with the cluster's state.
    Status {
        status: String,
        cluster: Option<String>,
        at: Option<SystemTime>,
    },
    /// The cluster's state moved while the flow's status did not (`BOOTSTRAPPING`, `WAITING`,
    /// `TERMINATING`, …).
    Cluster { state: String, at: Option<SystemTime> },
    StepStarted {
        number: usize,
        total: usize,
        name: String,
        at: Option<SystemTime>,
    },
    StepEnded {
        number: usize,
        total: usize,
        name: String,
        state: String,
        took: Option<Duration>,
        at: Option<SystemTime>,
    },
}

/// What has been seen of one flow so far.
#[derive(Debug, Default)]
pub struct Follower {
    status: Option<String>,
    cluster: Option<String>,
    /// By step id: the last state seen, and when it was seen start.
    steps: HashMap<String, (String, Option<SystemTime>)>,
}

impl Follower {
    /// The changes since the last record read, in order: status first, then steps in job-flow
    /// order.
    pub fn observe(&mut self, record: &Value) -> Vec<Change> {
        let mut changes = Vec::new();
        let status = record["status"].as_str().unwrap_or("UNKNOWN").to_owned();
        let cluster = record["cluster_state"].as_str().map(str::to_owned);
        // The record's last write: when this status or cluster state was recorded.
        let at = parse(&record["updated_at"]);
        if self.status.as_ref() != Some(&status) {
            changes.push(Change::Status {
                status: status.clone(),
                cluster: cluster.clone(),
                at,
            });
        } else if cluster.is_some() && cluster != self.cluster {
            changes.push(Change::Cluster {
                state: cluster.clone().unwrap_or_default(),
                at,
            });
        }
        self.status = Some(status);
        self.cluster = cluster;

        let steps = view::ordered_steps(record);
        let total = steps.len();
        for (number, (id, step)) in steps.into_iter().enumerate() {
            let number = number + 1;
            let state = step["state"].as_str().unwrap_or("UNKNOWN").to_owned();
            let at = parse(&step["updated_at"]);
            let name = step["name"].as_str().unwrap_or("-").to_owned();
            let seen = self.steps.get(id).cloned();
            if seen.as_ref().map(|(s, _)| s) == Some(&state) {
                continue;
            }
            let mut started = seen.and_then(|(_, started)| started);
            if state == "RUNNING" {
                started = at;
                changes.push(Change::StepStarted {
                    number,
                    total,
                    name: name.clone(),
                    at,
                });
            } else if STEP_ENDED.contains(&state.as_str()) {
                let took = started.zip(at).map(|(s, e)| between(s, e));
                changes.push(Change::StepEnded {
                    number,
                    total,
                    name: name.clone(),
                    state: state.clone(),
                    took,
                    at,
                });
            }
            self.steps.insert(id.to_owned(), (state, started));
        }
        // Steps in the order they were recorded; a new status first, or last when it is the end.
        let ended = TERMINAL.contains(&self.status.as_deref().unwrap_or(""));
        let (mut flow, mut steps): (Vec<Change>, Vec<Change>) = changes
            .into_iter()
            .partition(|c| matches!(c, Change::Status { .. }));
        steps.sort_by_key(Change::at);
        if ended {
            steps.append(&mut flow);
            steps
        } else {
            flow.append(&mut steps);
            flow
        }
    }
}

impl Change {
    /// When the change was recorded.
    pub fn at(&self) -> Option<SystemTime> {
        match self {
            Self::Status { at, .. }
            | Self::Cluster { at, .. }
            | Self::StepStarted { at, .. }
            | Self::StepEnded { at, .. } => *at,
        }
    }
}

/// A change as one line, its time since the flow's submission first.
pub fn line(change: &Change, submitted: Option<SystemTime>) -> String {
    let since = |at: &Option<SystemTime>| match (submitted, at) {
        (Some(s), Some(a)) => format!("{:>7}", short(between(s, *a))),
        _ => format!("{:>7}", "-"),
    };
    match change {
        Change::Status {
            status: flow_status,
            cluster,
            at,
        } => {
            let cluster = cluster
                .as_ref()
                .map(|c| format!(" (cluster {c})"))
                .unwrap_or_default();
            format!("{}  {}{cluster}", since(at), status(flow_status))
        }
        Change::Cluster { state, at } => format!("{}  cluster {state}", since(at)),
        Change::StepStarted {
            number,
            total,
            name,
            at,
        } => format!(
            "{}  step {number}/{total} {name} {}",
            since(at),
            status("RUNNING")
        ),
        Change::StepEnded {
            number,
            total,
            name,
            state,
            took,
            at,
        } => {
            let took = took.map(|d| format!(" after {}", short(d))).unwrap_or_default();
            format!(
                "{}  step {number}/{total} {name} {}{took}",
                since(at),
                status(state)
            )
        }
    }
}

/// The outcome of an ended flow: status, run time, cluster and cost; then the failure.
pub fn outcome(record: &Value) -> String {
    let flow_status = record["status"].as_str().unwrap_or("UNKNOWN");
    let mut text = status(flow_status);
    if let (Some(s), Some(e)) = (parse(&record["submitted_at"]), parse(&record["ended_at"])) {
        text.push_str(&format!(" after {}", short(between(s, e))));
    }
    if let Some(id) = record["cluster_id"].as_str() {
        let state = record["cluster_state"].as_str().unwrap_or("");
        text.push_str(&format!(" (cluster {id} {state})").replace(" )", ")"));
    }
    if let Some(hours) = record["normalized_instance_hours"].as_i64() {
        text.push_str(&format!(", {hours} normalized instance hours"));
    }
    if record["failure"].is_object() {
        text.push('\n');
        text.push_str(&view::failure(&record["failure"], view::CAUSE_LINES));
    }
    text
}

/// The exit status an ended flow's status maps to.
pub fn exit_code(record: &Value) -> u8 {
    match record["status"].as_str() {
        Some("SUCCEEDED") => exit::OK,
        Some("CANCELLED") => exit::CANCELLED,
        Some("TIMED_OUT") => exit::TIMED_OUT,
        _ => exit::FAILED,
    }
}

/// How the watch is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Nothing until the end (`--json`).
    Quiet,
    /// Plain lines on standard output (not a terminal).
    Lines,
    /// Lines above a progress bar of steps done (a terminal).
    Bar,
}

/// Follows `flow_id` until it ends; answers its last record.
pub async fn follow(
    functions: &Functions,
    flow_id: &str,
    interval: Duration,
    show: Show,
) -> Result<Value, Failure> {
    let max_wait = MAX_WAIT.max(interval);
    let mut follower = Follower::default();
    let mut wait = interval;
    let mut failed_reads = 0;
    let mut bar: Option<ProgressBar> = None;
    let print = |bar: &Option<ProgressBar>, text: String| match (show, bar) {
        (Show::Quiet, _) => {}
        (Show::Bar, Some(bar)) => bar.println(text),
        _ => crate::print_line(text),
    };
    loop {
        match functions.call(&Call::Flow(flow_id.to_owned())).await {
            Ok(record) => {
                failed_reads = 0;
                let first = follower.status.is_none();
                let changes = follower.observe(&record);
                let submitted = parse(&record["submitted_at"]);
                if first {
                    if show == Show::Bar {
                        bar = Some(progress_bar(submitted));
                    }
                    print(
                        &bar,
                        format!(
                            "{} {} ({} v{})",
                            style("following flow").bold(),
                            record["flow_id"].as_str().unwrap_or(flow_id),
                            record["flow"].as_str().unwrap_or("-"),
                            record["definition_version"].as_str().unwrap_or("-"),
                        ),
                    );
                }
                for change in &changes {
                    print(&bar, line(change, submitted));
                }
                if let Some(bar) = &bar {
                    let steps = view::ordered_steps(&record);
                    let done = (steps.iter())
                        .filter(|(_, s)| STEP_ENDED.contains(&s["state"].as_str().unwrap_or("")))
                        .count();
                    bar.set_length(steps.len() as u64);
                    bar.set_position(done as u64);
                    let cluster = record["cluster_state"]
                        .as_str()
                        .map(|c| format!(" · cluster {c}"));
                    bar.set_message(format!(
                        "{}{}",
                        status(record["status"].as_str().unwrap_or("-")),
                        cluster.unwrap_or_default()
                    ));
                }
                if TERMINAL.contains(&record["status"].as_str().unwrap_or("")) {
                    if let Some(bar) = bar {
                        bar.finish_and_clear();
                    }
                    return Ok(record);
                }
                wait = if changes.is_empty() {
                    wait.mul_f64(1.5).min(max_wait)
                } else {
                    interval
                };
            }
            Err(failure) if failure.exit_code() == exit::REFUSED => {
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                return Err(failure);
            }
            Err(failure) => {
                failed_reads += 1;
                if failed_reads >= MAX_FAILED_READS {
                    if let Some(bar) = bar {
                        bar.finish_and_clear();
                    }
                    return Err(failure);
                }
                wait = (wait * 2).min(max_wait);
                let note = format!(
                    "reading the flow failed ({failed_reads} of {MAX_FAILED_READS}): {failure}; again in {}",
                    short(wait)
                );
                match (&bar, show) {
                    (Some(bar), _) => bar.println(style(note).yellow().to_string()),
                    (None, Show::Quiet) => {}
                    (None, _) => eprintln!("{note}"),
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => {
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                return Err(Failure::Interrupted(flow_id.to_owned()));
            }
        }
    }
}

fn progress_bar(submitted: Option<SystemTime>) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{spinner:.cyan} {elapsed_precise} [{bar:24.cyan/blue}] {pos}/{len} steps · {msg}",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    let elapsed = submitted
        .map(|s| between(s, SystemTime::now()))
        .unwrap_or_default();
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_elapsed(elapsed);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(status: &str, cluster: Option<&str>, steps: Value) -> Value {
        json!({"flow_id": "01JA", "flow": "spark-pi", "status": status, "cluster_state": cluster,
               "submitted_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:05Z",
               "steps": steps})
    }

    #[test]
    fn a_lifecycle_reads_as_status_and_step_lines_with_durations() {
        console::set_colors_enabled(false);
        let mut follower = Follower::default();
        let step = |state: &str, at: &str| json!({"s-1": {"index": 0, "name": "SparkPi", "state": state, "updated_at": at}});
        let reads = [
            record("STARTING", None, step("PENDING", "2026-11-29T10:00:01Z")),
            record(
                "STARTING",
                Some("BOOTSTRAPPING"),
                step("PENDING", "2026-11-29T10:00:01Z"),
            ),
            record(
                "RUNNING",
                Some("RUNNING"),
                step("RUNNING", "2026-11-29T10:03:00Z"),
            ),
            record(
                "RUNNING",
                Some("RUNNING"),
                step("RUNNING", "2026-11-29T10:03:00Z"),
            ),
            {
                // The flow's last write comes after its step's end.
                let mut ended = record(
                    "SUCCEEDED",
                    Some("TERMINATED"),
                    step("COMPLETED", "2026-11-29T10:07:30Z"),
                );
                ended["updated_at"] = json!("2026-11-29T10:07:31Z");
                ended
            },
        ];
        let lines: Vec<Vec<String>> = reads
            .iter()
            .map(|r| {
                let submitted = parse(&r["submitted_at"]);
                follower.observe(r).iter().map(|c| line(c, submitted)).collect()
            })
            .collect();
        let expected: [&[&str]; 5] = [
            &["     5s  STARTING"],
            &["     5s  cluster BOOTSTRAPPING"],
            &[
                "     5s  RUNNING (cluster RUNNING)",
                "     3m  step 1/1 SparkPi RUNNING",
            ],
            &[],
            &[
                " 7m 30s  step 1/1 SparkPi COMPLETED after 4m 30s",
                " 7m 31s  SUCCEEDED (cluster TERMINATED)",
            ],
        ];
        assert_eq!(
            lines,
            expected.map(|l| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        );
    }

    #[test]
    fn a_step_seen_only_ended_has_no_duration() {
        console::set_colors_enabled(false);
        let mut follower = Follower::default();
        let r = record(
            "FAILED",
            Some("TERMINATED_WITH_ERRORS"),
            json!({"s-1": {"index": 0, "name": "A", "state": "FAILED", "updated_at": "2026-11-29T10:01:00Z"},
                   "s-2": {"index": 1, "name": "B", "state": "CANCELLED", "updated_at": "2026-11-29T10:01:01Z"}}),
        );
        let changes = follower.observe(&r);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert_eq!(line(&changes[0], None), "      -  step 1/2 A FAILED");
        assert_eq!(line(&changes[1], None), "      -  step 2/2 B CANCELLED");
        assert_eq!(
            line(&changes[2], None),
            "      -  FAILED (cluster TERMINATED_WITH_ERRORS)",
            "the end comes last"
        );
        assert!(follower.observe(&r).is_empty(), "nothing new on the same record");
    }

    #[test]
    fn outcomes_map_to_exit_statuses_and_say_why() {
        console::set_colors_enabled(false);
        for (s, code) in [
            ("SUCCEEDED", 0),
            ("FAILED", 1),
            ("CANCELLED", 3),
            ("TIMED_OUT", 4),
        ] {
            assert_eq!(exit_code(&json!({ "status": s })), code);
        }
        let failed = json!({"status": "FAILED", "cluster_id": "j-1", "cluster_state": "TERMINATED_WITH_ERRORS",
            "submitted_at": "2026-11-29T10:00:00Z", "ended_at": "2026-11-29T10:05:02Z",
            "failure": {"code": "STEP_FAILURE", "message": "Shut down as step failed",
                        "failed_step": {"id": "s-1", "name": "SparkPi", "state": "FAILED", "probable_cause": "a\nb\n"}}});
        assert_eq!(
            outcome(&failed),
            "FAILED after 5m 2s (cluster j-1 TERMINATED_WITH_ERRORS)\nSTEP_FAILURE: Shut down as step failed\n\
             step SparkPi (s-1) FAILED\nprobable cause (the end of the step's stderr):\n  | a\n  | b"
        );
    }
}
