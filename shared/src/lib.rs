//! emr-flows: launch Amazon EMR job flows from named flow definitions, follow them through
//! EMR's state-change events, and call back when they end.
//!
//! # Layout
//! Floors, from the bottom; a module imports only from floors below it.
//!
//! 1. Pure, no AWS types, no I/O, no clock:
//!    - [`model`]: ids, flow, cluster and step states, callback targets, the flow record, its
//!      deliveries, and the outcome rule (`model::outcome`).
//!    - [`error`]: the error every operation returns and how callers see it.
//!    - [`template`]: the one template marker, the MiniJinja environment, the built-ins.
//!    - [`events`]: EMR's EventBridge events and the sweep's tick, parsed.
//!    - [`steps`]: step short forms (`spark`, `hive`, …) and the arguments EMR would mangle.
//!    - [`job_flow`]: the RunJobFlow request in EMR's API shape, checked against EMR's model.
//!    - [`definition`]: flow definitions and the catalog embedded from `shared/flows/`, checked
//!      whole when the catalog is built.
//!    - [`render`]: definition + parameters + overrides → the exact request, artifacts, params.
//!    - [`signing`]: Standard Webhooks signatures, `v1` (HMAC-SHA256) and `v1a` (ed25519):
//!      keys parsed, messages signed, public keys derived.
//! 2. Adapters, each the only place its SDK's types appear:
//!    - [`store`]: the DynamoDB flow record store (a flow item and one item per step;
//!      conditional writes only; `store::fast` for warm events).
//!    - [`emr`]: EMR (RunJobFlow never retried blindly, DescribeCluster, ListClusters,
//!      ListSteps, DescribeStep, TerminateJobFlows).
//!    - [`logs`]: a failed step's `stderr.gz` in S3.
//!    - [`callback`]: callback policy (checked at submit), the document, signing, delivery.
//!    - [`metrics`]: CloudWatch Embedded Metric Format lines (flows ended, deliveries given up,
//!      event lag, AWS API errors) behind plain functions.
//!    - [`secrets`]: Secrets Manager: the callback signing secrets and keys, and header values
//!      named by reference with their tags, cached with a bounded age.
//! 3. [`ops`]: one module per operation (submit, the event path, the reconcile sweep,
//!    deliveries, terminate, list) over the adapters.
//! 4. [`config`]: environment variables and AWS clients, read once at start-up by the binaries.
//! 5. [`api`]: the functions' edge: a direct invoke or an API Gateway HTTP API event onto an
//!    operation's request, its answer or error onto the same document (an HTTP status on the
//!    API), errors logged once; the Lambda runtime loop.
pub mod api;
pub mod aws;
pub mod callback;
pub mod catalog;
pub mod config;
pub mod error;
pub mod model;
pub mod ops;
pub mod services;
pub mod store;
pub mod targets;
