//! emr-flows: launch Amazon EMR job flows from named flow definitions, follow them through
//! EMR's state-change events, and call back when they end.
//!
//! # Layout
//! Floors, from the bottom; a module imports only from its own floor's lower modules and from
//! floors below it, never from a floor above, and no two modules import each other.
//!
//! 1. Pure, no AWS types, no I/O, no clock:
//!    - [`model`]: ids, flow, cluster and step states, callback targets, the flow record
//!      (`model/record.rs`; a job run's part in `model/record/job_run.rs` and
//!      `model/record/eks_job_run.rs`, what both share in `model/record/job_runs.rs`), what it
//!      runs on (`model/target.rs`), EMR Serverless and EMR on EKS job runs' ids, states and
//!      figures (`model/job_run.rs`, `model/eks_job_run.rs`), its deliveries
//!      (`model/delivery.rs`) and the outcome rules (`model/outcome.rs`: one per target).
//!    - [`error`]: the error every operation returns and how callers see it.
//!    - [`catalog`]: flow definitions (`catalog/definition/`: the types, the checks one phase
//!      each, the YAML reader) embedded from `shared/flows/`; templates, step short forms, the
//!      RunJobFlow request in EMR's shape, AddJobFlowSteps' for steps on a long-running cluster
//!      (`catalog/cluster_steps.rs`), the StartJobRun requests in EMR Serverless' and EMR on
//!      EKS' shapes (`catalog/start_job_run.rs`, `catalog/serverless_job_run.rs`,
//!      `catalog/eks_job_run.rs`), and rendering (definition + parameters + overrides →
//!      the exact request). Imports `model` and `error`.
//!    - [`callback`]'s pure half: submit-time policy (`policy.rs`), the address registries
//!      (`address.rs`), masking (`mask.rs`), the document (`document.rs`), Standard Webhooks
//!      signatures (`signature.rs`). Imports `model` and `error`.
//! 2. Adapters, each the only place its SDK's types appear; they import floor 1 only:
//!    - [`store`]: the DynamoDB flow record store (a flow item and one item per step;
//!      conditional writes only; `store/fast.rs` for warm events).
//!    - [`aws`]: one module per AWS service: EMR (`aws/emr.rs`), EMR Serverless
//!      (`aws/emr_serverless.rs`), EMR on EKS (`aws/emr_containers.rs`), a failed step's or
//!      job run's log in S3
//!      (`aws/step_logs.rs`), Secrets Manager (`aws/secrets.rs`), CloudWatch metrics
//!      (`aws/metrics.rs`).
//!    - [`callback`]'s delivering half: the signing material (`keys.rs`) and one attempt to call
//!      one target (`dispatch.rs`, HTTPS and Lambda). Imports `aws::secrets` and
//!      `aws::metrics`.
//! 3. [`services`]: the adapters bundled (`Services`) and the clock operations read.
//! 4. [`targets`]: the run targets behind one seam (what each supplies, what stays shared, how
//!    to add one: `targets/mod.rs`): [`targets::cluster`] (launch, lost launches, events,
//!    facts, repair, cancel, late cause), [`targets::steps`] (steps on a long-running cluster,
//!    each flow owning only its own), [`targets::serverless`] (an EMR Serverless job run) and
//!    [`targets::eks`] (an EMR on EKS job run), the two job-run targets sharing their launch
//!    and cancel ([`targets::job_runs`]).
//!    A target never calls an operation.
//! 5. [`ops`]: one module per operation (submit, the event path, the reconcile sweep,
//!    terminate, list), and the work they share (`follow_up`, `deliveries`, private to `ops`).
//! 6. [`config`]: environment variables and AWS clients, read once at start-up by the binaries.
//! 7. [`api`]: the functions' edge: a direct invoke or an API Gateway HTTP API event onto an
//!    operation's request, its answer or error onto the same document (an HTTP status on the
//!    API), errors logged once; the Lambda runtime loop.
//!
//! The binaries in `functions/` import `api`, `config`, `ops` and what they hand them
//! (`catalog::Catalog`, `aws::step_logs::StepLogs`).
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
