//! The EMR Serverless adapter: StartJobRun, GetJobRun, ListJobRuns and CancelJobRun.
//!
//! StartJobRun takes a `clientToken` (one per flow, see
//! [`crate::catalog::serverless_job_run::client_token`]); the service deduplicates on it, but
//! for how long is undocumented, and the local stand-in (moto) does not deduplicate at all. So
//! the call is never retried blindly, as RunJobFlow is not: only a throttled request (not
//! applied) is sent again; an unclear failure is [`Start::Unknown`], and the run is then looked
//! for by the flow-id tag it carries ([`EmrServerless::tagged_job_runs`]).
//!
//! StartJobRun sends the rendered request exactly as checked: the body is replaced by the
//! API-shape document (as for RunJobFlow, see [`crate::aws::emr`]); the SDK still resolves the
//! endpoint, puts `applicationId` in the path, signs and parses the answer.

use aws_sdk_emrserverless::config::retry::RetryConfig;
use chrono::{DateTime, Utc};

pub use crate::aws::once::Start;
use crate::aws::once::{ExactBody, Sent, send_once};
use crate::aws::upstream;
use crate::catalog::job_flow::{FLOW_ID_TAG, STACK_TAG};
use crate::catalog::serverless_job_run::ServerlessJobRun;
use crate::error::Error;
use crate::model::{ApplicationId, FlowId, JobRunFacts, JobRunId, JobRunState, ResourceUtilization};

/// The service as errors and the `AwsApiErrors` metric name it.
const EMR_SERVERLESS: &str = "EMR Serverless";

/// A job run as GetJobRun tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRunDescription {
    /// State, `stateDetails`, attempt, billed resources (never marked final: the last
    /// utilization event is), timeout and times.
    pub facts: JobRunFacts,
    /// The `emr-flows:flow-id` tag, when present and a flow id.
    pub flow_id: Option<FlowId>,
    /// The `emr-flows:stack` tag.
    pub stack: Option<String>,
    /// `configurationOverrides.monitoringConfiguration.s3MonitoringConfiguration.logUri`.
    pub log_uri: Option<String>,
}

/// The EMR Serverless client.
#[derive(Debug, Clone)]
pub struct EmrServerless {
    client: aws_sdk_emrserverless::Client,
    stack: String,
}

