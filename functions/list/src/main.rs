//! list: one flow in full (`{"flow_id"}`), active flows (`{"status": "active"}`), a
//! definition's history (`{"flow"}`) or the catalog (`{"definitions": true}`). Direct invoke,
//! or `GET /flows`, `GET /flows/{flow_id}`, `GET /definitions` through API Gateway.
use shared::api::{self, Function, Startup};
use shared::{config, definition::Catalog, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Startup> {
    config::init_tracing();
    let sdk = config::aws().await;
    let catalog = Catalog::embedded()?;
    let store = config::store(&sdk)?;
    api::serve(Function::List, |request, _| ops::list(&catalog, &store, request)).await
}
