//! Run targets: what a flow runs on, and the seam each one plugs into: [`cluster`] (an EMR
//! cluster of the flow's own), [`steps`] (steps on a long-running cluster that is not the
//! flow's), [`serverless`] (a job run on an EMR Serverless application) and [`eks`] (a job run
//! on an EMR on EKS virtual cluster).
//!
//! # What a target supplies
//!
//! | concern | the cluster target | where a target keeps it |
//! | --- | --- | --- |
//! | its name and definition section | `cluster`, `job_flow` | a variant of [`crate::model::Target`] (stored on the record) |
//! | its definition section, validated and rendered | `job_flow` (RunJobFlow in EMR's API shape) | `catalog/<request>.rs`, a variant of [`Request`] |
//! | launch with the flow's identity; learn its ids | RunJobFlow, the cluster tagged `emr-flows:flow-id` | `targets/<target>/launch.rs` → [`Launched`] |
//! | find a launch whose answer was lost | ListClusters by tag, adopt or terminate extras | `launch.rs`, [`Target::recover_launch`] |
//! | cancel | TerminateJobFlows | [`Target::cancel`] |
//! | describe its state for the sweep | DescribeCluster, ListSteps | [`Target::repair`] |
//! | parse its EventBridge events into facts | `aws.emr` cluster and step events | `targets/<target>/events.rs`, routed by [`events::parse_input`] |
//! | apply an event to the flow that owns it | cluster index, else the flow-id tag | [`apply_event`] → [`Applied`] |
//! | decide the outcome from its facts | [`crate::model::outcome`] (pure; the record applies it) | `model/outcome.rs` (one rule per target) |
//! | where its driver or step logs are | a failed step's `stderr.gz` under `LogUri` | [`Target::fetch_cause`], reading through `aws::step_logs` |
//! | its cost figures | NormalizedInstanceHours | the facts it records |
//! | its AWS calls | `aws::emr` | one adapter per service in `aws/` |
//!
//! The steps target supplies: `steps`, `cluster` with `steps` (AddJobFlowSteps' request, each
//! step marked with its flow: `catalog::cluster_steps`); AddJobFlowSteps, the cluster found by
//! id, name or tags at submit ([`resolve`]); a lost answer found by the marker (ListSteps);
//! CancelSteps; ListSteps by the flow's step ids; the same `aws.emr` events, a step routed by
//! its marker and a cluster's end to its active step flows (a sparse index); its own rule
//! ([`crate::model::decide_steps_outcome`]); the step's own `LogUri`, else the cluster's; each
//! step's run time as its cost.
//!
//! The job-run targets (`serverless`, `eks`) share their launch, lost-answer recovery and
//! cancel ([`job_runs`]); each supplies its service's calls, the identity a run carries (the
//! flow-id tag on EMR Serverless, the echoed client token on EMR on EKS), its events and its
//! outcome rule.
//!
//! # What stays shared
//!
//! The flow record and its rules (`model::record`) and store (`store`), callback deliveries and
//! the follow-up work a record asks for (`ops`), the sweep's schedule, lease and budget
//! (`ops::reconcile`), idempotency keys (`ops::submit`, `store`), the API edge (`api`) and
//! `list`. A target never calls an operation: it answers with the records it wrote, and the
//! operation carries out what they ask for (deliveries, a termination due).
//!
//! # Adding a target (an outline)
//!
//! 1. Its adapter: `aws/<service>.rs` (the SDK's types stop there).
//! 2. Its name and request: a variant of [`crate::model::Target`] naming its definition
//!    section (one of them, exactly, in a definition: `catalog::definition`'s check), the
//!    section as a field of `FlowDefinition` checked in `catalog/`, rendered by
//!    `catalog::render` into a variant of [`Request`] (a JSON Schema from the service's model
//!    under `shared/schemas/`).
//! 3. Its module: `targets/<target>/` with `launch.rs`, `events.rs` and what applies its facts;
//!    a variant of [`TargetEvent`] and the arms that dispatch to it (this file and `events.rs`:
//!    the only shared files a target touches besides the two enums). A service that runs jobs
//!    by StartJobRun (EMR Serverless, EMR on EKS) implements [`job_runs::JobRunService`] in its
//!    `launch.rs` and gets the launch, the lost-answer recovery and the cancel from
//!    [`job_runs`].
//! 4. Its outcome rule beside the cluster's in `model/outcome.rs`, with the record's fields.
//! 5. Tests: the pure parts beside their code (events from `events/real/`, the outcome rule in
//!    its table); its lifecycle through the real binaries in the integration tests (`tests/`),
//!    events driving the states as for clusters; the template's rules and IAM in `template.yaml`
//!    and its contract test.

