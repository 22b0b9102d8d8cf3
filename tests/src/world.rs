//! A world for the operations' tests: moto (shared by a test binary's tests), a flow table of
//! the test's own, the operations' services on a clock the test moves, and helpers to drive
//! flows with the events of `events/`.

use std::sync::OnceLock;
use std::time::Duration;

use emr_flows::aws::emr::Emr;
use emr_flows::aws::step_logs::StepLogs;
use emr_flows::callback::{CallbackPolicy, Dispatcher, SigningKeys};
use emr_flows::catalog::definition::Catalog;
use emr_flows::error::Error;
use emr_flows::model::{FlowId, FlowRecord};
use emr_flows::ops::{self, Clock, Services, StateChangeOutcome};
use emr_flows::store::FlowStore;
use serde_json::{Value, json};

use crate::proxy::FaultProxy;
use crate::{Moto, TEST_SECRET, TEST_SIGNING_KEY, create_table, event, sdk_for, unique_table};

/// The secrets a world's callback headers may name (moto's account and region).
pub const HEADER_SECRETS: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:emr-flows/callbacks/*";

pub static MOTO: OnceLock<Moto> = OnceLock::new();

pub struct World {
    pub submitter: ops::Submitter,
    pub emr_client: aws_sdk_emr::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The operations' clock: it stands still until a test moves it (hours pass in a moment).
    pub clock: Clock,
    /// The fault proxy the operations reach moto through, in a [`world_behind_proxy`].
    pub proxy: Option<FaultProxy>,
}

/// A world whose operations talk to moto directly.
pub async fn world() -> World {
    let moto = MOTO.get_or_init(Moto::start);
    world_at(&moto.endpoint, None).await
}

/// A world whose operations reach moto through a fault proxy of its own, which serializes
/// every call (so moto stands for DynamoDB's atomic conditional writes) and injects faults.
/// The test's own clients (`emr_client`, `dynamodb`) still go to moto directly.
pub async fn world_behind_proxy() -> World {
    let moto = MOTO.get_or_init(Moto::start);
    let proxy = FaultProxy::start(&moto.endpoint);
    let endpoint = proxy.endpoint.clone();
    world_at(&endpoint, Some(proxy)).await
}

async fn world_at(endpoint: &str, proxy: Option<FaultProxy>) -> World {
    let moto = MOTO.get_or_init(Moto::start);
    let direct = moto.sdk().await;
    let sdk = sdk_for(endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&direct);
    let table = unique_table("flows");
    create_table(&dynamodb, &table).await;
    let emr_client = aws_sdk_emr::Client::new(&direct);
    let clock = Clock::fixed(chrono::Utc::now());
    let services = Services {
        store: FlowStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        emr: Emr::new(aws_sdk_emr::Client::new(&sdk)),
        events: emr_flows::aws::eventbridge::EventBridge::none(),
        emr_serverless: emr_flows::aws::emr_serverless::EmrServerless::for_stack(
            aws_sdk_emrserverless::Client::new(&sdk),
            emr_flows::catalog::job_flow::LOCAL_STACK,
        ),
        emr_containers: emr_flows::aws::emr_containers::EmrContainers::for_stack(
            aws_sdk_emrcontainers::Client::new(&sdk),
            emr_flows::catalog::job_flow::LOCAL_STACK,
        ),
        // Both schemes, as a default deployment signs: v1 with TEST_SECRET, v1a with TEST_SIGNING_KEY.
        dispatcher: Dispatcher::with_signing(
            aws_sdk_lambda::Client::new(&sdk),
            SigningKeys::default()
                .with_secrets(TEST_SECRET)
                .unwrap()
                .with_keys(TEST_SIGNING_KEY)
                .unwrap(),
            true,
        )
        .unwrap()
        .with_header_secrets(
            vec![HEADER_SECRETS.into()],
            emr_flows::aws::secrets::TaggedSecrets::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                emr_flows::aws::secrets::MAX_AGE,
            ),
        ),
        logs: StepLogs::new(aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        )),
        clock: clock.clone(),
    };
    World {
        submitter: ops::Submitter {
            catalog: Catalog::embedded().unwrap(),
            policy: CallbackPolicy {
                allow_local: true,
                lambda_allow: vec!["arn:aws:lambda:*:*:function:processor-*".into()],
                header_secrets: vec![HEADER_SECRETS.into()],
            },
            services,
            region: "us-east-1".into(),
        },
        emr_client,
        dynamodb,
        clock,
        proxy,
    }
}

impl World {
    pub fn svc(&self) -> &Services {
        &self.submitter.services
    }

    /// Makes the record of `flow_id` look as if submit died right after RunJobFlow answered:
    /// `PENDING`, no cluster, no steps (its cluster runs, tagged).
    pub async fn forget_launch(&self, flow_id: FlowId) {
        self.svc()
            .store
            .update(flow_id, |r| {
                r.status = emr_flows::model::FlowStatus::Pending;
                r.cluster_id = None;
                r.steps.clear();
                true
            })
            .await
            .unwrap();
    }

    /// The operations' services as a new container has them (nothing cached), e.g. after a
    /// submit that died before recording its cluster.
    pub fn cold(&self) -> Services {
        Services {
            store: self.svc().store.cold(),
            ..self.svc().clone()
        }
    }

    pub async fn submit(&self, request: Value) -> Result<ops::SubmitResponse, Error> {
        match ops::submit(&self.submitter, request).await? {
            ops::SubmitAnswer::Launched(launched) => Ok(launched),
            ops::SubmitAnswer::DryRun(dry_run) => panic!("a launch answered a dry run: {dry_run:?}"),
        }
    }

    pub async fn send(&self, path: &str, record: &FlowRecord) -> StateChangeOutcome {
        self.try_send(path, record).await.unwrap()
    }

    /// Submits `request`, completes its step and ends its cluster: the flow, its record before
    /// the end, and on-state-change's answer to the end.
    pub async fn run_to_end(
        &self,
        request: Value,
    ) -> (FlowId, FlowRecord, Result<StateChangeOutcome, Error>) {
        let submitted = self.submit(request).await.unwrap();
        let record = self.record(submitted.flow_id).await;
        self.send("lifecycle-success/04-step-COMPLETED.json", &record)
            .await;
        let end = self
            .try_send("lifecycle-success/05-cluster-TERMINATED.json", &record)
            .await;
        (submitted.flow_id, record, end)
    }

    /// Sends an event from `events/` with the flow's cluster and first step ids.
    pub async fn try_send(&self, path: &str, record: &FlowRecord) -> Result<StateChangeOutcome, Error> {
        let (step_id, _) = record.ordered_steps()[0];
        let event = event(
            path,
            record.cluster_id.as_ref().unwrap().as_str(),
            step_id.as_str(),
        );
        ops::on_state_change(self.svc(), event, Duration::from_secs(60)).await
    }

    pub async fn cluster(&self, cluster_id: &str) -> aws_sdk_emr::types::Cluster {
        let described = self
            .emr_client
            .describe_cluster()
            .cluster_id(cluster_id)
            .send()
            .await
            .unwrap();
        described.cluster.expect("DescribeCluster answers the cluster")
    }

    pub async fn record(&self, flow_id: FlowId) -> FlowRecord {
        self.svc().store.get(flow_id).await.unwrap().unwrap().record
    }

    pub async fn item_count(&self) -> i32 {
        let scan = self
            .dynamodb
            .scan()
            .table_name(self.svc().store.table())
            .send()
            .await
            .unwrap();
        scan.count()
    }

    pub async fn active(&self) -> Vec<String> {
        let page = ops::list(
            &self.submitter.catalog,
            &self.svc().store,
            json!({"status": "active"}),
        )
        .await
        .unwrap();
        page["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["flow_id"].as_str().unwrap().to_owned())
            .collect()
    }
}