fn time(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

impl EmrServerless {
    /// EMR Serverless for the stack named `stack` (its runs carry it in [`STACK_TAG`]).
    pub fn for_stack(client: aws_sdk_emrserverless::Client, stack: impl Into<String>) -> Self {
        Self {
            client,
            stack: stack.into(),
        }
    }

    /// Starts `request` (with its flow's `clientToken`, see
    /// [`ServerlessJobRun::with_client_token`]) exactly as checked; sent again only when
    /// throttled.
    pub async fn start_job_run(&self, request: &ServerlessJobRun) -> Start<JobRunId> {
        let client_token = request.client_token().unwrap_or_default();
        let sent = send_once("EMR Serverless", "StartJobRun", || {
            (self.client.start_job_run())
                .application_id(request.application_id().as_str())
                .execution_role_arn(request.execution_role_arn())
                .client_token(client_token)
                .customize()
                .config_override(
                    aws_sdk_emrserverless::Config::builder().retry_config(RetryConfig::disabled()),
                )
                .interceptor(ExactBody(request.body()))
                .send()
        })
        .await;
        match sent {
            Sent::Answered(output) => match JobRunId::parse(output.job_run_id()) {
                Ok(id) => Start::Started(id),
                Err(e) => Start::Unknown(format!("StartJobRun answered {e}")),
            },
            Sent::Refused(message) => Start::Refused(message),
            Sent::Unknown(message) => Start::Unknown(message),
        }
    }

    /// GetJobRun. `None` for a run the service does not know (or this deployment may not read).
    ///
    /// Errors: [`Error::Upstream`] for any other failure.
    pub async fn get_job_run(
        &self,
        application_id: &ApplicationId,
        job_run_id: &JobRunId,
    ) -> Result<Option<JobRunDescription>, Error> {
        let output = match self
            .client
            .get_job_run()
            .application_id(application_id.as_str())
            .job_run_id(job_run_id.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if matches!(
                    e.as_service_error().and_then(|e| e.meta().code()),
                    Some("ResourceNotFoundException" | "AccessDeniedException" | "ValidationException")
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(upstream(EMR_SERVERLESS, "GetJobRun")(e)),
        };
        let Some(run) = output.job_run() else {
            return Ok(None);
        };
        let state = JobRunState::from(run.state().as_str());
        let billed = run.billed_resource_utilization().map(|u| ResourceUtilization {
            vcpu_hour: u.v_cpu_hour().unwrap_or_default(),
            memory_gb_hour: u.memory_gb_hour().unwrap_or_default(),
            storage_gb_hour: u.storage_gb_hour().unwrap_or_default(),
        });
        let facts = JobRunFacts {
            attempt: run.attempt().and_then(|a| u32::try_from(a).ok()),
            state_details: Some(run.state_details().to_owned()).filter(|d| !d.is_empty()),
            // Only the last utilization event is final: GetJobRun's figure fills in until then.
            billed_final: false,
            billed,
            execution_timeout_minutes: run
                .execution_timeout_minutes()
                .and_then(|m| u64::try_from(m).ok()),
            created_at: time(run.created_at()),
            updated_at: time(run.updated_at()),
            state: Some(state),
        };
        let tag = |key: &str| run.tags().and_then(|t| t.get(key)).map(String::as_str);
        let log_uri = run
            .configuration_overrides()
            .and_then(|c| c.monitoring_configuration())
            .and_then(|m| m.s3_monitoring_configuration())
            .and_then(|s| s.log_uri())
            .map(str::to_owned);
        Ok(Some(JobRunDescription {
            facts,
            flow_id: tag(FLOW_ID_TAG).and_then(|v| FlowId::parse(v).ok()),
            stack: tag(STACK_TAG).map(str::to_owned),
            log_uri,
        }))
    }

    /// The flow id a job run is tagged with; `None` for a run that is no flow's here (unknown,
    /// untagged, or tagged by another stack: logged).
    ///
    /// Errors: [`Error::Upstream`].
    pub async fn tagged_flow_id(
        &self,
        application_id: &ApplicationId,
        job_run_id: &JobRunId,
    ) -> Result<Option<(FlowId, JobRunDescription)>, Error> {
        let Some(description) = self.get_job_run(application_id, job_run_id).await? else {
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

    /// The application's job runs carrying `flow_id`'s tag, oldest first: those named `name`
    /// created since `created_after` (ListJobRuns has no tag or token filter), confirmed by
    /// their tag (GetJobRun).
    ///
    /// Errors: [`Error::Upstream`].
    pub async fn tagged_job_runs(
        &self,
        application_id: &ApplicationId,
        flow_id: FlowId,
        name: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Vec<JobRunId>, Error> {
        let mut pages = self
            .client
            .list_job_runs()
            .application_id(application_id.as_str())
            .created_at_after(aws_smithy_types::DateTime::from_secs(created_after.timestamp()))
            .into_paginator()
            .items()
            .send();
        let mut candidates = Vec::new();
        while let Some(summary) = pages.next().await {
            let summary = match summary {
                Ok(summary) => summary,
                // No such application: no run of the flow's there (moto also answers so for an
                // application that has no runs yet).
                Err(e)
                    if e.as_service_error().and_then(|e| e.meta().code())
                        == Some("ResourceNotFoundException") =>
                {
                    break;
                }
                Err(e) => return Err(upstream(EMR_SERVERLESS, "ListJobRuns")(e)),
            };
            if summary.name() == Some(name)
                && let Ok(id) = JobRunId::parse(summary.id())
            {
                candidates.push((summary.created_at().as_nanos(), id));
            }
        }
        candidates.sort();
        let mut tagged = Vec::new();
        for (_, id) in candidates {
            let description = self.get_job_run(application_id, &id).await?;
            if description.and_then(|d| d.flow_id) == Some(flow_id) {
                tagged.push(id);
            }
        }
        Ok(tagged)
    }

    /// Asks EMR Serverless to cancel the job run (CancelJobRun; idempotent on the service),
    /// giving the job `grace_seconds` to shut down (`shutdownGracePeriodInSeconds`; `None`: the
    /// service's default, at once for a batch job).
    ///
    /// Errors: [`Error::Upstream`] with the service's message.
    pub async fn cancel_job_run(
        &self,
        application_id: &ApplicationId,
        job_run_id: &JobRunId,
        grace_seconds: Option<u32>,
    ) -> Result<(), Error> {
        self.client
            .cancel_job_run()
            .application_id(application_id.as_str())
            .job_run_id(job_run_id.as_str())
            .set_shutdown_grace_period_in_seconds(grace_seconds.and_then(|s| i32::try_from(s).ok()))
            .send()
            .await
            .map(|_| ())
            .map_err(upstream(EMR_SERVERLESS, "CancelJobRun"))
    }
}
