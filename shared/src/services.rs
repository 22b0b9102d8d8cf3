//! What operations and run targets work with: the adapters, bundled, and the clock they read.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use crate::aws::emr::Emr;
use crate::aws::emr_containers::EmrContainers;
use crate::aws::emr_serverless::EmrServerless;
use crate::aws::eventbridge::EventBridge;
use crate::aws::step_logs::StepLogs;
use crate::callback::Dispatcher;
use crate::store::FlowStore;

/// Where operations read the time. The system clock in the functions; a clock a test sets and
/// moves (simulated hours pass in a moment) in tests.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `at` until moved with [`Clock::advance`].
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(Mutex::new(at))))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a fixed clock forward by `by`; the system clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.0 {
            *at.lock().unwrap_or_else(|e| e.into_inner()) += by;
        }
    }
}

/// What the event path, the sweep and terminate work with.
#[derive(Clone)]
pub struct Services {
    pub store: FlowStore,
    pub emr: Emr,
    /// EMR Serverless (the `serverless_job_run` target).
    pub emr_serverless: EmrServerless,
    /// EMR on EKS (the `eks_job_run` target).
    pub emr_containers: EmrContainers,
    pub dispatcher: Dispatcher,
    /// Reads failed steps' logs from S3.
    pub logs: StepLogs,
    /// Publishes flow events.
    pub events: EventBridge,
    pub clock: Clock,
}
