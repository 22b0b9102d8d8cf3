//! list: one flow in full (`{"flow_id"}`), active flows (`{"status": "active"}`) or a
//! definition's history (`{"flow"}`).
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::{config, ops};

#[tokio::main]
async fn main() -> Result<(), Error> {
    config::init_tracing();
    let sdk = config::aws().await;
    let store = config::store(&sdk)?;
    run(service_fn(|event: LambdaEvent<Value>| {
        ops::list(&store, event.payload)
    }))
    .await
}
