//! on-state-change: EMR "Cluster State Change" and "Step Status Change" events from EventBridge.
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::{config, ops};

#[tokio::main]
async fn main() -> Result<(), Error> {
    config::init_tracing();
    let sdk = config::aws().await;
    let store = config::store(&sdk)?;
    let emr = config::emr(&sdk);
    let dispatcher = config::dispatcher(&sdk)?;
    run(service_fn(|event: LambdaEvent<Value>| {
        ops::on_state_change(&store, &emr, &dispatcher, event.payload)
    }))
    .await
}
