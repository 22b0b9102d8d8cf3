//! What a flow runs on: its run target, recorded on the flow record (`target`) and named by the
//! definition section that describes the run. The dispatch to each target's code is
//! [`crate::targets`]; this is only the name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A flow's run target. Stored on the record as its snake_case name (`"cluster"`); records
/// written before targets existed have none and are [`Target::Cluster`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// An EMR cluster of the flow's own, launched with RunJobFlow (definition section
    /// `job_flow`).
    #[default]
    Cluster,
    /// Steps added to a long-running cluster that is not the flow's (AddJobFlowSteps;
    /// definition section `cluster`, with `steps`): the flow owns only its own steps.
    Steps,
    /// A job run on an EMR Serverless application, started with StartJobRun (definition
    /// section `serverless_job_run`).
    ServerlessJobRun,
    /// A job run on an EMR on EKS virtual cluster, started with emr-containers' StartJobRun
    /// (definition section `eks_job_run`).
    EksJobRun,
}

impl Target {
    /// Every target, in the order the definition format lists their sections.
    pub const ALL: [Target; 4] = [
        Target::Cluster,
        Target::Steps,
        Target::ServerlessJobRun,
        Target::EksJobRun,
    ];

    /// The definition section that describes a run on this target (`job_flow`, `cluster`).
    pub fn section(self) -> &'static str {
        match self {
            Self::Cluster => "job_flow",
            Self::Steps => "cluster",
            Self::ServerlessJobRun => "serverless_job_run",
            Self::EksJobRun => "eks_job_run",
        }
    }

    /// The AWS service that runs the target's work, as problems, errors and logs name it
    /// (`EMR`, `EMR Serverless`, `EMR on EKS`).
    pub const fn service(self) -> &'static str {
        match self {
            Self::Cluster | Self::Steps => "EMR",
            Self::ServerlessJobRun => "EMR Serverless",
            Self::EksJobRun => "EMR on EKS",
        }
    }

    /// The name stored on the record and shown in answers (`cluster`, `steps`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Steps => "steps",
            Self::ServerlessJobRun => "serverless_job_run",
            Self::EksJobRun => "eks_job_run",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_by_its_name_and_absent_means_cluster() {
        for target in Target::ALL {
            assert_eq!(serde_json::to_value(target).unwrap(), target.as_str());
            assert_eq!(target.to_string(), target.as_str(), "shown as stored");
        }
        #[derive(Deserialize)]
        struct Old {
            #[serde(default)]
            target: Target,
        }
        let old: Old = serde_json::from_str("{}").unwrap();
        assert_eq!(old.target, Target::Cluster);
        assert!(serde_json::from_str::<Target>("\"serverless\"").is_err());
    }
}