pub mod cluster;
pub mod eks;
pub mod events;
pub mod job_runs;
pub mod seam;
pub mod serverless;
pub mod steps;

pub use events::{Input, TargetEvent, event_time, parse_input};
pub use seam::{Applied, Launched};

use cluster::events::EmrEvent;
use eks::launch::Eks;
use serverless::launch::Serverless;

use crate::catalog::render::Request;
use crate::error::Error;
use crate::model::FlowRecord;
pub use crate::model::Target;
use crate::services::Services;
use crate::store::Versioned;

/// The dispatch to each target's code (the target itself is [`crate::model::Target`], stored
/// on the record).
impl Target {
    /// The target `record` runs on.
    pub fn of(record: &FlowRecord) -> Self {
        record.target
    }

    /// Finds the run of a `PENDING` flow whose launch answer was lost, adopting it, or ends the
    /// flow `FAILED` when there is none. Returns the record as last written or read.
    ///
    /// Errors: [`Error::Upstream`].
    pub async fn recover_launch(self, svc: &Services, read: Versioned) -> Result<Versioned, Error> {
        match self {
            Self::Cluster => cluster::launch::recover_launch(svc, read).await,
            Self::Steps => steps::launch::recover_launch(svc, read).await,
            Self::ServerlessJobRun => job_runs::recover_launch::<Serverless>(svc, read).await,
            Self::EksJobRun => job_runs::recover_launch::<Eks>(svc, read).await,
        }
    }

    /// Asks the service for the state of the flow's run and applies it as an event would (the
    /// sweep's repair of missed events). Returns the record as last written.
    ///
    /// Errors: [`Error::Upstream`].
    pub async fn repair(self, svc: &Services, read: Versioned) -> Result<Versioned, Error> {
        match self {
            Self::Cluster => cluster::facts::repair(svc, read).await,
            Self::Steps => steps::facts::repair(svc, read).await,
            Self::ServerlessJobRun => serverless::facts::repair(svc, read).await,
            Self::EksJobRun => eks::facts::repair(svc, read).await,
        }
    }

    /// Asks the service to stop the flow's run and records the attempt. Returns the record and
    /// the call's result (a refusal is recorded, not lost).
    ///
    /// Errors: [`Error::Upstream`] when DynamoDB fails.
    pub async fn cancel(
        self,
        svc: &Services,
        read: Versioned,
    ) -> Result<(Versioned, Result<(), Error>), Error> {
        match self {
            Self::Cluster => cluster::facts::cancel(svc, read).await,
            Self::Steps => steps::facts::cancel(svc, read).await,
            Self::ServerlessJobRun => job_runs::cancel::<Serverless>(svc, read).await,
            Self::EksJobRun => job_runs::cancel::<Eks>(svc, read).await,
        }
    }

    /// Fetches an ended flow's missing failure details and probable cause (the log's tail) and
    /// records them, starting from `read`. Returns the record as last written (or `read`).
    ///
    /// Errors: [`Error::Upstream`] when DynamoDB fails.
    pub async fn fetch_cause(self, svc: &Services, read: Versioned) -> Result<Versioned, Error> {
        match self {
            Self::Cluster => cluster::facts::fetch_cause(svc, read).await,
            Self::Steps => steps::facts::fetch_cause(svc, read).await,
            Self::ServerlessJobRun => serverless::facts::fetch_cause(svc, read).await,
            Self::EksJobRun => eks::facts::fetch_cause(svc, read).await,
        }
    }
}

