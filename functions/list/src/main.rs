//! list: one flow in full (`{"flow_id"}`), active flows (`{"status": "active"}`), a
//! definition's history (`{"flow"}`) or the catalog (`{"definitions": true}`).
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::{config, definition::Catalog, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    config::init_tracing();
    let sdk = config::aws().await;
    let catalog = Catalog::embedded()?;
    let store = config::store(&sdk)?;
    run(service_fn(|event: LambdaEvent<Value>| {
        ops::list(&catalog, &store, event.payload)
    }))
    .await
}
