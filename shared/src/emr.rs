//! The EMR adapter: RunJobFlow, DescribeCluster, ListSteps, DescribeStep and TerminateJobFlows.
//!
//! RunJobFlow sends the rendered request exactly as checked (see [`crate::job_flow`]): EMR's
//! JSON protocol takes the API-shape document as the request body, so the SDK's operation is
//! sent with its body replaced by that document (an interceptor, before signing). The SDK still
//! resolves the endpoint, signs, retries and parses the answer; nothing of the request is lost in
//! a translation to builder calls, and a member EMR adds tomorrow works once the schema has it.

use aws_sdk_emr::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_emr::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_emr::error::BoxError;
use aws_smithy_types::body::SdkBody;

use crate::error::Error;
use crate::job_flow::{FLOW_ID_TAG, JobFlow};
use crate::model::{ClusterId, FlowId, ListedStep, StepFailureDetails, StepId, StepState};

/// The EMR client.
#[derive(Debug, Clone)]
pub struct Emr {
    client: aws_sdk_emr::Client,
}

fn upstream<E>(operation: &'static str) -> impl FnOnce(E) -> Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    Error::upstream("EMR", operation)
}

impl Emr {
    pub fn new(client: aws_sdk_emr::Client) -> Self {
        Self { client }
    }

    /// Launches `request` (from [`crate::render::Rendered::request`]) exactly as it is.
    ///
    /// Errors: [`Error::Upstream`] when EMR refuses the request (the message is EMR's).
    pub async fn run_job_flow(&self, request: &JobFlow) -> Result<ClusterId, Error> {
        let output = self
            .client
            .run_job_flow()
            .customize()
            .interceptor(ExactBody(request.to_body()))
            .send()
            .await
            .map_err(upstream("RunJobFlow"))?;
        let id = output
            .job_flow_id()
            .ok_or_else(|| Error::Internal("RunJobFlow answered no JobFlowId".into()))?;
        ClusterId::parse(id).map_err(Error::Internal)
    }

    /// The flow id a cluster is tagged with ([`FLOW_ID_TAG`]); `None` for a cluster that is no
    /// flow's, including one EMR does not know and one this deployment may not describe (EMR
    /// answers access denied for clusters without the tag, as the template's policy allows only
    /// tagged ones).
    pub async fn tagged_flow_id(&self, cluster_id: &ClusterId) -> Result<Option<FlowId>, Error> {
        let output = match self
            .client
            .describe_cluster()
            .cluster_id(cluster_id.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            // Access denied: untagged, so no flow's. Invalid request: EMR knows no such cluster.
            Err(e)
                if matches!(
                    e.as_service_error().and_then(|e| e.meta().code()),
                    Some("AccessDeniedException" | "InvalidRequestException")
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(upstream("DescribeCluster")(e)),
        };
        let tags = output.cluster().map(|c| c.tags()).unwrap_or_default();
        Ok(tags
            .iter()
            .find(|t| t.key() == Some(FLOW_ID_TAG))
            .and_then(|t| t.value())
            .and_then(|v| FlowId::parse(v).ok()))
    }

    /// The cluster's steps in job-flow order (ListSteps answers newest first).
    pub async fn list_steps(&self, cluster_id: &ClusterId) -> Result<Vec<ListedStep>, Error> {
        let mut pages = self
            .client
            .list_steps()
            .cluster_id(cluster_id.as_str())
            .into_paginator()
            .items()
            .send();
        let mut steps = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = summary.map_err(upstream("ListSteps"))?;
            let (Some(id), Some(status)) = (summary.id(), summary.status()) else {
                continue;
            };
            steps.push(ListedStep {
                id: StepId::parse(id).map_err(Error::Internal)?,
                name: summary.name().unwrap_or_default().to_owned(),
                state: StepState::from(status.state().map(|s| s.as_str()).unwrap_or("").to_owned()),
            });
        }
        steps.reverse();
        Ok(steps)
    }

    /// DescribeStep's `Status.FailureDetails`, when EMR has any.
    pub async fn step_failure_details(
        &self,
        cluster_id: &ClusterId,
        step_id: &StepId,
    ) -> Result<Option<StepFailureDetails>, Error> {
        let output = self
            .client
            .describe_step()
            .cluster_id(cluster_id.as_str())
            .step_id(step_id.as_str())
            .send()
            .await
            .map_err(upstream("DescribeStep"))?;
        Ok(output
            .step()
            .and_then(|s| s.status())
            .and_then(|s| s.failure_details())
            .map(|d| StepFailureDetails {
                reason: d.reason().map(str::to_owned),
                message: d.message().map(str::to_owned),
                log_file: d.log_file().map(str::to_owned),
            }))
    }

    /// Asks EMR to terminate the cluster. Terminating a terminated cluster is not an error.
    pub async fn terminate(&self, cluster_id: &ClusterId) -> Result<(), Error> {
        self.client
            .terminate_job_flows()
            .job_flow_ids(cluster_id.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(upstream("TerminateJobFlows"))
    }
}

/// Replaces the serialized request body with the checked API-shape document.
#[derive(Debug)]
struct ExactBody(Vec<u8>);

impl Intercept for ExactBody {
    fn name(&self) -> &'static str {
        "ExactRunJobFlowBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        request
            .headers_mut()
            .insert("content-length", self.0.len().to_string());
        *request.body_mut() = SdkBody::from(self.0.clone());
        Ok(())
    }
}
