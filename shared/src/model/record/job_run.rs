//! The flow record's EMR Serverless job run: what the record keeps of it, and every change its
//! facts make, through the same promises as a cluster's (a status never moves backwards, a
//! terminal status is final, every outside string bounded). The outcome is
//! [`decide_job_run_outcome`]'s.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::super::FlowStatus;
use super::super::job_run::{ApplicationId, JobRunFacts, JobRunId, JobRunState, ResourceUtilization};
use super::super::outcome::decide_job_run_outcome;
use super::job_runs::{ExtraJobRun, JobRunEnding, NO_S3_LOGS, NO_STATE_DETAILS};
use super::{FailureCause, FlowRecord};

/// EMR Serverless' default `executionTimeoutMinutes` (API reference, StartJobRun).
pub const DEFAULT_EXECUTION_TIMEOUT_MINUTES: u64 = 720;

/// The cause recorded when EMR Serverless refuses StartJobRun (a cluster's is `RUN_JOB_FLOW_FAILED`).
pub const START_JOB_RUN_FAILED: &str = "START_JOB_RUN_FAILED";
/// The cause recorded when StartJobRun's answer was lost and no run carries the flow's tag.
pub const START_JOB_RUN_LOST: &str = "START_JOB_RUN_LOST";
/// The cause recorded when EMR Serverless cancelled a run for its `executionTimeoutMinutes`.
pub const EXECUTION_TIMEOUT: &str = "EXECUTION_TIMEOUT";

/// The flow's EMR Serverless job run, as the record keeps it. The application is known from
/// submit on; the run's id once StartJobRun answered (or the run was found by its tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRunRecord {
    pub application_id: ApplicationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<JobRunId>,
    /// The run's `name` (a lost launch's run is found among the application's by it).
    pub name: String,
    /// The most advanced state seen of the current attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobRunState>,
    /// The current attempt (1 without retries; a "Job Run Retry" event moves it on).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Where the run's logs go in S3 (`…/s3MonitoringConfiguration/logUri`); `None`: managed
    /// storage only, nothing to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uri: Option<String>,
    /// The driver's log folder under it: `SPARK_DRIVER`, or `HIVE_DRIVER` for a Hive job.
    #[serde(default = "spark_driver")]
    pub driver_log_folder: String,
    /// The request's `executionTimeoutMinutes` ([`DEFAULT_EXECUTION_TIMEOUT_MINUTES`] when unset).
    #[serde(default = "default_timeout")]
    pub execution_timeout_minutes: u64,
    /// When the run was created (the service's time), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Billed vCPU-hours, memory GB-hours and storage GB-hours, as last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed: Option<ResourceUtilization>,
    /// Whether `billed` is final (the run ended, or the last utilization update said so).
    #[serde(default)]
    pub billed_final: bool,
    /// How long EMR Serverless lets the job shut down when emr-flows cancels the run, in
    /// seconds (the definition's `shutdown_grace_period`: CancelJobRun's
    /// `shutdownGracePeriodInSeconds`); `None`: at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period_seconds: Option<u32>,
    /// Other runs found carrying this flow's tag, cancelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_runs: Vec<ExtraJobRun>,
}

fn spark_driver() -> String {
    "SPARK_DRIVER".to_owned()
}

fn first_attempt() -> u32 {
    1
}

fn default_timeout() -> u64 {
    DEFAULT_EXECUTION_TIMEOUT_MINUTES
}

impl JobRunRecord {
    /// A run about to be started on `application_id`, named `name`.
    pub fn new(
        application_id: ApplicationId,
        name: &str,
        log_uri: Option<&str>,
        execution_timeout_minutes: Option<u64>,
    ) -> Self {
        Self {
            application_id,
            job_run_id: None,
            name: name.to_owned(),
            state: None,
            attempt: 1,
            log_uri: log_uri.map(str::to_owned),
            driver_log_folder: spark_driver(),
            execution_timeout_minutes: execution_timeout_minutes.unwrap_or(DEFAULT_EXECUTION_TIMEOUT_MINUTES),
            created_at: None,
            billed: None,
            billed_final: false,
            shutdown_grace_period_seconds: None,
            extra_runs: Vec::new(),
        }
    }

    /// Whether the run may still run (and cost money): not seen ended.
    pub fn may_run(&self) -> bool {
        !self.state.as_ref().is_some_and(JobRunState::is_ended)
    }

    /// Where the driver's `stderr.gz` of the current attempt is, under `log_uri`
    /// (`<logUri>/applications/<app>/jobs/<run>/SPARK_DRIVER/stderr.gz`, `HIVE_DRIVER` for
    /// Hive; with retries `…/jobs/<run>/attempts/<n>/SPARK_DRIVER/stderr.gz`: EMR Serverless
    /// user guide, "Logging").
    pub fn driver_stderr_key(&self) -> Option<String> {
        let (log_uri, run) = (self.log_uri.as_ref()?, self.job_run_id.as_ref()?);
        let attempt = if self.attempt > 1 {
            format!("attempts/{}/", self.attempt)
        } else {
            String::new()
        };
        Some(format!(
            "{}/applications/{}/jobs/{run}/{attempt}{}/stderr.gz",
            log_uri.trim_end_matches('/'),
            self.application_id,
            self.driver_log_folder
        ))
    }

