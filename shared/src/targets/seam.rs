//! The types a run target answers the operations with, and the follow-up of its writes without
//! a read (kept apart from the dispatch in [`super`], so targets import them without importing
//! the dispatch that imports them).

use crate::error::Error;
use crate::model::{FlowId, FlowStatus};
use crate::services::Services;
use crate::store::Versioned;
use crate::store::fast::FastWrite;

/// What came of launching a flow's run, recorded.
#[derive(Debug)]
pub enum Launched {
    /// The service launched it: the record as written (`STARTING`, with the run's ids).
    Started(Versioned),
    /// The service refused the request: the record as written (`FAILED` with its message),
    /// which service and call (`"EMR"`, `"RunJobFlow"`) and what it said.
    Refused {
        written: Versioned,
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// The answer was lost: the record as last read (`PENDING`, or `STARTING` with the run found
    /// by the flow's tag or token). The sweep keeps looking.
    Unknown(Versioned),
}

/// How long before its record's creation time a lost job-run launch's run is looked for
/// (EMR Serverless, EMR on EKS): clock skew with room to spare (the candidates are confirmed by
/// the flow's tag or token, so a wide window costs only listing), and wide enough for moto,
/// which dates every run at midnight.
pub const LIST_WINDOW: chrono::Duration = chrono::Duration::days(1);

/// What a job run carrying a flow's identity (its tag or client token) turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Tagged {
    /// The flow's own run, already recorded.
    Own(FlowId),
    /// The flow's own run, recorded now: the record as written, whose follow-up work (a
    /// termination asked while `PENDING`) is the caller's.
    Adopted(Box<Versioned>),
    /// Another run of a flow that has one (or has ended): cancelled and noted.
    Extra(FlowId),
}

/// What a target's event came to.
#[derive(Debug)]
pub enum Applied {
    /// The event is about nothing a flow owns (or about an extra run, terminated): why.
    Ignored(String),
    /// The event was applied to the flow (or changed nothing: a duplicate or a late event).
    Flow {
        flow_id: FlowId,
        status: FlowStatus,
        changed: bool,
        /// Records whose follow-up work (deliveries, a termination due) the caller carries
        /// out, in order: a run adopted on the way, the record as an ending event left it.
        follow_up: Vec<Versioned>,
    },
    /// The event concerned several flows (a shared cluster that ended under several step
    /// flows, and maybe the flow whose own cluster it is): one [`Applied::Flow`] each.
    Flows(Vec<Applied>),
}

/// The follow-up of a write without a read (`store::fast`): nothing, or the record read once
/// when that write moved the flow's status, so that its flow event is recorded from it.
///
/// Errors: [`Error::Upstream`], [`Error::FlowNotFound`].
pub(crate) async fn after_fast_write(
    svc: &Services,
    flow_id: FlowId,
    write: &FastWrite,
) -> Result<Vec<Versioned>, Error> {
    Ok(match write.event_due {
        true => vec![svc.store.read(flow_id).await?],
        false => Vec::new(),
    })
}

/// The service refused the launch of the flow recorded as `created`: it ends `FAILED` with the
/// service's message (its callbacks are the caller's follow-up).
///
/// Errors: [`Error::Upstream`], [`Error::FlowNotFound`].
pub(crate) async fn refused(
    svc: &Services,
    created: Versioned,
    service: &'static str,
    operation: &'static str,
    message: String,
) -> Result<Launched, Error> {
    let (written, _) = svc
        .store
        .update_from(created, |r| r.launch_failed(&message, svc.clock.now()))
        .await?;
    Ok(Launched::Refused {
        written,
        service,
        operation,
        message,
    })
}
