//! terminate: `{"flow_id", "reason"?}` → terminates the flow's cluster. Direct invoke, or
//! `POST /flows/{flow_id}/terminate` through API Gateway.
use emr_flows::api::{self, Function, Startup};
use emr_flows::aws::step_logs::StepLogs;
use emr_flows::{config, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Startup> {
    config::init_tracing();
    let sdk = config::aws().await;
    let services = config::services(&sdk, StepLogs::none())?;
    api::serve(Function::Terminate, |request, _| {
        ops::terminate(&services, request)
    })
    .await
}
