//! The AWS service adapters, one module per service; each is the only place its SDK's types
//! appear, and converts between them and the model's.
//!
//! - [`emr`]: EMR (RunJobFlow never retried blindly, DescribeCluster, ListClusters, ListSteps,
//!   DescribeStep, TerminateJobFlows).
//! - [`emr_serverless`]: EMR Serverless (StartJobRun never retried blindly, GetJobRun,
//!   ListJobRuns, CancelJobRun).
//! - [`emr_containers`]: EMR on EKS (StartJobRun never retried blindly, DescribeJobRun,
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
pub mod emr_containers;
pub mod emr_serverless;
pub mod eventbridge;
pub mod metrics;
pub mod once;
pub mod secrets;
pub mod step_logs;

use crate::error::Error;

/// Maps a failed call of `service` (`"EMR"`, `"DynamoDB"`, …) to [`Error::Upstream`] with the
/// service's `code: message`, counting it in the `AwsApiErrors` metric.
pub(crate) fn upstream<E>(service: &'static str, operation: &'static str) -> impl FnOnce(E) -> Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let map = Error::upstream(service, operation);
    move |e| {
        metrics::aws_api_error(service);
        map(e)
    }
}
