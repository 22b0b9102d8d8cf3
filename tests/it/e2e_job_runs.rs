//! EMR Serverless and EMR on EKS flows end to end through the real binaries: moto behind the
//! fault proxy, `cargo lambda watch` serving the four functions, EventBridge-shaped job-run
//! events sent to on-state-change, and the independent Standard Webhooks receiver verifying each
//! callback.

use aws_sdk_emrcontainers::types::{ContainerInfo, ContainerProvider, ContainerProviderType, EksInfo};
use integration_tests::functions::Functions;
use integration_tests::proxy::FaultProxy;
use integration_tests::{
    Moto, Receiver, TEST_PUBLIC_KEY, TEST_SECRET, create_table, free_port, root, unique_table,
};
use serde_json::{Value, json};

/// The published "Job Run State Change" for `run` on `app`, in `state`.
fn state_change(app: &str, run: &str, state: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join("events/real/events/serverless-job-RUNNING.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["detail"]["applicationId"] = app.into();
    event["detail"]["jobRunId"] = run.into();
    event["detail"]["previousState"] = event["detail"]["state"].clone();
    event["detail"]["state"] = state.into();
    event
}

/// An EMR on EKS job-run state change of `detail_type` for `run` on `vc`, in `state`. No body
/// of an `aws.emr-containers` event is published: built from the fields community code reads,
/// as `shared/src/targets/eks/events.rs`' test helper builds it.
fn eks_state_change(detail_type: &str, vc: &str, run: &str, state: &str) -> Value {
    json!({
        "version": "0", "id": ulid::Ulid::generate().to_string(),
        "detail-type": detail_type, "source": "aws.emr-containers",
        "account": "123456789012", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:emr-containers:us-east-1:123456789012:/virtualclusters/{vc}/jobruns/{run}")],
        "detail": {"id": run, "virtualClusterId": vc, "state": state},
    })
}

#[tokio::test]
async fn a_serverless_job_run_end_to_end_through_the_real_functions() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("e2e-job-runs");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    let receiver = Receiver::trusting(free_port(), Some(TEST_SECRET), Some(TEST_PUBLIC_KEY));
    let functions = Functions::start(&proxy.endpoint, &table, &[]).await;
    let serverless = aws_sdk_emrserverless::Client::new(&sdk);
    let app = serverless
        .create_application()
        .name("e2e")
        .release_label("emr-7.1.0")
        .r#type("SPARK")
        .client_token("e2e")
        .send()
        .await
        .unwrap()
        .application_id()
        .to_owned();
    let callbacks = json!([{"http": {"url": receiver.url}}]);
    let request =
        json!({"flow": "spark-pi-serverless", "params": {"application_id": app}, "callbacks": callbacks});

    // GIVEN StartJobRun's answer is lost on the way back to submit
    proxy.fault("StartJobRun", "drop_after", 1, 0.0).await;
    let submitted = functions.invoke("submit", &request).await.unwrap();
    // THEN submit found the run by its tag, and answers it
    assert_eq!(submitted["status"], "STARTING", "{submitted}");
    assert_eq!(submitted["application_id"], app.as_str());
    let run = submitted["job_run_id"].as_str().expect("the run's id").to_owned();
    assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1));
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    // AND list shows the target, on the summary and the record
    let active = functions
        .invoke("list", &json!({"status": "active"}))
        .await
        .unwrap();
    assert_eq!(active["flows"][0]["flow_id"], flow_id.as_str());
    assert_eq!(active["flows"][0]["target"], "serverless_job_run");
    let record = functions.record(&flow_id).await;
    assert_eq!(record["target"], "serverless_job_run");
    assert_eq!(record["job_run"]["job_run_id"], run.as_str());

    // WHEN its events arrive, one late and one twice: RUNNING, SUCCESS, SUCCESS, SCHEDULED
    proxy.clear_requests().await;
    for state in ["RUNNING", "SUCCESS", "SUCCESS", "SCHEDULED"] {
        let answer = functions
            .invoke("on-state-change", &state_change(&app, &run, state))
            .await
            .unwrap_or_else(|e| panic!("{state}: {e}"));
        assert!(answer.get("applied").is_some(), "{state}: {answer}");
    }
    // THEN the flow SUCCEEDED, and its callback was sent once, verified
    let record = functions.record(&flow_id).await;
    assert_eq!(record["status"], "SUCCEEDED", "{record}");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["verified"], true);
    assert_eq!(received[0]["body"]["status"], "SUCCEEDED");
    assert_eq!(received[0]["body"]["target"], "serverless_job_run");
    assert_eq!(received[0]["body"]["job_run"]["job_run_id"], run.as_str());
    // AND what the four events cost, per event (printed for the README's figures)
    let counts = proxy.counts().await;
    println!("requests for 4 job-run events: {counts:?}");
    assert_eq!(
        counts.get("GetJobRun"),
        Some(&4),
        "one GetJobRun per event: {counts:?}"
    );

    // A second flow, terminated through the function: CancelJobRun on its run, CANCELLED
    // once the service says so (its event), one callback.
    let submitted = functions.invoke("submit", &request).await.unwrap();
    let second = submitted["flow_id"].as_str().unwrap().to_owned();
    let second_run = submitted["job_run_id"].as_str().unwrap().to_owned();
    let terminated = functions
        .invoke("terminate", &json!({"flow_id": second, "reason": "e2e"}))
        .await
        .unwrap();
    assert!(terminated["termination_accepted_at"].is_string(), "{terminated}");
    assert_eq!(proxy.counts().await.get("CancelJobRun"), Some(&1));
    functions
        .invoke("on-state-change", &state_change(&app, &second_run, "CANCELLED"))
        .await
        .unwrap();
    assert_eq!(functions.record(&second).await["status"], "CANCELLED");
    let statuses: Vec<_> = (receiver.received().iter())
        .map(|r| r["body"]["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("SUCCEEDED"), json!("CANCELLED")]);
}

#[tokio::test]
async fn an_eks_job_run_end_to_end_through_the_real_functions() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("e2e-eks-job-runs");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    let receiver = Receiver::trusting(free_port(), Some(TEST_SECRET), Some(TEST_PUBLIC_KEY));
    let functions = Functions::start(&proxy.endpoint, &table, &[]).await;
    let provider = ContainerProvider::builder()
        .id("e2e-eks")
        .r#type(ContainerProviderType::Eks)
        .info(ContainerInfo::EksInfo(
            EksInfo::builder().namespace("e2e").build(),
        ))
        .build()
        .unwrap();
    let vc = aws_sdk_emrcontainers::Client::new(&sdk)
        .create_virtual_cluster()
        .name("e2e")
        .container_provider(provider)
        .client_token("e2e")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let callbacks = json!([{"http": {"url": receiver.url}}]);
    let request =
        json!({"flow": "spark-pi-eks", "params": {"virtual_cluster_id": vc}, "callbacks": callbacks});
    let state_change = |run: &str, state: &str| eks_state_change("EMR Job Run State Change", &vc, run, state);

    // GIVEN StartJobRun's answer is lost on the way back to submit
    proxy.fault("StartJobRun", "drop_after", 1, 0.0).await;
    let submitted = functions.invoke("submit", &request).await.unwrap();
    // THEN submit found the run by the flow's token, and answers it
    assert_eq!(submitted["status"], "STARTING", "{submitted}");
    assert_eq!(submitted["virtual_cluster_id"], vc.as_str());
    let run = submitted["job_run_id"].as_str().expect("the run's id").to_owned();
    let counts = proxy.counts().await;
    assert_eq!(counts.get("StartJobRun"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("ListJobRuns"), Some(&1), "{counts:?}");
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    // AND list shows the target, on the summary and the record
    let active = functions
        .invoke("list", &json!({"status": "active"}))
        .await
        .unwrap();
    assert_eq!(active["flows"][0]["flow_id"], flow_id.as_str());
    assert_eq!(active["flows"][0]["target"], "eks_job_run");
    let record = functions.record(&flow_id).await;
    assert_eq!(record["eks_job_run"]["job_run_id"], run.as_str());
    assert_eq!(record["eks_job_run"]["virtual_cluster_id"], vc.as_str());

    // WHEN its events arrive, one twice under the other name and one late: RUNNING,
    // COMPLETED, COMPLETED, RUNNING
    proxy.clear_requests().await;
    let events = [
        state_change(&run, "RUNNING"),
        state_change(&run, "COMPLETED"),
        eks_state_change("EmrContainers Job Run State Change", &vc, &run, "COMPLETED"),
        state_change(&run, "RUNNING"),
    ];
    for event in &events {
        let answer = functions
            .invoke("on-state-change", event)
            .await
            .unwrap_or_else(|e| panic!("{event}: {e}"));
        assert!(answer.get("applied").is_some(), "{event}: {answer}");
    }
    // THEN the flow SUCCEEDED, and its callback was sent once, verified
    let record = functions.record(&flow_id).await;
    assert_eq!(record["status"], "SUCCEEDED", "{record}");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["verified"], true);
    assert_eq!(received[0]["body"]["status"], "SUCCEEDED");
    assert_eq!(received[0]["body"]["target"], "eks_job_run");
    assert_eq!(received[0]["body"]["eks_job_run"]["job_run_id"], run.as_str());
    // AND each event cost one DescribeJobRun
    let counts = proxy.counts().await;
    println!("requests for 4 EMR on EKS job-run events: {counts:?}");
    assert_eq!(counts.get("DescribeJobRun"), Some(&4), "{counts:?}");

    // A second flow fails: DescribeJobRun (here the proxy) gives its failureReason and
    // stateDetails, and its callback tells them.
    let submitted = functions.invoke("submit", &request).await.unwrap();
    let failed = submitted["flow_id"].as_str().unwrap().to_owned();
    let failed_run = submitted["job_run_id"].as_str().unwrap().to_owned();
    proxy
        .fault_with(
            "DescribeJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "FAILED", "failureReason": "USER_ERROR",
                "stateDetails": "Cluster emr-eks-example does not have sufficient resources."}}),
        )
        .await;
    functions
        .invoke("on-state-change", &state_change(&failed_run, "FAILED"))
        .await
        .unwrap();
    assert_eq!(functions.record(&failed).await["status"], "FAILED");

    // A third flow, terminated through the function: CancelJobRun on its run, CANCELLED once
    // the service says so (its event), one callback.
    let submitted = functions.invoke("submit", &request).await.unwrap();
    let third = submitted["flow_id"].as_str().unwrap().to_owned();
    let third_run = submitted["job_run_id"].as_str().unwrap().to_owned();
    let terminated = functions
        .invoke("terminate", &json!({"flow_id": third, "reason": "e2e"}))
        .await
        .unwrap();
    assert!(terminated["termination_accepted_at"].is_string(), "{terminated}");
    assert_eq!(proxy.counts().await.get("CancelJobRun"), Some(&1));
    for _ in 0..2 {
        functions
            .invoke("on-state-change", &state_change(&third_run, "CANCELLED"))
            .await
            .unwrap();
    }
    assert_eq!(functions.record(&third).await["status"], "CANCELLED");

    // Exactly one verified callback per outcome, in order
    let received = receiver.received();
    let told: Vec<_> = (received.iter())
        .map(|r| {
            assert_eq!(r["verified"], true, "{r}");
            (r["body"]["flow_id"].clone(), r["body"]["status"].clone())
        })
        .collect();
    assert_eq!(
        told,
        [
            (json!(flow_id), json!("SUCCEEDED")),
            (json!(failed), json!("FAILED")),
            (json!(third), json!("CANCELLED")),
        ]
    );
    assert_eq!(
        received[1]["body"]["failure"]["message"],
        "USER_ERROR: Cluster emr-eks-example does not have sufficient resources."
    );
}
