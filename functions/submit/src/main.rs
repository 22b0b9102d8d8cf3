//! submit: `{"flow", "params"?, "callbacks"?, "overrides"?, "idempotency_key"?, "max_runtime"?,
//! "dry_run"?}` → `{"flow_id", "cluster_id", "status"}` (or, for a dry run, the rendered request).
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::{config, definition::Catalog, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    config::init_tracing();
    let sdk = config::aws().await;
    let submitter = ops::Submitter {
        catalog: Catalog::embedded()?,
        policy: config::callback_policy()?,
        services: config::services(&sdk)?,
        region: config::region(&sdk)?,
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        ops::submit(&submitter, event.payload)
    }))
    .await
}
