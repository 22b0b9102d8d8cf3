//! End to end through the real binaries: moto for DynamoDB and EMR, `cargo lambda watch` serving
//! the four functions, the AWS SDK's Lambda client invoking them as a caller would, and the
//! independent Standard Webhooks receiver verifying each callback.

use std::time::Duration;

use integration_tests::functions::Functions;
use integration_tests::{
    Moto, Receiver, TEST_PUBLIC_KEY, TEST_SECRET, create_table, free_port, unique_table,
};
use serde_json::{Value, json};

#[tokio::test]
async fn both_scenarios_end_to_end_through_the_real_functions() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("e2e");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    // The receiver verifies both schemes: v1 with the shared secret, v1a with the public key.
    let receiver = Receiver::trusting(free_port(), Some(TEST_SECRET), Some(TEST_PUBLIC_KEY));
    let functions = Functions::start(&moto.endpoint, &table, &[]).await;
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
    let functions = Functions::start(&proxy.endpoint, &table, &[]).await;

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
