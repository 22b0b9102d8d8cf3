//! End to end through the real binaries: moto for DynamoDB and EMR, `cargo lambda watch` serving
//! the four functions, the AWS SDK's Lambda client invoking them as a caller would, and the
//! independent Standard Webhooks receiver verifying each callback.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use integration_tests::{
    Moto, Receiver, Service, TEST_PUBLIC_KEY, TEST_SECRET, TEST_SIGNING_KEY, create_table, event, free_port,
    unique_table, venv_bin,
};
use serde_json::{Value, json};

struct Functions {
    lambda: aws_sdk_lambda::Client,
    /// What the functions printed: their JSON logs and metric (EMF) lines.
    log: std::path::PathBuf,
    _watch: Service,
}

impl Functions {
    /// Starts `cargo lambda watch` with the functions configured for the AWS stand-in at
    /// `endpoint` (moto, or a fault proxy in front of it) and `table`.
    async fn start(endpoint: &str, table: &str) -> Self {
        let port = free_port();
        let env_file = std::env::temp_dir().join(format!("emr-flows-e2e-{port}.env"));
        std::fs::write(
            &env_file,
            format!(
                "TABLE_NAME={table}\nAWS_ENDPOINT_URL={}\nAWS_REGION=us-east-1\nAWS_ACCESS_KEY_ID=testing\n\
                 AWS_SECRET_ACCESS_KEY=testing\nCALLBACK_SIGNING_SECRET=\"{TEST_SECRET}\"\n\
                 CALLBACK_SIGNING_KEY=\"{TEST_SIGNING_KEY}\"\nCALLBACK_ALLOW_LOCAL=true\nSTACK_NAME=e2e-stack\n",
                endpoint
            ),
        )
        .unwrap();
        let log = std::env::temp_dir().join(format!("emr-flows-watch-{port}.log"));
        let watch = Service::start(
            &venv_bin("cargo-lambda"),
            &[
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                "--ignore-changes",
                "--env-file",
                env_file.to_str().unwrap(),
            ],
            &[],
            &log,
        );
        integration_tests::wait_for_port(port, "cargo lambda watch", Duration::from_secs(120));
        let sdk = integration_tests::hermetic_config()
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "testing", "testing", None, None, "e2e",
            ))
            // A function error comes back as HTTP 500, which the SDK would retry: invoke once.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        Self {
            lambda: aws_sdk_lambda::Client::new(&sdk),
            log,
            _watch: watch,
        }
    }

    /// The metric documents (EMF) the functions printed so far.
    fn metrics(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"_aws\""))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Invokes `function` with `payload`: `Ok(answer)`, or `Err(error document)` for a function
    /// error (`{"errorType", "errorMessage"}`).
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, Value> {
        let result = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(serde_json::to_vec(payload).unwrap()))
            .send()
            .await;
        match result {
            Ok(output) if output.function_error().is_none() => {
                Ok(serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap())
            }
            Ok(output) => Err(serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap()),
            // cargo lambda watch answers a function error with HTTP 500 and the error document.
            Err(e) => {
                let raw = e
                    .raw_response()
                    .map(|r| r.body().bytes().unwrap_or_default().to_vec());
                let raw = raw.unwrap_or_else(|| {
                    panic!(
                        "invoke {function}: {}",
                        aws_sdk_lambda::error::DisplayErrorContext(&e)
                    )
                });
                Err(serde_json::from_slice(&raw)
                    .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&raw))))
            }
        }
    }

    /// The flow record, as `list` answers it.
    async fn record(&self, flow_id: &str) -> Value {
        self.invoke("list", &json!({ "flow_id": flow_id })).await.unwrap()
    }

    /// The id of the flow's (only) step.
    async fn step_id(&self, flow_id: &str) -> String {
        let record = self.record(flow_id).await;
        record["steps"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .expect("a step")
            .clone()
    }

    /// Sends each event of `events/<lifecycle>/` in order, with the flow's real ids.
    async fn drive(&self, lifecycle: &str, cluster_id: &str, step_id: &str) {
        let mut files: Vec<_> = std::fs::read_dir(integration_tests::root().join("events").join(lifecycle))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        for file in files {
            let event = event(&format!("{lifecycle}/{file}"), cluster_id, step_id);
            let answer = self
                .invoke("on-state-change", &event)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(answer.get("applied").is_some(), "{file}: {answer}");
        }
    }
}

