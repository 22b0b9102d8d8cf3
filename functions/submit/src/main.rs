//! submit: `{"flow", "params"?, "callbacks"?}` → `{"flow_id", "cluster_id", "status"}`.
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::{config, definition::Catalog, ops};

#[tokio::main]
async fn main() -> Result<(), Error> {
    config::init_tracing();
    let sdk = config::aws().await;
    let catalog = Catalog::embedded()?;
    let policy = config::callback_policy()?;
    let store = config::store(&sdk)?;
    let emr = config::emr(&sdk);
    run(service_fn(|event: LambdaEvent<Value>| {
        ops::submit(&catalog, &policy, &store, &emr, event.payload)
    }))
    .await
}
