//! on-state-change: EMR "Cluster State Change" and "Step Status Change" events from EventBridge,
//! and the reconcile sweep's scheduled tick.
use shared::api::{self, Function, Startup};
use shared::{config, ops};

#[tokio::main]
async fn main() -> Result<(), Startup> {
    config::init_tracing();
    let sdk = config::aws().await;
    let services = config::services(&sdk)?;
    api::serve(Function::OnStateChange, |event, budget| {
        ops::on_state_change(&services, event, budget)
    })
    .await
}
