//! The flow record's EMR on EKS job run: what the record keeps of it, and every change its facts
//! make, through the same promises as a cluster's and an EMR Serverless run's (a status never
//! moves backwards, a terminal status is final, every outside string bounded). The outcome is
//! [`decide_eks_job_run_outcome`]'s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::FlowStatus;
use super::super::eks_job_run::{EksJobRunFacts, EksJobRunId, EksJobRunState, VirtualClusterId};
use super::super::outcome::decide_eks_job_run_outcome;
use super::FlowRecord;
use super::job_runs::{ExtraJobRun, JobRunEnding, NO_FAILURE_DETAILS, NO_S3_LOGS_EKS};

/// The flow's EMR on EKS job run, as the record keeps it. The virtual cluster is known from
/// submit on; the run's id once StartJobRun answered (or the run was found by its client
/// token). EMR on EKS gives no cost figure: the run's duration stands for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EksJobRunRecord {
    pub virtual_cluster_id: VirtualClusterId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<EksJobRunId>,
    /// The run's `name` (a lost launch's run is found among the virtual cluster's by it).
    pub name: String,
    /// The most advanced state seen of the current attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EksJobRunState>,
    /// The current attempt (`retryPolicyExecution.currentAttemptCount`; 1 without retries).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Where the run's logs go in S3 (`…/s3MonitoringConfiguration/logUri`); `None`: not in S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uri: Option<String>,
    /// When the run was created and finished (the service's times), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// How long the run took, in seconds (`createdAt` to `finishedAt`, once both are known):
    /// the only cost figure EMR on EKS gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    /// Other runs found carrying this flow's client token, cancelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_runs: Vec<ExtraJobRun<EksJobRunId>>,
}

fn first_attempt() -> u32 {
    1
}

impl EksJobRunRecord {
    /// A run about to be started on `virtual_cluster_id`, named `name`.
    pub fn new(virtual_cluster_id: VirtualClusterId, name: &str, log_uri: Option<&str>) -> Self {
        Self {
            virtual_cluster_id,
            job_run_id: None,
            name: name.to_owned(),
            state: None,
            attempt: 1,
            log_uri: log_uri.map(str::to_owned),
            created_at: None,
            finished_at: None,
            duration_seconds: None,
            extra_runs: Vec::new(),
        }
    }

    /// Whether the run may still run: not seen ended.
    pub fn may_run(&self) -> bool {
        !self.state.as_ref().is_some_and(EksJobRunState::is_ended)
    }

    /// The folder under which the run's containers write their logs
    /// (`<logUri>/<virtualClusterId>/jobs/<jobRunId>/containers/`: EMR on EKS development
    /// guide, "Using S3 logs"); the driver's is `<spark application id>/spark-<jobRunId>-driver/`,
    /// and no API gives the Spark application id, so the folder is listed.
    pub fn containers_prefix(&self) -> Option<String> {
        let (log_uri, run) = (self.log_uri.as_ref()?, self.job_run_id.as_ref()?);
        Some(format!(
            "{}/{}/jobs/{run}/containers/",
            log_uri.trim_end_matches('/'),
            self.virtual_cluster_id
        ))
    }

    /// The end of a driver's `stderr.gz` key under [`Self::containers_prefix`]:
    /// `/spark-<jobRunId>-driver/stderr.gz`.
    pub fn driver_stderr_suffix(&self) -> Option<String> {
        Some(format!("/spark-{}-driver/stderr.gz", self.job_run_id.as_ref()?))
    }

