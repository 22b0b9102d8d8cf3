//! The catalog: flow definitions and everything that turns one into the exact request a run
//! target takes. Pure: no AWS types, no I/O, no clock.
//!
//! - [`definition`]: a flow definition (YAML), checked whole, and the catalog embedded from
//!   `shared/flows/` at build time.
//! - [`template`]: the one template marker, the MiniJinja environment, the built-ins.
//! - [`steps`]: step short forms (`spark`, `hive`, …) and the arguments EMR would mangle.
//! - [`job_flow`]: the RunJobFlow request in EMR's API shape, checked against EMR's model.
//! - [`cluster_steps`]: the `cluster` section with its `steps`: AddJobFlowSteps' request for
//!   steps on a long-running cluster, each step marked with its flow.
//! - [`serverless_job_run`]: the EMR Serverless StartJobRun request in its API shape, checked
//!   against EMR Serverless' model.
//! - [`eks_job_run`]: the EMR on EKS StartJobRun request in its API shape, checked against
//!   emr-containers' model.
//! - [`start_job_run`]: what the two job-run services' StartJobRun requests share.
//! - [`render`]: definition + parameters + overrides → the exact request, artifacts, params.

pub mod cluster_steps;
pub mod definition;
pub mod eks_job_run;
pub mod job_flow;
pub mod render;
pub mod serverless_job_run;
pub mod start_job_run;
pub mod steps;
pub mod template;

pub use definition::Catalog;
