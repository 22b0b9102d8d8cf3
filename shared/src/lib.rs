//! emr-flows: launch Amazon EMR job flows from named flow definitions, follow them through
//! EMR's state-change events, and call back when they end.
//!
//! # Layout
//! - [`model`]: ids, flow and step states, the flow record and how an outcome is decided.
//!   Pure: no AWS types, no I/O.
//! - [`job_flow`]: the RunJobFlow request in EMR's API shape, checked against EMR's model.
//! - [`definition`]: flow definitions and the catalog embedded from `shared/flows/`.
//! - [`steps`]: step short forms (`spark`, `hive`, …) and the arguments EMR would mangle.
//! - [`render`]: definition + parameters + overrides → the exact request, artifacts and params.
//! - [`callback`]: callback targets, their policy, the document, signing and delivery.
//! - [`events`]: EMR's EventBridge events, parsed.
//! - [`store`]: the DynamoDB flow record store (conditional writes only).
//! - [`emr`]: the EMR adapter (RunJobFlow, ListSteps, DescribeStep, TerminateJobFlows).
//! - [`ops`]: submit, on_state_change, terminate and list, as the functions run them.
//! - [`config`]: environment variables and AWS clients, read once at start-up.
//! - [`error`]: the error every operation returns and how callers see it.
pub mod callback;
pub mod config;
pub mod definition;
pub mod emr;
pub mod error;
pub mod events;
pub mod job_flow;
pub mod logs;
pub mod model;
pub mod ops;
pub mod render;
pub mod steps;
pub mod store;
pub mod template;