    /// Records what the facts say of the run itself (attempt, state, times); whether anything
    /// changed. A new attempt starts its states afresh; within one attempt a state never moves
    /// back, an ended one is final, and an unknown one never replaces a known one.
    fn apply(&mut self, facts: &EksJobRunFacts) -> bool {
        let mut changed = false;
        if let Some(attempt) = facts.attempt.filter(|a| *a > self.attempt) {
            self.attempt = attempt;
            if self.may_run() {
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
        for (mine, theirs) in [
            (&mut self.created_at, facts.created_at),
            (&mut self.finished_at, facts.finished_at),
        ] {
            if mine.is_none() && theirs.is_some() {
                *mine = theirs;
                changed = true;
            }
        }
        if let (None, Some(created), Some(finished)) =
            (self.duration_seconds, self.created_at, self.finished_at)
        {
            self.duration_seconds = u64::try_from((finished - created).num_seconds()).ok();
            changed |= self.duration_seconds.is_some();
        }
        changed
    }
}

impl FlowRecord {
    /// EMR on EKS started the flow's run: `PENDING` → `STARTING` with its id.
    pub fn eks_job_run_started(&mut self, job_run_id: &EksJobRunId, now: DateTime<Utc>) -> bool {
        if self.status != FlowStatus::Pending {
            return false;
        }
        let Some(run) = self.eks_job_run.as_mut().filter(|r| r.job_run_id.is_none()) else {
            return false;
        };
        run.job_run_id = Some(job_run_id.clone());
        self.last_contact_at = Some(now);
        self.advance(FlowStatus::Starting, now)
    }

    /// The flow's EMR on EKS job run id, once known.
    pub fn eks_job_run_id(&self) -> Option<&EksJobRunId> {
        self.eks_job_run.as_ref().and_then(|r| r.job_run_id.as_ref())
    }

    /// Applies what EMR on EKS says about the flow's run ([`EksJobRunFacts`]): its attempt,
    /// state and times, and, when the state decides it ([`decide_eks_job_run_outcome`]), the
    /// outcome with its cause (`failureReason: stateDetails` for a failure). An ended flow only
    /// notes the run's end.
    pub fn apply_eks_job_run(&mut self, facts: &EksJobRunFacts, now: DateTime<Utc>) -> bool {
        let accepted = self.accepted_termination();
        let deadline = self.deadline_at;
        let Some(run) = self.eks_job_run.as_mut().filter(|r| r.job_run_id.is_some()) else {
            return false;
        };
        let mut changed = run.apply(facts);
        let (run_state, no_logs) = (run.state.clone(), run.log_uri.is_none());
        if self.status.is_terminal() {
            if changed {
                self.touch(now);
            }
            return changed;
        }
        self.last_contact_at = Some(now);
        let Some(state) = facts.state.as_ref().filter(|_| run_state == facts.state) else {
            if changed {
                self.touch(now);
            }
            return changed;
        };
        let Some(outcome) = decide_eks_job_run_outcome(state, accepted) else {
            changed |= match state {
                EksJobRunState::Running => self.advance(FlowStatus::Running, now),
                EksJobRunState::Pending | EksJobRunState::Submitted => {
                    self.advance(FlowStatus::Starting, now)
                }
                _ => false,
            };
            if changed {
                self.touch(now);
            }
            return changed;
        };
        let failure = JobRunEnding {
            outcome,
            accepted,
            deadline,
            failed: facts
                .failure_message()
                .unwrap_or_else(|| NO_FAILURE_DETAILS.to_owned()),
            own_timeout: None,
            details: facts.state_details.as_deref(),
            no_s3_logs: no_logs.then_some(NO_S3_LOGS_EKS),
        }
        .cause();
        self.finish(outcome, failure, now) || changed
    }

    /// Notes another run carrying this flow's client token. `false` when it is the flow's own
    /// run, noted before, or the list is full.
    pub fn note_extra_eks_job_run(&mut self, job_run_id: &EksJobRunId, now: DateTime<Utc>) -> bool {
        let Some(run) = self.eks_job_run.as_mut() else {
            return false;
        };
        let noted = ExtraJobRun::note(&mut run.extra_runs, run.job_run_id.as_ref(), job_run_id, now);
        if noted {
            self.touch(now);
        }
        noted
    }

    /// Records the CancelJobRun call for an extra run.
    pub fn extra_eks_job_run_cancelled(
        &mut self,
        job_run_id: &EksJobRunId,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(run) = self.eks_job_run.as_mut() else {
            return false;
        };
        let recorded = ExtraJobRun::cancelled(&mut run.extra_runs, job_run_id, result, now);
        if recorded {
            self.touch(now);
        }
        recorded
    }
}
