//! The EMR adapter: RunJobFlow, ListSteps, DescribeStep and TerminateJobFlows, and the
//! conversion of [`crate::job_flow`]'s API-shape request to the SDK's builders.

use aws_sdk_emr::error::DisplayErrorContext;
use aws_sdk_emr::types as sdk;

use crate::error::Error;
use crate::job_flow::{self as api, JobFlow};
use crate::model::{ClusterId, FlowId, StepFailureDetails, StepId, StepState};

/// The cluster tag that names the flow a cluster belongs to, so an orphan (RunJobFlow succeeded
/// but its answer was lost) can be found.
pub const FLOW_ID_TAG: &str = "emr-flows:flow-id";
/// The cluster tag that names the flow definition.
pub const FLOW_TAG: &str = "emr-flows:flow";

/// A step as EMR lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct EmrStep {
    pub id: StepId,
    pub name: String,
    pub state: StepState,
}

/// The EMR client.
#[derive(Debug, Clone)]
pub struct Emr {
    client: aws_sdk_emr::Client,
}

fn upstream<E>(operation: &'static str) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| Error::Upstream {
        service: "EMR",
        operation,
        message: DisplayErrorContext(e).to_string(),
    }
}

impl Emr {
    pub fn new(client: aws_sdk_emr::Client) -> Self {
        Self { client }
    }

    /// Launches `job_flow`, tagged with the flow id and definition name.
    ///
    /// Errors: [`Error::Upstream`] when EMR refuses the request (the message is EMR's).
    pub async fn run_job_flow(
        &self,
        job_flow: &JobFlow,
        flow_id: FlowId,
        flow: &str,
    ) -> Result<ClusterId, Error> {
        let mut tags: Vec<_> = job_flow.tags.iter().map(|t| tag(&t.key, &t.value)).collect();
        tags.push(tag(FLOW_ID_TAG, &flow_id.to_string()));
        tags.push(tag(FLOW_TAG, flow));
        let output = run_job_flow_request(&self.client, job_flow)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(upstream("RunJobFlow"))?;
        let id = output
            .job_flow_id()
            .ok_or_else(|| Error::Internal("RunJobFlow answered no JobFlowId".into()))?;
        ClusterId::parse(id).map_err(Error::Internal)
    }

    /// The cluster's steps in job-flow order (ListSteps answers newest first).
    pub async fn list_steps(&self, cluster_id: &ClusterId) -> Result<Vec<EmrStep>, Error> {
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
            steps.push(EmrStep {
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

fn tag(key: &str, value: &str) -> sdk::Tag {
    sdk::Tag::builder().key(key).value(value).build()
}

/// The SDK request for `job_flow`, tags aside (the caller adds them).
fn run_job_flow_request(
    client: &aws_sdk_emr::Client,
    j: &JobFlow,
) -> aws_sdk_emr::operation::run_job_flow::builders::RunJobFlowFluentBuilder {
    client
        .run_job_flow()
        .name(&j.name)
        .set_log_uri(j.log_uri.clone())
        .set_release_label(j.release_label.clone())
        .set_applications(Some(j.applications.iter().map(application).collect()))
        .set_configurations(Some(j.configurations.iter().map(configuration).collect()))
        .instances(instances(&j.instances))
        .set_bootstrap_actions(Some(j.bootstrap_actions.iter().map(bootstrap_action).collect()))
        .set_steps(Some(j.steps.iter().map(step).collect()))
        .set_service_role(j.service_role.clone())
        .set_job_flow_role(j.job_flow_role.clone())
        .set_security_configuration(j.security_configuration.clone())
        .set_visible_to_all_users(j.visible_to_all_users)
        .set_step_concurrency_level(j.step_concurrency_level)
        .set_ebs_root_volume_size(j.ebs_root_volume_size)
        .set_auto_termination_policy(j.auto_termination_policy.as_ref().map(|p| {
            sdk::AutoTerminationPolicy::builder()
                .idle_timeout(p.idle_timeout)
                .build()
        }))
}

fn application(a: &api::Application) -> sdk::Application {
    sdk::Application::builder()
        .name(&a.name)
        .set_version(a.version.clone())
        .set_args((!a.args.is_empty()).then(|| a.args.clone()))
        .build()
}

fn configuration(c: &api::Configuration) -> sdk::Configuration {
    sdk::Configuration::builder()
        .classification(&c.classification)
        .set_properties((!c.properties.is_empty()).then(|| c.properties.clone().into_iter().collect()))
        .set_configurations(
            (!c.configurations.is_empty()).then(|| c.configurations.iter().map(configuration).collect()),
        )
        .build()
}

fn instances(i: &api::Instances) -> sdk::JobFlowInstancesConfig {
    sdk::JobFlowInstancesConfig::builder()
        .set_instance_groups(Some(i.instance_groups.iter().map(instance_group).collect()))
        .set_ec2_key_name(i.ec2_key_name.clone())
        .set_ec2_subnet_id(i.ec2_subnet_id.clone())
        .set_emr_managed_master_security_group(i.emr_managed_master_security_group.clone())
        .set_emr_managed_slave_security_group(i.emr_managed_slave_security_group.clone())
        .set_service_access_security_group(i.service_access_security_group.clone())
        .set_keep_job_flow_alive_when_no_steps(i.keep_job_flow_alive_when_no_steps)
        .set_termination_protected(i.termination_protected)
        .build()
}

fn instance_group(g: &api::InstanceGroup) -> sdk::InstanceGroupConfig {
    sdk::InstanceGroupConfig::builder()
        .set_name(g.name.clone())
        .set_market(g.market.as_deref().map(sdk::MarketType::from))
        .instance_role(sdk::InstanceRoleType::from(g.instance_role.as_str()))
        .set_bid_price(g.bid_price.clone())
        .instance_type(&g.instance_type)
        .instance_count(g.instance_count)
        .build()
}

fn bootstrap_action(b: &api::BootstrapAction) -> sdk::BootstrapActionConfig {
    sdk::BootstrapActionConfig::builder()
        .name(&b.name)
        .script_bootstrap_action(
            sdk::ScriptBootstrapActionConfig::builder()
                .path(&b.script_bootstrap_action.path)
                .set_args(Some(b.script_bootstrap_action.args.clone()))
                .build(),
        )
        .build()
}

fn step(s: &api::StepConfig) -> sdk::StepConfig {
    let jar = &s.hadoop_jar_step;
    sdk::StepConfig::builder()
        .name(&s.name)
        .set_action_on_failure(s.action_on_failure.as_deref().map(sdk::ActionOnFailure::from))
        .hadoop_jar_step(
            sdk::HadoopJarStepConfig::builder()
                .jar(&jar.jar)
                .set_main_class(jar.main_class.clone())
                .set_args(Some(jar.args.clone()))
                .set_properties(Some(
                    jar.properties
                        .iter()
                        .map(|p| sdk::KeyValue::builder().key(&p.key).value(&p.value).build())
                        .collect(),
                ))
                .build(),
        )
        .build()
}
