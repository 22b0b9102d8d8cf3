//! The functions' edge (`emr_flows::api`) against the local stand-ins: every HTTP API route driven
//! with the API Gateway samples in `events/api/`, each error kind at its status, and no callback
//! secret in any answer or log line. One process-wide log subscriber (the functions' own JSON
//! format) captures every log line of the test binary (every module's, see `main.rs`), so the
//! logs are grepped as CloudWatch would hold them.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use emr_flows::api::{self, Function};
use emr_flows::aws::emr::Emr;
use emr_flows::aws::secrets::TaggedSecrets;
use emr_flows::aws::step_logs::StepLogs;
use emr_flows::callback::{CallbackPolicy, Dispatcher, HOST_TAG, SigningKeys};
use emr_flows::catalog::definition::Catalog;
use emr_flows::model::{FlowId, FlowRecord};
use emr_flows::ops::{self, Clock, Services};
use emr_flows::store::FlowStore;
use integration_tests::{
    Moto, Receiver, TEST_PUBLIC_KEY, TEST_SECRET, TEST_SIGNING_KEY, create_table, event, root, unique_table,
};
use serde_json::{Value, json};

static MOTO: OnceLock<Moto> = OnceLock::new();
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Every log line written so far in the test binary (by any module), as the functions write them.
fn logs() -> String {
    let buffer = LOGS.get().expect("the subscriber is installed by world()");
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct World {
    submitter: ops::Submitter,
    dynamodb: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

/// The secrets callback headers may name here (moto's account and region).
const HEADER_SECRETS: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:emr-flows/callbacks/*";

/// Signs as a default deployment: `v1` with [`TEST_SECRET`], `v1a` with [`TEST_SIGNING_KEY`].
fn signing() -> SigningKeys {
    SigningKeys::default()
        .with_secrets(TEST_SECRET)
        .unwrap()
        .with_keys(TEST_SIGNING_KEY)
        .unwrap()
}

async fn world() -> World {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Captured(buffer.clone());
        tracing::subscriber::set_global_default(emr_flows::config::log_subscriber(move || writer.clone()))
            .expect("no other subscriber in this test binary");
        buffer
    });
    let moto = MOTO.get_or_init(Moto::start);
    let sdk = moto.sdk().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique_table("api");
    create_table(&dynamodb, &table).await;
    World {
        submitter: ops::Submitter {
            catalog: Catalog::embedded().unwrap(),
            policy: CallbackPolicy {
                allow_local: true,
                lambda_allow: vec![],
                header_secrets: vec![HEADER_SECRETS.into()],
            },
            services: Services {
                store: FlowStore::new(dynamodb.clone(), table),
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
                dispatcher: Dispatcher::with_signing(aws_sdk_lambda::Client::new(&sdk), signing(), true)
                    .unwrap()
                    .with_header_secrets(
                        vec![HEADER_SECRETS.into()],
                        TaggedSecrets::new(
                            aws_sdk_secretsmanager::Client::new(&sdk),
                            emr_flows::aws::secrets::MAX_AGE,
                        ),
                    ),
                logs: StepLogs::new(aws_sdk_s3::Client::new(&sdk)),
                clock: Clock::fixed(chrono::Utc::now()),
            },
            region: "us-east-1".into(),
        },
        dynamodb,
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
    }
}

/// An API Gateway sample from `events/api/`, its example flow id replaced by `flow_id`.
fn api_event(name: &str, flow_id: &str) -> Value {
    let text = std::fs::read_to_string(root().join("events/api").join(name)).unwrap();
    serde_json::from_str(&text.replace("01JDQ3V4X8M6Z0B1C2D3E4F5G6", flow_id)).unwrap()
}

/// `event` with its body replaced by `body` (JSON text).
fn with_body(mut event: Value, body: &str) -> Value {
    event["body"] = json!(body);
    event
}

const BUDGET: Duration = Duration::from_secs(60);

impl World {
    fn svc(&self) -> &Services {
        &self.submitter.services
    }

    /// Invokes `function` as its binary does: `(status, document)` for an API event.
    async fn http(&self, function: Function, event: Value) -> (u16, Value) {
        let answer = self
            .invoke(function, event)
            .await
            .expect("API events are always answered");
        let status = answer["statusCode"].as_u64().unwrap() as u16;
        (
            status,
            serde_json::from_str(answer["body"].as_str().unwrap()).unwrap(),
        )
    }

    /// Invokes `function` as its binary does, with any payload.
    async fn invoke(&self, function: Function, payload: Value) -> Result<Value, emr_flows::error::Error> {
        let svc = self.svc();
        let catalog = &self.submitter.catalog;
        match function {
            Function::Submit => {
                api::handle(function, payload, BUDGET, |r, _| ops::submit(&self.submitter, r)).await
            }
            Function::List => {
                let signing = svc.dispatcher.signing();
                api::handle(function, payload, BUDGET, |r, _| {
                    ops::list_with_keys(catalog, &svc.store, signing, r)
                })
                .await
            }
            Function::Terminate => {
                api::handle(function, payload, BUDGET, |r, _| ops::terminate(svc, r)).await
            }
            Function::OnStateChange => {
                api::handle(function, payload, BUDGET, |r, b| ops::on_state_change(svc, r, b)).await
            }
        }
    }

    async fn record(&self, flow_id: &str) -> FlowRecord {
        let flow_id: FlowId = serde_json::from_value(json!(flow_id)).unwrap();
        self.svc().store.get(flow_id).await.unwrap().unwrap().record
    }

    /// Sends the lifecycle event at `path` for `flow_id`'s cluster and first step.
    async fn send(&self, path: &str, flow_id: &str) -> Result<Value, emr_flows::error::Error> {
        let record = self.record(flow_id).await;
        let (step_id, _) = record.ordered_steps()[0];
        let event = event(
            path,
            record.cluster_id.as_ref().unwrap().as_str(),
            step_id.as_str(),
        );
        self.invoke(Function::OnStateChange, event).await
    }
}

#[tokio::test]
async fn every_route_answers_through_api_gateway_events() {
    let w = world().await;
    // GIVEN the submit sample WHEN it is posted THEN 200 with submit's own answer
    let (status, submitted) = w.http(Function::Submit, api_event("submit.json", "")).await;
    assert_eq!(status, 200, "{submitted}");
    assert_eq!(submitted["status"], "STARTING");
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    assert!(submitted["cluster_id"].as_str().unwrap().starts_with("j-"));

    // WHEN the flow is read THEN the document is list's, the same as a direct invoke answers
    let (status, record) = w.http(Function::List, api_event("get-flow.json", &flow_id)).await;
    assert_eq!(status, 200, "{record}");
    let direct = w
        .invoke(Function::List, json!({ "flow_id": flow_id }))
        .await
        .unwrap();
    assert_eq!(record, direct);
    assert_eq!(record["flow"], "spark-pi");

    // AND the active flows and the definition's history list it
    for sample in ["list-active.json", "list-history.json"] {
        let (status, page) = w.http(Function::List, api_event(sample, "")).await;
        assert_eq!(status, 200, "{sample}: {page}");
        let ids: Vec<_> = page["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["flow_id"].clone())
            .collect();
        assert!(ids.contains(&json!(flow_id)), "{sample}: {page}");
    }

    // AND the catalog is listed
    let (status, catalog) = w
        .http(Function::List, api_event("list-definitions.json", ""))
        .await;
    assert_eq!(status, 200);
    let names: Vec<_> = catalog["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert!(names.contains(&json!("spark-pi")), "{catalog}");

    // AND the signature schemes and the public key receivers verify v1a with are answered,
    // the same as a direct invoke answers them
    let (status, keys) = w.http(Function::List, api_event("signing-keys.json", "")).await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(
        keys,
        json!({"signatures": ["v1", "v1a"], "public_keys": [TEST_PUBLIC_KEY]})
    );
    let direct = w
        .invoke(Function::List, json!({"signing_keys": true}))
        .await
        .unwrap();
    assert_eq!(keys, direct);
    assert!(
        !keys
            .to_string()
            .contains(TEST_SIGNING_KEY.trim_start_matches("whsk_"))
    );

    // WHEN the flow is terminated through its route THEN terminate's answer, with the request
    let (status, terminated) = w
        .http(Function::Terminate, api_event("terminate.json", &flow_id))
        .await;
    assert_eq!(status, 200, "{terminated}");
    assert_eq!(terminated["flow_id"], json!(flow_id));
    assert!(terminated["termination_requested_at"].is_string(), "{terminated}");
    let record = w.record(&flow_id).await;
    assert_eq!(
        record.termination.unwrap().reason.as_deref(),
        Some("superseded by a newer index run")
    );
}

#[tokio::test]
async fn each_error_kind_answers_its_status_and_document() {
    let w = world().await;
    let unknown = "01JDQ3V4X8M6Z0B1C2D3E4F5G7";
    let submit = api_event("submit.json", "");
    let keyed = r#"{"flow": "spark-pi", "params": {"partitions": 3}, "idempotency_key": "k-1"}"#;
    let (status, _) = w.http(Function::Submit, with_body(submit.clone(), keyed)).await;
    assert_eq!(status, 200);
    let huge = format!(
        r#"{{"flow": "spark-pi", "params": {{"x": "{}"}}}}"#,
        "a".repeat(300_000)
    );
    let cases = [
        // 400: bad input, every problem named with its path
        (
            Function::Submit,
            with_body(
                submit.clone(),
                r#"{"flow": "spark-pi", "params": {"partitions": "many"}}"#,
            ),
            400,
            "ValidationError",
        ),
        (
            Function::Submit,
            with_body(submit.clone(), "not json"),
            400,
            "ValidationError",
        ),
        (
            Function::List,
            api_event("list-active.json", "")
                .as_object()
                .cloned()
                .map(|mut e| {
                    e.insert("rawQueryString".into(), json!("status=active&limit=ten"));
                    Value::Object(e)
                })
                .unwrap(),
            400,
            "ValidationError",
        ),
        // 404: no such flow, no such definition
        (
            Function::List,
            api_event("get-flow.json", unknown),
            404,
            "FlowNotFound",
        ),
        (
            Function::Terminate,
            api_event("terminate.json", unknown),
            404,
            "FlowNotFound",
        ),
        (
            Function::Submit,
            with_body(submit.clone(), r#"{"flow": "no-such-flow"}"#),
            404,
            "UnknownFlowDefinition",
        ),
        // 409: an idempotency key reused for another request
        (
            Function::Submit,
            with_body(submit.clone(), &keyed.replace('3', "4")),
            409,
            "Conflict",
        ),
        // 413: a body no flow record could hold
        (
            Function::Submit,
            with_body(submit.clone(), &huge),
            413,
            "PayloadTooLarge",
        ),
    ];
    for (function, event, status, code) in cases {
        let (got, document) = w.http(function, event).await;
        assert_eq!(
            (got, document["error"]["code"].as_str()),
            (status, Some(code)),
            "{document}"
        );
        let message = document["error"]["message"].as_str().unwrap();
        for rust in ["expected i32", "expected u", "expected struct", "::", "Error {"] {
            assert!(!message.contains(rust), "{message}");
        }
    }

    // 502: an AWS service refused (here: the table does not exist)
    let broken = FlowStore::new(w.dynamodb.clone(), "no-such-table");
    let answer = api::handle(
        Function::List,
        api_event("get-flow.json", unknown),
        BUDGET,
        |r, _| ops::list(&w.submitter.catalog, &broken, r),
    )
    .await
    .unwrap();
    assert_eq!(answer["statusCode"], 502, "{answer}");

    // AND a direct invoke gets the same error as a function error
    let error = w
        .invoke(Function::List, json!({"flow_id": unknown}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "FlowNotFound");
}

#[tokio::test]
async fn no_callback_secret_appears_in_any_answer_or_log_line() {
    let w = world().await;
    let (header_secret, query_secret, refused_secret) = ("hdr-5ecret-1", "qry-5ecret-2", "qry-5ecret-3");
    let suffix = ulid::Ulid::generate().to_string().to_lowercase();
    let (managed_secret, foreign_secret) = (format!("sm-5ecret-4-{suffix}"), format!("sm-5ecret-5-{suffix}"));
    // GIVEN a flow whose callback carries a secret header and a secret query, at a closed port
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // AND two callbacks naming Secrets Manager secrets: one tagged for the receiver's host,
    // one tagged for another team's host
    let tagged = |name: String, value: &str, host: &str| {
        w.secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(HOST_TAG)
                    .value(host)
                    .build(),
            )
            .send()
    };
    let managed = tagged(
        format!("emr-flows/callbacks/a-{suffix}"),
        &managed_secret,
        "127.0.0.1",
    )
    .await
    .unwrap();
    let foreign = tagged(
        format!("emr-flows/callbacks/b-{suffix}"),
        &foreign_secret,
        "hooks.team-b.example",
    )
    .await
    .unwrap();
    let (managed_arn, foreign_arn) = (managed.arn().unwrap(), foreign.arn().unwrap());
    let receiver = Receiver::trusting(
        integration_tests::free_port(),
        Some(TEST_SECRET),
        Some(TEST_PUBLIC_KEY),
    );
    let request = json!({
        "flow": "spark-pi",
        "callbacks": [{"http": {
            "url": format!("http://127.0.0.1:{port}/hook?token={query_secret}"),
            "headers": {"x-api-key": header_secret}
        }}, {"http": {
            "url": receiver.url, "headers": {"x-api-key": {"secret": managed_arn}}
        }}, {"http": {
            "url": receiver.url, "headers": {"x-api-key": {"secret": foreign_arn}}
        }}]
    });
    let mut answers = Vec::new();
    let (status, submitted) = w
        .http(
            Function::Submit,
            with_body(api_event("submit.json", ""), &request.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{submitted}");
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    answers.push(submitted);
    // AND a submit refused for its callback URL, whose query carries a secret
    let refused = json!({"flow": "spark-pi", "callbacks": [{"http": {"url": format!("http://hooks.example.com/h?token={refused_secret}")}}]});
    let (status, error) = w
        .http(
            Function::Submit,
            with_body(api_event("submit.json", ""), &refused.to_string()),
        )
        .await;
    assert_eq!(status, 400);
    answers.push(error);
    let direct = w.invoke(Function::Submit, refused).await.unwrap_err();
    answers.push(json!(direct.to_string()));

    // WHEN the flow ends and its delivery fails (logged, recorded)
    w.send("lifecycle-success/04-step-COMPLETED.json", &flow_id)
        .await
        .unwrap();
    answers.push(
        w.send("lifecycle-success/05-cluster-TERMINATED.json", &flow_id)
            .await
            .unwrap(),
    );
    let record = w.record(&flow_id).await;
    assert_eq!(record.deliveries["0"].attempts, 1, "the delivery was attempted");
    assert!(record.deliveries["0"].last_error.is_some());
    // AND the tagged secret reached the receiver, the foreign one was refused unsent
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["headers"]["x-api-key"], json!(managed_secret));
    assert_eq!(received[0]["schemes"], json!(["v1", "v1a"]));
    let refusal = record.deliveries["2"].last_error.as_deref().unwrap();
    assert!(
        refusal.contains(HOST_TAG) && refusal.contains(foreign_arn),
        "{refusal}"
    );
    // AND the flow is read, directly and through the API
    let (_, through_api) = w.http(Function::List, api_event("get-flow.json", &flow_id)).await;
    let direct = w
        .invoke(Function::List, json!({ "flow_id": flow_id }))
        .await
        .unwrap();
    answers.extend([through_api.clone(), direct]);

    // THEN no answer holds a secret, and the record is shown masked
    let answers = serde_json::to_string(&answers).unwrap();
    let logs = logs();
    for secret in [
        header_secret,
        query_secret,
        refused_secret,
        &managed_secret,
        &foreign_secret,
    ] {
        assert!(!answers.contains(secret), "answers leak {secret}: {answers}");
        assert!(!logs.contains(secret), "logs leak {secret}: {logs}");
    }
    let callback = &through_api["callbacks"][0]["http"];
    assert_eq!(callback["headers"]["x-api-key"], "***");
    assert_eq!(callback["url"], format!("http://127.0.0.1:{port}/hook?***"));
    // AND a header naming a secret is answered as its reference
    let by_reference = &through_api["callbacks"][1]["http"]["headers"]["x-api-key"];
    assert_eq!(by_reference, &json!({"secret": managed_arn}));
    // AND the recorded delivery errors carry no secret either, and the record holds no value
    // read from Secrets Manager (literal values it must keep, to send them)
    let record = w.record(&flow_id).await;
    let deliveries = serde_json::to_string(&record.deliveries).unwrap();
    let stored = serde_json::to_string(&record).unwrap();
    for secret in [query_secret, header_secret, &managed_secret, &foreign_secret] {
        assert!(!deliveries.contains(secret), "{deliveries}");
    }
    for secret in [&managed_secret, &foreign_secret] {
        assert!(!stored.contains(secret), "{stored}");
    }

    // AND log lines are JSON with a timestamp and flat flow_id fields; the failed delivery names
    // its target masked; the refused request is a WARN, never the runtime's panic log
    let lines: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    let delivery = lines
        .iter()
        .find(|l| {
            l["flow_id"] == json!(flow_id)
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("callback delivery"))
        })
        .unwrap_or_else(|| panic!("no delivery log line for {flow_id}: {logs}"));
    assert_eq!(delivery["callback"], format!("http://127.0.0.1:{port}/hook?***"));
    let refusal = lines
        .iter()
        .find(|l| l["message"] == "request refused" && l["code"] == "ValidationError")
        .unwrap_or_else(|| panic!("no refusal log line: {logs}"));
    assert_eq!(refusal["level"], "WARN");
    assert!(!logs.contains("lambda_runtime::layers::panic"));
}

#[tokio::test]
async fn redriven_destination_records_and_archive_replays_apply_as_the_event_would() {
    let w = world().await;
    let no_callbacks = with_body(api_event("submit.json", ""), r#"{"flow": "spark-pi"}"#);
    let (_, submitted) = w.http(Function::Submit, no_callbacks).await;
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let record = w.record(&flow_id).await;
    let (step_id, _) = record.ordered_steps()[0];
    let cluster_id = record.cluster_id.as_ref().unwrap().as_str();
    // GIVEN the step event replayed from an EventBridge archive (it carries `replay-name`)
    let mut replayed = event(
        "lifecycle-success/04-step-COMPLETED.json",
        cluster_id,
        step_id.as_str(),
    );
    replayed["replay-name"] = json!("emr-flows-2026-11-29");
    // WHEN on-state-change gets it THEN it is applied
    let answer = w.invoke(Function::OnStateChange, replayed).await.unwrap();
    assert_eq!(answer["applied"]["changed"], true, "{answer}");
    // GIVEN the cluster's end as FailedEventsQueue holds it: a Lambda destination record
    let end = event(
        "lifecycle-success/05-cluster-TERMINATED.json",
        cluster_id,
        step_id.as_str(),
    );
    let destination_record = json!({
        "version": "1.0", "timestamp": "2026-11-29T10:00:00.000Z",
        "requestContext": {"requestId": "r-1", "condition": "RetriesExhausted", "approximateInvokeCount": 3,
                           "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:on-state-change:$LATEST"},
        "requestPayload": end,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "UpstreamError", "errorMessage": "DynamoDB PutItem failed: timeout"}
    });
    // WHEN it is sent back THEN the flow ends as the event itself would have ended it
    let answer = w
        .invoke(Function::OnStateChange, destination_record)
        .await
        .unwrap();
    assert_eq!(answer["applied"]["status"], "SUCCEEDED", "{answer}");
    assert_eq!(w.record(&flow_id).await.status.as_str(), "SUCCEEDED");
}
