//! The EMR on EKS adapter (the `emr-containers` API): StartJobRun, DescribeJobRun, ListJobRuns
//! and CancelJobRun.
//!
//! StartJobRun takes a `clientToken` (one per flow, see
//! [`crate::catalog::start_job_run::client_token`]) and every run echoes it; whether and how
//! long the service deduplicates on it is undocumented, and the local stand-in (moto) does not.
//! So the call is never retried blindly: only a throttled request (not applied) is sent again;
//! an unclear failure is [`Start::Unknown`], and the run is then looked for by its token among
//! the virtual cluster's runs ([`EmrContainers::runs_with_token`]).
//!
//! StartJobRun sends the rendered request exactly as checked: the body is replaced by the
//! API-shape document (as for RunJobFlow, see [`crate::aws::emr`]); the SDK still resolves the
//! endpoint, puts `virtualClusterId` in the path, signs and parses the answer.

use aws_sdk_emrcontainers::config::retry::RetryConfig;
use aws_sdk_emrcontainers::error::ProvideErrorMetadata;
use chrono::{DateTime, Utc};

use crate::aws::once::{ExactBody, Sent, Start, send_once};
use crate::aws::upstream;
use crate::catalog::eks_job_run::EksJobRun;
use crate::catalog::job_flow::{FLOW_ID_TAG, STACK_TAG};
use crate::catalog::start_job_run::client_token;
use crate::error::Error;
use crate::model::{EksJobRunFacts, EksJobRunId, EksJobRunState, FlowId, VirtualClusterId};

/// The service as errors and the `AwsApiErrors` metric name it.
const EMR_CONTAINERS: &str = "EMR on EKS";

/// A job run as DescribeJobRun (or ListJobRuns, which lists the same shape) tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct EksJobRunDescription {
    /// State, attempt, `failureReason`, `stateDetails`, times.
    pub facts: EksJobRunFacts,
    /// The flow the run belongs to: its `emr-flows:flow-id` tag, else the flow id in its
    /// `clientToken` (`emr-flows-<flow id>`).
    pub flow_id: Option<FlowId>,
    /// The `emr-flows:stack` tag.
    pub stack: Option<String>,
}

/// The EMR on EKS client.
#[derive(Debug, Clone)]
pub struct EmrContainers {
    client: aws_sdk_emrcontainers::Client,
    stack: String,
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// What a `JobRun` (DescribeJobRun's, or a ListJobRuns item) says, in the model's terms.
fn description(run: &aws_sdk_emrcontainers::types::JobRun) -> EksJobRunDescription {
    let tag = |key: &str| run.tags().and_then(|t| t.get(key)).map(String::as_str);
    let from_token = run
        .client_token()
        .and_then(|t| t.strip_prefix("emr-flows-"))
        .and_then(|id| FlowId::parse(id).ok());
    EksJobRunDescription {
        facts: EksJobRunFacts {
            state: run.state().map(|s| EksJobRunState::from(s.as_str())),
            attempt: run
                .retry_policy_execution()
                .and_then(|r| u32::try_from(r.current_attempt_count()).ok()),
            failure_reason: run.failure_reason().map(|r| r.as_str().to_owned()),
            state_details: run.state_details().map(str::to_owned).filter(|d| !d.is_empty()),
            created_at: time(run.created_at()),
            finished_at: time(run.finished_at()),
        },
        flow_id: tag(FLOW_ID_TAG)
            .and_then(|v| FlowId::parse(v).ok())
            .or(from_token),
        stack: tag(STACK_TAG).map(str::to_owned),
    }
}

/// Whether a failed call means "no such run or virtual cluster here" (or none this deployment
/// may read), not a failure to retry.
fn not_found<E: ProvideErrorMetadata>(e: &aws_sdk_emrcontainers::error::SdkError<E>) -> bool {
    matches!(
        e.as_service_error().and_then(|e| e.code()),
        Some("ResourceNotFoundException" | "AccessDeniedException" | "ValidationException")
    )
}

impl EmrContainers {
    /// EMR on EKS for the stack named `stack` (its runs carry it in [`STACK_TAG`]).
    pub fn for_stack(client: aws_sdk_emrcontainers::Client, stack: impl Into<String>) -> Self {
        Self {
            client,
            stack: stack.into(),
        }
    }

