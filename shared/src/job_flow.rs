//! The RunJobFlow request in EMR's own API shape (PascalCase keys, as in the EMR API reference,
//! `aws emr run-job-flow --cli-input-json`, Airflow's `job_flow_overrides` and Step Functions'
//! `createCluster`), so users paste what they already have.
//!
//! Every struct denies unknown keys: a misspelled key is an error naming its path, never dropped.
//! Numbers and booleans also accept a string holding one (`"3"`, `"true"`), because a rendered
//! template is a string. Conversion to the SDK's builders lives in [`crate::emr`], not here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::{DisplayFromStr, PickFirst, serde_as};

/// `RunJobFlowInput`, the fields emr-flows maps to the SDK.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct JobFlow {
    /// The cluster's name (EMR allows up to 256 characters).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<Application>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configurations: Vec<Configuration>,
    pub instances: Instances,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_actions: Vec<BootstrapAction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_flow_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_configuration: Option<String>,
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_to_all_users: Option<bool>,
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_concurrency_level: Option<i32>,
    /// Gibibytes.
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs_root_volume_size: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_termination_policy: Option<AutoTerminationPolicy>,
}

/// `Application`: a big-data application to install (`Spark`, `Hive`, …).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// `Configuration`: a classification and its properties, nested to any depth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Configuration {
    pub classification: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configurations: Vec<Configuration>,
}

/// `JobFlowInstancesConfig`.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Instances {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_groups: Vec<InstanceGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_key_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr_managed_master_security_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emr_managed_slave_security_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_access_security_group: Option<String>,
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_job_flow_alive_when_no_steps: Option<bool>,
    #[serde_as(as = "Option<PickFirst<(_, DisplayFromStr)>>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_protected: Option<bool>,
}

/// `InstanceGroupConfig`.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InstanceGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ON_DEMAND` or `SPOT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<String>,
    /// `MASTER`, `CORE` or `TASK`.
    pub instance_role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_price: Option<String>,
    pub instance_type: String,
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub instance_count: i32,
}

/// `BootstrapActionConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BootstrapAction {
    pub name: String,
    pub script_bootstrap_action: ScriptBootstrapAction,
}

/// `ScriptBootstrapActionConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScriptBootstrapAction {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// `StepConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StepConfig {
    pub name: String,
    /// `TERMINATE_JOB_FLOW`, `TERMINATE_CLUSTER`, `CANCEL_AND_WAIT` or `CONTINUE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_on_failure: Option<String>,
    pub hadoop_jar_step: HadoopJarStep,
}

/// `HadoopJarStepConfig`: a JAR (often `command-runner.jar`) and its arguments, passed as a list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct HadoopJarStep {
    pub jar: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_class: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<KeyValue>,
}

/// `KeyValue` (a Java property of a `HadoopJarStep`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `Tag`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `AutoTerminationPolicy`.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AutoTerminationPolicy {
    /// Seconds idle before the cluster terminates (60 to 604800).
    #[serde_as(as = "PickFirst<(_, DisplayFromStr)>")]
    pub idle_timeout: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_airflow_example_job_flow_parses_unchanged() {
        let text = include_str!("../../events/real/jobflows/airflow-example-pi.json");
        let job_flow: JobFlow = serde_json::from_str(text).unwrap();
        assert_eq!(job_flow.name, "PiCalc");
        assert_eq!(job_flow.instances.instance_groups[0].instance_count, 1);
        assert_eq!(job_flow.steps[0].hadoop_jar_step.args[1], "SparkPi");
        // And writes back to the same JSON: nothing is dropped.
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_value(&job_flow).unwrap(), original);
    }

    #[test]
    fn a_misspelled_key_is_an_error_naming_its_path() {
        let text = r#"{"Name": "x", "Instances": {"InstanceGroups": [
            {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCont": 1}]}}"#;
        let de = &mut serde_json::Deserializer::from_str(text);
        let err = serde_path_to_error::deserialize::<_, JobFlow>(de).unwrap_err();
        assert_eq!(err.path().to_string(), "Instances.InstanceGroups[0].InstanceCont");
        assert!(err.inner().to_string().contains("unknown field `InstanceCont`"));
    }

    #[test]
    fn numbers_and_booleans_accept_rendered_strings() {
        let text = r#"{"Name": "x", "VisibleToAllUsers": "true", "Instances": {"InstanceGroups": [
            {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": "3"}]}}"#;
        let job_flow: JobFlow = serde_json::from_str(text).unwrap();
        assert_eq!(job_flow.instances.instance_groups[0].instance_count, 3);
        assert_eq!(job_flow.visible_to_all_users, Some(true));
    }
}
