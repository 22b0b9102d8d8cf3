//! list: one flow in full (`{"flow_id"}`), active flows (`{"status": "active"}`), a
//! definition's history (`{"flow"}`), the catalog (`{"definitions": true}`) or the signature
//! schemes and public keys (`{"signing_keys": true}`). Direct invoke, or `GET /flows`,
//! `GET /flows/{flow_id}`, `GET /definitions`, `GET /signing-keys` through API Gateway.
use emr_flows::api::{self, Function, Startup};
use emr_flows::catalog::Catalog;
use emr_flows::{config, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Startup> {
    config::init_tracing();
    let sdk = config::aws().await;
    let catalog = Catalog::embedded()?;
    let store = config::store(&sdk)?;
    let signing = config::signing(&sdk)?;
    api::serve(Function::List, |request, _| {
        ops::list_with_keys(&catalog, &store, &signing, request)
    })
    .await
}