    /// Records what the facts say of the run itself (attempt, state, billed figures); whether
    /// anything changed. A new attempt starts its states afresh; within one attempt a state
    /// never moves back, an ended one is final, and an unknown one never replaces a known one.
    fn apply(&mut self, facts: &JobRunFacts) -> bool {
        let mut changed = false;
        if let Some(attempt) = facts.attempt.filter(|a| *a > self.attempt) {
            self.attempt = attempt;
            if !self.state.as_ref().is_some_and(JobRunState::is_ended) {
                self.state = None;
            }
            changed = true;
        }
        if let Some(state) = &facts.state {
            let keep = self
                .state
                .as_ref()
                .is_some_and(|current| current.is_ended() || state.rank() < current.rank());
            if !keep && self.state.as_ref() != Some(state) {
                self.state = Some(state.clone());
                changed = true;
            }
        }
        if self.created_at.is_none() && facts.created_at.is_some() {
            self.created_at = facts.created_at;
            changed = true;
        }
        if let Some(billed) = facts.billed
            && !self.billed_final
            && self.billed != Some(billed)
        {
            self.billed = Some(billed);
            changed = true;
        }
        if facts.billed.is_some() && facts.billed_final && !self.billed_final {
            self.billed_final = true;
            changed = true;
        }
        changed
    }
}

impl FlowRecord {
    /// The record with its EMR Serverless run's grace period on cancel (the definition's
    /// `shutdown_grace_period`, in seconds); a record of another target is returned as is.
    pub fn with_shutdown_grace_period(mut self, seconds: Option<u32>) -> Self {
        if let Some(run) = self.job_run.as_mut() {
            run.shutdown_grace_period_seconds = seconds;
        }
        self
    }

    /// EMR Serverless started the flow's run: `PENDING` → `STARTING` with its id.
    pub fn job_run_started(&mut self, job_run_id: &JobRunId, now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending {
            return false;
        }
        let Some(run) = self.job_run.as_mut().filter(|r| r.job_run_id.is_none()) else {
            return false;
        };
        run.job_run_id = Some(job_run_id.clone());
        self.last_contact_at = Some(now);
        self.advance(FlowStatus::Starting, now)
    }

    /// The flow's job run id, once known.
    pub fn job_run_id(&self) -> Option<&JobRunId> {
        self.job_run.as_ref().and_then(|r| r.job_run_id.as_ref())
    }

    /// Applies what EMR Serverless says about the flow's run ([`JobRunFacts`]): its attempt,
    /// state and billed figures, and, when the state decides it ([`decide_job_run_outcome`]),
    /// the outcome with its cause. An ended flow only notes the run's end and final figures.
    pub fn apply_job_run(&mut self, facts: &JobRunFacts, now: DateTime<Utc>) -> bool {
        let accepted = self.accepted_termination();
        let deadline = self.deadline_at;
        let Some(run) = self.job_run.as_mut().filter(|r| r.job_run_id.is_some()) else {
            return false;
        };
        let mut changed = run.apply(facts);
        let run = run.clone();
        if self.status.is_terminal() {
            if changed {
                self.touch(now);
            }
            return changed;
        }
        self.last_contact_at = Some(now);
        let Some(state) = facts.state.as_ref().filter(|_| run.state == facts.state) else {
            if changed {
                self.touch(now);
            }
            return changed;
        };
        let timeout_elapsed = facts.execution_timeout_elapsed()
            || (run.created_at.or(facts.created_at)).is_some_and(|created| {
                let ended = facts.updated_at.unwrap_or(now);
                run.execution_timeout_minutes > 0
                    && ended - created >= Duration::minutes(run.execution_timeout_minutes as i64)
            });
        let Some(outcome) = decide_job_run_outcome(state, accepted, timeout_elapsed) else {
            changed |= match state {
                JobRunState::Running => self.advance(FlowStatus::Running, now),
                JobRunState::Submitted
                | JobRunState::Pending
                | JobRunState::Scheduled
                | JobRunState::Queued => self.advance(FlowStatus::Starting, now),
                _ => false,
            };
            if changed {
                self.touch(now);
            }
            return changed;
        };
        let details = facts.state_details.as_deref();
        let failure = JobRunEnding {
            outcome,
            accepted,
            deadline,
            failed: details.map_or_else(|| NO_STATE_DETAILS.to_owned(), str::to_owned),
            own_timeout: Some(FailureCause::ours(
                EXECUTION_TIMEOUT,
                format!(
                    "EMR Serverless cancelled the job run after its executionTimeoutMinutes ({})",
                    run.execution_timeout_minutes
                ),
            )),
            details,
            no_s3_logs: run.log_uri.is_none().then_some(NO_S3_LOGS),
        }
        .cause();
        self.finish(outcome, failure, now) || changed
    }

    /// Notes another run carrying this flow's tag. `false` when it is the flow's own run,
    /// noted before, or the list is full.
    pub fn note_extra_job_run(&mut self, job_run_id: &JobRunId, now: DateTime<Utc>) -> bool {
        let Some(run) = self.job_run.as_mut() else {
            return false;
        };
        let noted = ExtraJobRun::note(&mut run.extra_runs, run.job_run_id.as_ref(), job_run_id, now);
        if noted {
            self.touch(now);
        }
        noted
    }

    /// Records the CancelJobRun call for an extra run.
    pub fn extra_job_run_cancelled(
        &mut self,
        job_run_id: &JobRunId,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(run) = self.job_run.as_mut() else {
            return false;
        };
        let recorded = ExtraJobRun::cancelled(&mut run.extra_runs, job_run_id, result, now);
        if recorded {
            self.touch(now);
        }
        recorded
    }
}
