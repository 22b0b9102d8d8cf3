//! terminate: `{"flow_id", "reason"?}` → terminates the flow's cluster.
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
        ops::terminate(&services, event.payload)
    }))
    .await
}
