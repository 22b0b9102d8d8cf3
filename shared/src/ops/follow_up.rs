//! The work a record asks for once it is written, whoever wrote it (submit, an event, the
//! sweep, terminate): a termination not yet accepted by the service, due callback deliveries
//! and due flow events.

use crate::error::Error;
use crate::services::Services;
use crate::store::Versioned;
use crate::targets::Target;

use super::{deliveries, flow_events};

/// Carries out the work a record (as just read or written) asks for now: a termination not yet
/// accepted by EMR (also one asked while the cluster id was unknown), due callback
/// deliveries and due flow events. Starts from `read` without reading again.
///
/// Errors: [`Error::Upstream`] when DynamoDB fails; a refused termination, a failed delivery
/// or publication is recorded on the flow, not returned.
pub(super) async fn follow_up(svc: &Services, mut read: Versioned) -> Result<Versioned, Error> {
    if read.record.termination_due(svc.clock.now()) {
        read = Target::of(&read.record).cancel(svc, read).await?.0;
    }
    if read.record.deliveries.values().any(|d| d.is_due(svc.clock.now())) {
        read = deliveries::deliver_due(svc, read).await?;
    }
    flow_events::publish_due(svc, read).await
}