#[tokio::test]
async fn both_scenarios_end_to_end_through_the_real_functions() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("e2e");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    // The receiver verifies both schemes: v1 with the shared secret, v1a with the public key.
    let receiver = Receiver::trusting(free_port(), Some(TEST_SECRET), Some(TEST_PUBLIC_KEY));
    let functions = Functions::start(&moto.endpoint, &table).await;
    let callbacks = json!([{"http": {"url": receiver.url}}]);

    // Success: spark-pi runs its one step and the cluster terminates after it.
    let submitted = functions
        .invoke(
            "submit",
            &json!({"flow": "spark-pi", "params": {"partitions": 20}, "callbacks": callbacks}),
        )
        .await
        .unwrap();
    assert_eq!(submitted["status"], "STARTING");
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let cluster_id = submitted["cluster_id"].as_str().unwrap().to_owned();
    let active = functions
        .invoke("list", &json!({"status": "active"}))
        .await
        .unwrap();
    assert_eq!(active["flows"][0]["flow_id"], flow_id.as_str());
    let step_id = functions.step_id(&flow_id).await;

    functions.drive("lifecycle-success", &cluster_id, &step_id).await;
    let record = functions.record(&flow_id).await;
    assert_eq!(record["status"], "SUCCEEDED");
    assert_eq!(record["steps"][&step_id]["state"], "COMPLETED");
    assert_eq!(record["deliveries"]["0"]["status"], "DELIVERED");

    // Failure: the index step fails and the cluster terminates with errors.
    let submitted = functions
        .invoke(
            "submit",
            &json!({"flow": "pages-es-index-updater", "params": {"domain_id": 7}, "callbacks": callbacks}),
        )
        .await
        .unwrap();
    let failed_flow = submitted["flow_id"].as_str().unwrap().to_owned();
    let step_id = functions.step_id(&failed_flow).await;
    functions
        .drive(
            "lifecycle-failure",
            submitted["cluster_id"].as_str().unwrap(),
            &step_id,
        )
        .await;
    let record = functions.record(&failed_flow).await;
    assert_eq!(record["status"], "FAILED");
    assert_eq!(record["failure"]["code"], "STEP_FAILURE");
    assert_eq!(record["failure"]["failed_step"]["id"], step_id.as_str());
    assert_eq!(record["failure"]["failed_step"]["name"], "index domain 7");

    // Each outcome was called back once, and verified by the independent receiver.
    let received = receiver.received();
    let seen: Vec<_> = received
        .iter()
        .map(|r| (r["verified"].clone(), r["body"]["status"].clone()))
        .collect();
    assert_eq!(
        seen,
        [(json!(true), json!("SUCCEEDED")), (json!(true), json!("FAILED"))]
    );
    for callback in &received {
        assert_eq!(callback["schemes"], json!(["v1", "v1a"]), "{callback}");
    }
    assert_eq!(
        received[1]["body"]["failure"]["failed_step"]["name"],
        "index domain 7"
    );
    assert_eq!(received[0]["webhook_id"], format!("flow_{flow_id}_succeeded"));

    // The functions wrote metrics in EMF for the stack STACK_NAME names: each definition's
    // submit and ending, and the events' lag in seconds.
    let metrics = functions.metrics();
    let count = |flow: &str, name: &str| -> u64 {
        (metrics.iter())
            .filter(|d| d["flow"] == flow && d["stack"] == "e2e-stack")
            .filter_map(|d| d[name].as_u64())
            .sum()
    };
    assert_eq!(count("spark-pi", "FlowsSubmitted"), 1, "{metrics:?}");
    assert_eq!(count("spark-pi", "FlowsSucceeded"), 1, "{metrics:?}");
    assert_eq!(count("pages-es-index-updater", "FlowsFailed"), 1, "{metrics:?}");
    assert_eq!(
        count("pages-es-index-updater", "FlowsSucceeded"),
        0,
        "{metrics:?}"
    );
    let lag = (metrics.iter())
        .find(|d| d.get("EventLag").is_some())
        .expect("an EventLag document");
    assert_eq!(lag["stack"], "e2e-stack");
    let units = &lag["_aws"]["CloudWatchMetrics"][0]["Metrics"];
    assert!(
        (units.as_array().unwrap().iter()).any(|m| m["Name"] == "EventLag" && m["Unit"] == "Seconds"),
        "{lag}"
    );

    // A dry run answers the request EMR would receive, and the catalog lists the definitions.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(integration_tests::root().join("events/submit-dry-run.json")).unwrap(),
    )
    .unwrap();
    let dry_run = functions.invoke("submit", &sample).await.unwrap();
    assert_eq!(dry_run["dry_run"], true);
    assert_eq!(
        dry_run["request"]["Instances"]["InstanceGroups"][1]["InstanceCount"],
        4
    );
    let catalog = functions
        .invoke("list", &json!({"definitions": true}))
        .await
        .unwrap();
    let names: Vec<_> = (catalog["definitions"].as_array().unwrap().iter())
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    let embedded = emr_flows::catalog::definition::Catalog::embedded().unwrap();
    let expected: Vec<_> = embedded.iter().map(|d| d.spec.name.clone()).collect();
    assert_eq!(names, expected);

    // Bad input is a function error that names the problem.
    let error = functions
        .invoke(
            "submit",
            &json!({"flow": "spark-pi", "params": {"partitions": "many"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(error["errorType"], "ValidationError");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("params.partitions"),
        "{error}"
    );
    let error = functions
        .invoke("terminate", &json!({"flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6"}))
        .await
        .unwrap_err();
    assert_eq!(error["errorType"], "FlowNotFound");
}

#[tokio::test]
async fn faults_between_the_real_functions_and_aws_change_no_outcome() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("faults");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let proxy = integration_tests::proxy::FaultProxy::start(&moto.endpoint);
    let functions = Functions::start(&proxy.endpoint, &table).await;

    // RunJobFlow applied but answered 500, and DynamoDB throttling the record's first write:
    // one cluster, one flow, as if nothing happened.
    proxy.fault("RunJobFlow", "error_500", 1, 0.0).await;
    proxy.fault("TransactWriteItems", "throttle", 2, 0.0).await;
    let submitted = functions
        .invoke(
            "submit",
            &json!({"flow": "spark-pi", "idempotency_key": "fault-run-1"}),
        )
        .await
        .unwrap();
    assert_eq!(submitted["status"], "STARTING", "{submitted}");
    let counts = proxy.counts().await;
    assert_eq!(counts.get("RunJobFlow"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("TransactWriteItems"),
        Some(&3),
        "two throttled, then written"
    );
    let again = functions
        .invoke(
            "submit",
            &json!({"flow": "spark-pi", "idempotency_key": "fault-run-1"}),
        )
        .await
        .unwrap();
    assert_eq!(again, submitted, "the retried submit answers the same flow");
    assert_eq!(proxy.counts().await.get("RunJobFlow"), Some(&1));

    // DynamoDB answering too slowly: the function fails in time with a retryable error.
    proxy.fault("Query", "delay", 3, 30.0).await;
    let started = std::time::Instant::now();
    let error = functions
        .invoke("list", &json!({"flow_id": submitted["flow_id"]}))
        .await
        .unwrap_err();
    assert_eq!(error["errorType"], "UpstreamError", "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(29),
        "{:?}",
        started.elapsed()
    );
    proxy.clear_faults().await;

    // The reconcile sweep, run by hand.
    let swept = functions
        .invoke("on-state-change", &json!({"reconcile": true}))
        .await
        .unwrap();
    assert_eq!(swept["reconciled"]["skipped"], false, "{swept}");
}