/// Launches the run `request` describes for the flow just recorded as `created`, once.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails (a refusal is [`Launched::Refused`]).
pub async fn launch(svc: &Services, request: &Request, created: Versioned) -> Result<Launched, Error> {
    match request {
        Request::JobFlow(job_flow) => cluster::launch::launch(svc, job_flow, created).await,
        Request::ServerlessJobRun(run) => job_runs::launch::<Serverless>(svc, run, created).await,
        Request::EksJobRun(run) => job_runs::launch::<Eks>(svc, run, created).await,
        // Boxed: the futures of both launches inline would nest too deep for the compiler's
        // layout queries in the submit function's binary.
        Request::Steps(steps) => Box::pin(steps::launch::launch(svc, steps, created)).await,
    }
}

/// The record of a flow about to launch `request`, as its target knows it before the launch:
/// the target, and what the request names (a step flow's shared cluster, from the start, so a
/// lost AddJobFlowSteps answer is resolved by looking there; a job run's application or
/// virtual cluster, name, log location and timeout).
pub fn pending(record: FlowRecord, request: &Request) -> FlowRecord {
    let record = FlowRecord {
        target: request.target(),
        ..record
    };
    match request {
        Request::JobFlow(_) => record,
        Request::Steps(steps) => steps::launch::pending(record, steps),
        Request::ServerlessJobRun(run) => serverless::launch::pending(record, run),
        Request::EksJobRun(run) => eks::launch::pending(record, run),
    }
}

/// Resolves what a request names before anything is written: the long-running cluster of a
/// step flow (found by id, name or tags, and checked as one this stack may use). Other
/// requests are complete as rendered.
///
/// Errors: [`Error::Validation`] naming what was looked for; [`Error::Upstream`].
pub async fn resolve(svc: &Services, request: Request) -> Result<Request, Error> {
    match request {
        Request::JobFlow(_) => Ok(request),
        Request::Steps(steps) => Ok(Request::Steps(
            Box::pin(steps::launch::resolve(svc, &steps)).await?,
        )),
        Request::ServerlessJobRun(_) | Request::EksJobRun(_) => Ok(request),
    }
}

/// Applies a target's event to the flow that owns what it is about.
///
/// Errors: [`Error::Upstream`], [`Error::FlowNotFound`].
pub async fn apply_event(svc: &Services, event: TargetEvent) -> Result<Applied, Error> {
    match event {
        // A step of a step flow names its flow by its marker: never the cluster's own flow's.
        TargetEvent::Cluster(EmrEvent::Step(step)) if steps::marked(&step).is_some() => {
            let flow_id = steps::marked(&step).expect("checked");
            match steps::apply_step_event(svc, flow_id, step).await {
                Err(Error::FlowNotFound(_)) => Ok(Applied::Ignored(format!(
                    "a step marked with flow {flow_id}, which is no flow here"
                ))),
                other => other,
            }
        }
        // A cluster that ended concerns the flow it belongs to (if any) and every step flow
        // still active on it.
        TargetEvent::Cluster(EmrEvent::Cluster(change)) if change.facts.state.is_ended() => {
            let mut applied = steps::apply_cluster_event(svc, &change).await?;
            let own = cluster::apply_event(svc, EmrEvent::Cluster(change)).await?;
            Ok(match (own, applied.len()) {
                (own, 0) => own,
                (Applied::Ignored(_), 1) => applied.remove(0),
                (Applied::Ignored(_), _) => Applied::Flows(applied),
                (own, _) => {
                    applied.insert(0, own);
                    Applied::Flows(applied)
                }
            })
        }
        TargetEvent::Cluster(event) => cluster::apply_event(svc, event).await,
        TargetEvent::ServerlessJobRun(event) => serverless::apply_event(svc, event).await,
        TargetEvent::EksJobRun(event) => eks::apply_event(svc, event).await,
    }
}
