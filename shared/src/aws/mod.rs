//! The AWS service adapters, one module per service; each is the only place its SDK's types
//! appear, and converts between them and the model's.
//!
//! - [`emr`]: EMR (RunJobFlow never retried blindly, DescribeCluster, ListClusters, ListSteps,
//!   DescribeStep, TerminateJobFlows).
//! - [`emr_serverless`]: EMR Serverless (StartJobRun never retried blindly, GetJobRun,
//!   ListJobRuns, CancelJobRun).
//! - [`step_logs`]: a failed step's `stderr.gz` in S3.
//! - [`eventbridge`]: flow events (`Flow Status Change`) published with PutEvents.
//! - [`secrets`]: Secrets Manager: the callback signing secrets and keys, and header values
//!   named by reference with their tags, cached with a bounded age.
//! - [`once`]: the calls that start a run, sent as checked and again only when throttled.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines (flows ended, deliveries given up,
//!   event lag, AWS API errors) behind plain functions.
//!
//! DynamoDB has a floor of its own ([`crate::store`]); so do callbacks ([`crate::callback`]),
//! whose dispatch calls Lambda and HTTPS endpoints.

pub mod emr;
pub mod emr_serverless;
pub mod eventbridge;
pub mod metrics;
pub mod once;
pub mod secrets;
pub mod step_logs;
