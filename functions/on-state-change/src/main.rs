//! on-state-change: EMR "Cluster State Change" and "Step Status Change" events from EventBridge,
//! and the reconcile sweep's scheduled tick.
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::{config, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    config::init_tracing();
    let sdk = config::aws().await;
    let services = config::services(&sdk)?;
    run(service_fn(|event: LambdaEvent<Value>| {
        let budget = config::time_left(event.context.deadline);
        ops::on_state_change(&services, event.payload, budget)
    }))
    .await
}
