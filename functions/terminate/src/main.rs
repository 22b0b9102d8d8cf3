//! terminate: `{"flow_id", "reason"?}` → terminates the flow's cluster. Direct invoke, or
//! `POST /flows/{flow_id}/terminate` through API Gateway.
use shared::api::{self, Function, Startup};
use shared::{config, ops};

#[tokio::main]
async fn main() -> Result<(), Startup> {
    config::init_tracing();
    let sdk = config::aws().await;
    let services = config::services(&sdk)?;
    api::serve(Function::Terminate, |request, _| {
        ops::terminate(&services, request)
    })
    .await
}