    /// Starts `request` (with its flow's `clientToken`, see
    /// [`EksJobRun::with_client_token`]) exactly as checked; sent again only when throttled.
    pub async fn start_job_run(&self, request: &EksJobRun) -> Start<EksJobRunId> {
        let client_token = request.client_token().unwrap_or_default();
        let sent = send_once(EMR_CONTAINERS, "StartJobRun", || {
            (self.client.start_job_run())
                .virtual_cluster_id(request.virtual_cluster_id().as_str())
                .client_token(client_token)
                .customize()
                .config_override(
                    aws_sdk_emrcontainers::Config::builder().retry_config(RetryConfig::disabled()),
                )
                .interceptor(ExactBody(request.body()))
                .send()
        })
        .await;
        match sent {
            Sent::Answered(output) => match EksJobRunId::parse(output.id().unwrap_or_default()) {
                Ok(id) => Start::Started(id),
                Err(e) => Start::Unknown(format!("StartJobRun answered {e}")),
            },
            Sent::Refused(message) => Start::Refused(message),
            Sent::Unknown(message) => Start::Unknown(message),
        }
    }

    /// DescribeJobRun. `None` for a run the service does not know (or this deployment may not
    /// read).
    ///
    /// Errors: [`Error::Upstream`] for any other failure.
    pub async fn describe_job_run(
        &self,
        virtual_cluster_id: &VirtualClusterId,
        job_run_id: &EksJobRunId,
    ) -> Result<Option<EksJobRunDescription>, Error> {
        let output = match (self.client.describe_job_run())
            .virtual_cluster_id(virtual_cluster_id.as_str())
            .id(job_run_id.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(upstream(EMR_CONTAINERS, "DescribeJobRun")(e)),
        };
        Ok(output.job_run().map(description))
    }

    /// The flow a job run belongs to, with what DescribeJobRun says of it; `None` for a run
    /// that is no flow's here (unknown, neither tagged nor given a flow's token, or tagged by
    /// another stack: logged).
    ///
    /// Errors: [`Error::Upstream`].
    pub async fn flow_of(
        &self,
        virtual_cluster_id: &VirtualClusterId,
        job_run_id: &EksJobRunId,
    ) -> Result<Option<(FlowId, EksJobRunDescription)>, Error> {
        let Some(description) = self.describe_job_run(virtual_cluster_id, job_run_id).await? else {
            return Ok(None);
        };
        if let Some(stack) = description.stack.as_deref()
            && stack != self.stack
        {
            tracing::info!(%job_run_id, stack, "job run of another stack; ignored");
            return Ok(None);
        }
        Ok(description.flow_id.map(|id| (id, description)))
    }

    /// The virtual cluster's job runs started with `flow_id`'s client token, oldest first:
    /// those named `name` created since `created_after` (ListJobRuns filters by name and time;
    /// each item echoes its `clientToken`).
    ///
    /// Errors: [`Error::Upstream`].
    pub async fn runs_with_token(
        &self,
        virtual_cluster_id: &VirtualClusterId,
        flow_id: FlowId,
        name: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Vec<EksJobRunId>, Error> {
        let token = client_token(flow_id);
        let mut pages = (self.client.list_job_runs())
            .virtual_cluster_id(virtual_cluster_id.as_str())
            .name(name)
            .created_after(aws_smithy_types::DateTime::from_secs(created_after.timestamp()))
            .into_paginator()
            .items()
            .send();
        let mut runs = Vec::new();
        while let Some(run) = pages.next().await {
            let run = run.map_err(upstream(EMR_CONTAINERS, "ListJobRuns"))?;
            if run.name() == Some(name)
                && run.client_token() == Some(token.as_str())
                && let Ok(id) = EksJobRunId::parse(run.id().unwrap_or_default())
            {
                runs.push((time(run.created_at()), id));
            }
        }
        runs.sort();
        Ok(runs.into_iter().map(|(_, id)| id).collect())
    }

    /// Asks EMR on EKS to cancel the job run (CancelJobRun).
    ///
    /// Errors: [`Error::Upstream`] with the service's message.
    pub async fn cancel_job_run(
        &self,
        virtual_cluster_id: &VirtualClusterId,
        job_run_id: &EksJobRunId,
    ) -> Result<(), Error> {
        (self.client.cancel_job_run())
            .virtual_cluster_id(virtual_cluster_id.as_str())
            .id(job_run_id.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(upstream(EMR_CONTAINERS, "CancelJobRun"))
    }
}
