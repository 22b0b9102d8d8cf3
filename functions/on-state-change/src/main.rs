//! on-state-change: EMR "Cluster State Change" and "Step Status Change" events from EventBridge,
//! and the reconcile sweep's scheduled tick.
use emr_flows::api::{self, Function, Startup};
use emr_flows::{config, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Startup> {
    config::init_tracing();
    let sdk = config::aws().await;
    let services = config::services(&sdk, config::logs(&sdk))?;
    api::serve(Function::OnStateChange, |event, budget| {
        ops::on_state_change(&services, event, budget)
    })
    .await
}
