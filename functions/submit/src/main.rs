//! submit: `{"flow", "params"?, "callbacks"?, "overrides"?, "idempotency_key"?, "max_runtime"?,
//! "dry_run"?}` → `{"flow_id", "cluster_id", "status"}` (or, for a dry run, the rendered request).
//! Direct invoke, or `POST /flows` through API Gateway.
use emr_flows::api::{self, Function, Startup};
use emr_flows::aws::step_logs::StepLogs;
use emr_flows::catalog::Catalog;
use emr_flows::{config, ops};

// Lambda hands a process one invocation at a time: one thread runs it (no worker threads
// with their stacks and allocator arenas; see README, "Benchmark").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Startup> {
    config::init_tracing();
    let sdk = config::aws().await;
    let submitter = ops::Submitter {
        catalog: Catalog::embedded()?,
        policy: config::callback_policy()?,
        services: config::services(&sdk, StepLogs::none())?,
        region: config::region(&sdk)?,
    };
    api::serve(Function::Submit, |request, _| ops::submit(&submitter, request)).await
}
