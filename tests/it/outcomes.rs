//! Outcomes that never depend on event luck, against moto (through the fault proxy where the
//! network must misbehave or DynamoDB's atomic conditional writes must hold under concurrency):
//! lost launch answers, retried submits, terminations asked early or refused, lost events,
//! `max_runtime`, racing events and stalled services. Each case of the outcomes issue, with the
//! right value.

use std::time::{Duration, Instant};

use emr_flows::error::Error;
use emr_flows::model::{
    ClusterId, DeliveryStatus, FlowId, FlowStatus, LAUNCH_FAILED, LAUNCH_LOST, MAX_RUNTIME_EXCEEDED,
};
use emr_flows::ops::{self, StateChangeOutcome};
use integration_tests::world::{World, world, world_behind_proxy};
use integration_tests::{Receiver, TEST_SECRET, event};
use serde_json::{Value, json};

const SWEEP_BUDGET: Duration = Duration::from_secs(60);

/// The clusters moto holds with `flow_id`'s tag.
async fn tagged_clusters(w: &World, flow_id: FlowId) -> Vec<ClusterId> {
    let record = w.record(flow_id).await;
    let created_after = record.submitted_at - chrono::Duration::minutes(10);
    let direct = emr_flows::aws::emr::Emr::new(w.emr_client.clone());
    direct
        .tagged_clusters(flow_id, &record.cluster_name, created_after)
        .await
        .unwrap()
}

async fn cluster_state(w: &World, cluster_id: &ClusterId) -> String {
    let cluster = w.cluster(cluster_id.as_str()).await;
    cluster.status().unwrap().state().unwrap().as_str().to_owned()
}

/// An EMR event from `events/` for `cluster_id` (and the step `s-0`).
fn emr_event(path: &str, cluster_id: &ClusterId) -> Value {
    event(path, cluster_id.as_str(), "s-0")
}

/// Launches a cluster on moto directly (as a blind RunJobFlow retry, or another stack, would)
/// named `name` and carrying `tags`.
async fn launch_tagged(w: &World, name: &str, tags: &[(&str, &str)]) -> ClusterId {
    let launched = w
        .emr_client
        .run_job_flow()
        .name(name)
        .release_label("emr-7.13.0")
        .instances(
            aws_sdk_emr::types::JobFlowInstancesConfig::builder()
                .instance_count(1)
                .master_instance_type("m5.xlarge")
                .keep_job_flow_alive_when_no_steps(true)
                .build(),
        )
        .job_flow_role("EMR_EC2_DefaultRole")
        .service_role("EMR_DefaultRole")
        .set_tags(Some(
            (tags.iter())
                .map(|(key, value)| aws_sdk_emr::types::Tag::builder().key(*key).value(*value).build())
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    ClusterId::parse(launched.job_flow_id().unwrap()).unwrap()
}

async fn on_event(w: &World, event: Value) -> Result<StateChangeOutcome, Error> {
    ops::on_state_change(w.svc(), event, SWEEP_BUDGET).await
}

async fn sweep(w: &World) -> ops::SweepReport {
    ops::sweep(w.svc(), SWEEP_BUDGET).await.unwrap()
}

fn callback(receiver: &Receiver) -> Value {
    json!([{"http": {"url": receiver.url}}])
}

#[tokio::test]
async fn a_lost_run_job_flow_answer_launches_one_cluster_which_the_flow_adopts() {
    // GIVEN EMR applies RunJobFlow but its answer is lost (a 500 after the call, or a dropped
    // connection): the SDK would send it again
    for fault in ["error_500", "drop_after"] {
        let w = world_behind_proxy().await;
        let proxy = w.proxy.as_ref().unwrap();
        proxy.fault("RunJobFlow", fault, 3, 0.0).await;
        // WHEN a flow is submitted
        let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
        // THEN RunJobFlow was sent once, one cluster carries the flow's tag, and it is the flow's
        assert_eq!(proxy.counts().await.get("RunJobFlow"), Some(&1), "{fault}");
        let clusters = tagged_clusters(&w, submitted.flow_id).await;
        assert_eq!(clusters.len(), 1, "{fault}");
        assert_eq!(submitted.cluster_id.as_ref(), Some(&clusters[0]), "{fault}");
        assert_eq!(submitted.status, FlowStatus::Starting, "{fault}");
        let record = w.record(submitted.flow_id).await;
        assert!(record.launch_error.is_some(), "the lost answer is noted: {fault}");
        assert_eq!(record.steps.len(), 1, "steps from EMR");
    }
}

#[tokio::test]
async fn a_launch_that_never_happened_ends_failed_after_the_grace_and_calls_back() {
    let w = world_behind_proxy().await;
    let receiver = Receiver::start(TEST_SECRET);
    // GIVEN RunJobFlow fails without being applied, with an answer that proves nothing
    w.proxy
        .as_ref()
        .unwrap()
        .fault("RunJobFlow", "fail_500", 1, 0.0)
        .await;
    let submitted = w
        .submit(json!({"flow": "spark-pi", "callbacks": callback(&receiver)}))
        .await
        .unwrap();
    // THEN the caller gets the flow, PENDING, while its cluster is looked for
    assert_eq!(
        (submitted.status, submitted.cluster_id.as_ref()),
        (FlowStatus::Pending, None)
    );
    // WHEN the sweep runs within the grace, nothing ends; after it, the flow ends FAILED
    w.clock.advance(chrono::Duration::minutes(1));
    sweep(&w).await;
    assert_eq!(w.record(submitted.flow_id).await.status, FlowStatus::Pending);
    w.clock.advance(chrono::Duration::minutes(3));
    let report = sweep(&w).await;
    assert_eq!((report.due, report.changed), (1, 1), "{report:?}");
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    assert_eq!(
        record.failure.as_ref().unwrap().code.as_deref(),
        Some(LAUNCH_LOST)
    );
    assert_eq!(tagged_clusters(&w, submitted.flow_id).await, []);
    // AND the callback says so
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "FAILED");
    assert_eq!(received[0]["body"]["failure"]["code"], LAUNCH_LOST);
}

#[tokio::test]
async fn emr_refusing_the_launch_fails_the_flow_and_every_callback_is_told() {
    let w = world_behind_proxy().await;
    let receiver = Receiver::start(TEST_SECRET);
    // GIVEN EMR refuses RunJobFlow every time (throttled four times: sent again only then)
    let proxy = w.proxy.as_ref().unwrap();
    proxy.fault("RunJobFlow", "throttle", 4, 0.0).await;
    let err = w
        .submit(json!({"flow": "spark-pi", "callbacks": callback(&receiver)}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UpstreamError");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(proxy.counts().await.get("RunJobFlow"), Some(&4));
    // THEN the flow is FAILED with EMR's message, and its callback was delivered at once
    let page = ops::list(&w.submitter.catalog, &w.svc().store, json!({"flow": "spark-pi"}))
        .await
        .unwrap();
    let flow_id = FlowId::parse(page["flows"][0]["flow_id"].as_str().unwrap()).unwrap();
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    assert_eq!(
        record.failure.as_ref().unwrap().code.as_deref(),
        Some(LAUNCH_FAILED)
    );
    assert_eq!(record.deliveries["0"].status, DeliveryStatus::Delivered);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "FAILED");
}

#[tokio::test]
async fn a_retried_submit_with_its_idempotency_key_answers_the_same_flow_and_launches_once() {
    let w = world_behind_proxy().await;
    let request = json!({"flow": "spark-pi", "params": {"partitions": 7}, "idempotency_key": "order-1234"});
    let first = w.submit(request.clone()).await.unwrap();
    let again = w.submit(request.clone()).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(tagged_clusters(&w, first.flow_id).await.len(), 1);
    assert_eq!(
        w.record(first.flow_id).await.idempotency_key.as_deref(),
        Some("order-1234")
    );

    // The same key with another request is a conflict naming the key; nothing is written.
    let items = w.item_count().await;
    let other = json!({"flow": "spark-pi", "params": {"partitions": 8}, "idempotency_key": "order-1234"});
    let err = w.submit(other).await.unwrap_err();
    assert_eq!(err.code(), "Conflict");
    assert!(err.to_string().contains("`order-1234`"), "{err}");
    assert_eq!(w.item_count().await, items);

    // Both at once: one flow, one cluster.
    let both = json!({"flow": "spark-pi", "idempotency_key": "order-5678"});
    let (a, b) = tokio::join!(w.submit(both.clone()), w.submit(both.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.flow_id, b.flow_id);
    assert_eq!(tagged_clusters(&w, a.flow_id).await.len(), 1);
    assert_eq!(
        w.proxy.as_ref().unwrap().counts().await.get("RunJobFlow"),
        Some(&2),
        "two keys, two launches"
    );

    // After 24 hours the key is free again.
    w.clock.advance(chrono::Duration::hours(25));
    let later = w.submit(request).await.unwrap();
    assert_ne!(later.flow_id, first.flow_id);

    // Keys are bounded at the edge.
    let err = w
        .submit(json!({"flow": "spark-pi", "idempotency_key": "k".repeat(256)}))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("idempotency_key: is 256 bytes; at most 255"),
        "{err}"
    );
}

#[tokio::test]
async fn a_termination_asked_while_pending_is_carried_out_when_the_cluster_is_adopted() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap();
    // GIVEN submit lost RunJobFlow's answer: the record never learnt its cluster
    w.forget_launch(submitted.flow_id).await;
    // WHEN the caller terminates it: answered, and recorded
    let answer = ops::terminate(
        w.svc(),
        json!({"flow_id": submitted.flow_id, "reason": "not needed"}),
    )
    .await
    .unwrap();
    assert_eq!((answer.status, answer.cluster_id), (FlowStatus::Pending, None));
    assert!(answer.termination_requested_at.is_some() && answer.termination_accepted_at.is_none());
    assert_eq!(
        cluster_state(&w, &cluster_id).await,
        "WAITING",
        "not terminated yet"
    );
    // AND the cluster's first event adopts it (in a container that never learnt the cluster)
    let event = emr_event("lifecycle-success/02-cluster-RUNNING.json", &cluster_id);
    ops::on_state_change(&w.cold(), event, SWEEP_BUDGET)
        .await
        .unwrap();
    // THEN the adopted cluster is terminated, and the flow ends CANCELLED when EMR says so
    assert_eq!(cluster_state(&w, &cluster_id).await, "TERMINATED");
    let record = w.record(submitted.flow_id).await;
    assert!(record.termination.as_ref().unwrap().accepted_at.is_some());
    let mut terminated = emr_event("lifecycle-success/05-cluster-TERMINATED.json", &cluster_id);
    terminated["detail"]["stateChangeReason"] =
        r#"{"code":"USER_REQUEST","message":"Terminated by user request"}"#.into();
    on_event(&w, terminated).await.unwrap();
    assert_eq!(w.record(submitted.flow_id).await.status, FlowStatus::Cancelled);
}

#[tokio::test]
async fn a_termination_refused_by_emr_is_an_attempt_and_the_flow_later_fails() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap();
    w.emr_client
        .set_termination_protection()
        .job_flow_ids(cluster_id.as_str())
        .termination_protected(true)
        .send()
        .await
        .unwrap();
    // WHEN the caller terminates it and EMR refuses
    let err = ops::terminate(w.svc(), json!({"flow_id": submitted.flow_id}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UpstreamError");
    assert!(err.to_string().contains("termination protected"), "{err}");
    // THEN the request stays, as an attempt with EMR's message, never as a termination
    let termination = w.record(submitted.flow_id).await.termination.unwrap();
    assert_eq!((termination.attempts, termination.accepted_at), (1, None));
    assert!(termination.last_error.unwrap().contains("termination protected"));
    // AND an instance failure afterwards ends the flow FAILED, not CANCELLED
    let mut failed = emr_event(
        "lifecycle-failure/05-cluster-TERMINATED_WITH_ERRORS.json",
        &cluster_id,
    );
    failed["detail"]["stateChangeReason"] =
        r#"{"code":"INSTANCE_FAILURE","message":"Instance failure"}"#.into();
    on_event(&w, failed).await.unwrap();
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    assert_eq!(record.failure.unwrap().code.as_deref(), Some("INSTANCE_FAILURE"));
}

#[tokio::test]
async fn a_cluster_of_another_stack_is_ignored_and_left_alone() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let record = w.record(submitted.flow_id).await;
    // GIVEN the flow's own cluster carries this stack's name (`local` outside a stack)
    let own = submitted.cluster_id.clone().unwrap();
    let own = w.svc().emr.describe(&own).await.unwrap().unwrap();
    assert_eq!(
        own.stack.as_deref(),
        Some(emr_flows::catalog::job_flow::LOCAL_STACK)
    );
    // AND a cluster tagged with the flow's id by another stack
    let stranger = launch_tagged(
        &w,
        &record.cluster_name,
        &[
            (
                emr_flows::catalog::job_flow::FLOW_ID_TAG,
                &submitted.flow_id.to_string(),
            ),
            (emr_flows::catalog::job_flow::STACK_TAG, "another-stack"),
        ],
    )
    .await;
    // WHEN its first event arrives
    let outcome = on_event(
        &w,
        emr_event("lifecycle-success/01-cluster-STARTING.json", &stranger),
    )
    .await
    .unwrap();
    // THEN it is ignored as no flow's: not terminated, not noted on the flow
    let StateChangeOutcome::Ignored { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("no flow's"), "{reason}");
    assert_ne!(cluster_state(&w, &stranger).await, "TERMINATED");
    let record = w.record(submitted.flow_id).await;
    assert!(record.extra_clusters.is_empty());
}

#[tokio::test]
async fn an_extra_cluster_carrying_a_flows_tag_is_terminated_and_noted() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let record = w.record(submitted.flow_id).await;
    // GIVEN a second cluster with the flow's tag (as a blind RunJobFlow retry would launch)
    let extra = launch_tagged(
        &w,
        &record.cluster_name,
        &[(
            emr_flows::catalog::job_flow::FLOW_ID_TAG,
            &submitted.flow_id.to_string(),
        )],
    )
    .await;
    // WHEN its first event arrives
    let outcome = on_event(
        &w,
        emr_event("lifecycle-success/01-cluster-STARTING.json", &extra),
    )
    .await
    .unwrap();
    // THEN it is terminated and noted on the flow, whose own cluster runs on
    let StateChangeOutcome::Ignored { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("extra cluster") && reason.contains("terminated"),
        "{reason}"
    );
    assert_eq!(cluster_state(&w, &extra).await, "TERMINATED");
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.extra_clusters.len(), 1);
    assert_eq!(record.extra_clusters[0].cluster_id, extra);
    assert!(record.extra_clusters[0].terminated_at.is_some());
    assert_eq!(record.cluster_id, submitted.cluster_id);
    assert_ne!(
        cluster_state(&w, submitted.cluster_id.as_ref().unwrap()).await,
        "TERMINATED"
    );
}

#[tokio::test]
async fn a_flow_whose_every_event_was_lost_is_repaired_by_the_sweep() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let submitted = w
        .submit(json!({"flow": "spark-pi", "callbacks": callback(&receiver)}))
        .await
        .unwrap();
    ops::terminate(w.svc(), json!({"flow_id": submitted.flow_id}))
        .await
        .unwrap();
    // GIVEN not one EMR event arrives
    w.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(sweep(&w).await.due, 0, "nothing due before the repair threshold");
    // WHEN the sweep runs after the threshold
    w.clock.advance(chrono::Duration::minutes(6));
    let report = sweep(&w).await;
    assert_eq!(
        (report.due, report.changed, report.errors.len()),
        (1, 1, 0),
        "{report:?}"
    );
    // THEN the flow ends as EMR says (terminated on our accepted request) and calls back
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::Cancelled);
    assert_eq!(
        record.cluster_state.as_ref().map(|s| s.as_str()),
        Some("TERMINATED")
    );
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(receiver.received()[0]["body"]["status"], "CANCELLED");
    assert_eq!(sweep(&w).await.due, 0, "nothing left to do");
}

#[tokio::test]
async fn a_flow_past_its_max_runtime_is_terminated_and_ends_timed_out() {
    // The metrics recorder, as the functions install it (only this test flushes it).
    assert!(emr_flows::aws::metrics::init("outcomes-test"));
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let submitted = w
        .submit(json!({"flow": "spark-pi", "max_runtime": "1h", "callbacks": callback(&receiver)}))
        .await
        .unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap();
    on_event(
        &w,
        emr_event("lifecycle-success/02-cluster-RUNNING.json", &cluster_id),
    )
    .await
    .unwrap();
    let record = w.record(submitted.flow_id).await;
    assert_eq!(
        record.deadline_at,
        Some(record.submitted_at + chrono::Duration::hours(1))
    );
    // WHEN the deadline passes
    w.clock.advance(chrono::Duration::minutes(61));
    sweep(&w).await;
    // THEN the sweep terminated the cluster for it
    assert_eq!(cluster_state(&w, &cluster_id).await, "TERMINATED");
    let record = w.record(submitted.flow_id).await;
    assert!(record.termination.as_ref().unwrap().accepted_at.is_some());
    // AND when EMR's end is known (here by the sweep's repair) the flow is TIMED_OUT
    w.clock.advance(chrono::Duration::minutes(11));
    sweep(&w).await;
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::TimedOut);
    assert_eq!(
        record.failure.unwrap().code.as_deref(),
        Some(MAX_RUNTIME_EXCEEDED)
    );
    assert_eq!(receiver.received()[0]["body"]["status"], "TIMED_OUT");
    // AND the metrics count the submit and the time-out for the definition, in EMF
    let mut emf = Vec::new();
    emr_flows::aws::metrics::flush_to(&mut emf).unwrap();
    let spark_pi: Vec<Value> = String::from_utf8(emf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["flow"] == "spark-pi" && d["stack"] == "outcomes-test")
        .collect();
    assert_eq!(spark_pi.len(), 1, "{spark_pi:?}");
    assert!(spark_pi[0]["FlowsSubmitted"].as_u64() >= Some(1), "{spark_pi:?}");
    assert!(spark_pi[0]["FlowsTimedOut"].as_u64() >= Some(1), "{spark_pi:?}");
    assert_eq!(
        spark_pi[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "emr-flows"
    );

    // A submit may lower the definition's limit, never raise it, and must name a duration.
    let err = w
        .submit(json!({"flow": "spark-pi", "max_runtime": "soon"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_runtime"), "{err}");
}

#[tokio::test]
async fn a_huge_terminate_reason_is_refused_and_writes_nothing() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let err = ops::terminate(
        w.svc(),
        json!({"flow_id": submitted.flow_id, "reason": "x".repeat(400 * 1024)}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "ValidationError");
    assert!(
        err.to_string().contains("reason: is 409600 bytes; at most 1024"),
        "{err}"
    );
    let record = w.record(submitted.flow_id).await;
    assert!(record.termination.is_none());
    assert_ne!(
        cluster_state(&w, submitted.cluster_id.as_ref().unwrap()).await,
        "TERMINATED"
    );
}

#[tokio::test]
async fn racing_events_on_an_ending_flow_send_its_callback_once() {
    let w = world_behind_proxy().await;
    let receiver = Receiver::start(TEST_SECRET);
    let submitted = w
        .submit(json!({"flow": "spark-pi", "callbacks": callback(&receiver)}))
        .await
        .unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap();
    let record = w.record(submitted.flow_id).await;
    w.send("lifecycle-success/04-step-COMPLETED.json", &record).await;
    // WHEN 20 copies of the terminal event are handled at once
    let end = emr_event("lifecycle-success/05-cluster-TERMINATED.json", &cluster_id);
    let results = futures_util::future::join_all((0..20).map(|_| on_event(&w, end.clone()))).await;
    // THEN each applies, one callback was sent, and the record counts exactly that send
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::Succeeded);
    assert_eq!(
        (record.deliveries["0"].status, record.deliveries["0"].attempts),
        (DeliveryStatus::Delivered, 1)
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn fifty_conflicting_events_at_once_all_apply() {
    let w = world_behind_proxy().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap();
    // 50 step events for 50 different steps of one flow, at once: every write races.
    let events: Vec<Value> = (0..50)
        .map(|i| {
            let mut e = event(
                "lifecycle-success/03-step-RUNNING.json",
                cluster_id.as_str(),
                &format!("s-RACE{i}"),
            );
            e["detail"]["name"] = format!("step {i}").into();
            e
        })
        .collect();
    let results = futures_util::future::join_all(events.into_iter().map(|e| on_event(&w, e))).await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(failed.is_empty(), "{} failed: {:?}", failed.len(), failed.first());
    let record = w.record(submitted.flow_id).await;
    assert_eq!(
        record.steps.len(),
        51,
        "the definition's step and the 50 racing ones"
    );
}

#[tokio::test]
async fn a_stalled_stand_in_fails_the_event_in_time_instead_of_hanging() {
    let w = world_behind_proxy().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let proxy = w.proxy.as_ref().unwrap();
    proxy.pause().await;
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(55),
        on_event(
            &w,
            emr_event(
                "lifecycle-success/02-cluster-RUNNING.json",
                submitted.cluster_id.as_ref().unwrap(),
            ),
        ),
    )
    .await;
    proxy.resume().await;
    let err = outcome
        .expect("answered before on-state-change's own timeout")
        .unwrap_err();
    assert_eq!(err.code(), "UpstreamError", "{err}");
    assert!(started.elapsed() <= emr_flows::config::OPERATION_TIMEOUT + Duration::from_secs(5));
}

#[tokio::test]
async fn a_failed_steps_log_becomes_its_probable_cause_once_emr_pushes_it() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&integration_tests::world::MOTO.get().unwrap().sdk().await)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket("emr-flows-pages").send().await;
    // GIVEN a flow whose definition logs to s3://emr-flows-pages/logs/, failing at its step
    let submitted = w
        .submit(json!({"flow": "pages-es-index-updater", "params": {"domain_id": 7}, "callbacks": callback(&receiver)}))
        .await
        .unwrap();
    let record = w.record(submitted.flow_id).await;
    w.send("lifecycle-failure/04-step-FAILED.json", &record).await;
    w.send(
        "lifecycle-failure/05-cluster-TERMINATED_WITH_ERRORS.json",
        &record,
    )
    .await;
    let failed = w.record(submitted.flow_id).await;
    assert_eq!(failed.status, FlowStatus::Failed);
    let step = failed.failure.as_ref().unwrap().failed_step.clone().unwrap();
    assert_eq!(step.probable_cause, None, "EMR has not pushed the log yet");
    assert_eq!(
        failed.normalized_instance_hours,
        Some(0),
        "moto's DescribeCluster answers 0"
    );
    // WHEN EMR pushes the step's stderr.gz, and the sweep runs
    let log = format!(
        "{}Exception in thread \"main\" java.io.FileNotFoundException: s3://in/missing\n",
        "INFO noise\n".repeat(5000)
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, log.as_bytes()).unwrap();
    s3.put_object()
        .bucket("emr-flows-pages")
        .key(format!(
            "logs/{}/steps/{}/stderr.gz",
            failed.cluster_id.as_ref().unwrap(),
            step.id
        ))
        .body(gz.finish().unwrap().into())
        .send()
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::minutes(5));
    let report = sweep(&w).await;
    assert!(report.errors.is_empty(), "{report:?}");
    // THEN the record names the probable cause: the end of the log, bounded
    let cause = w
        .record(submitted.flow_id)
        .await
        .failure
        .unwrap()
        .failed_step
        .unwrap()
        .probable_cause
        .unwrap();
    assert!(
        cause.ends_with("java.io.FileNotFoundException: s3://in/missing\n"),
        "{cause:.80}"
    );
    assert!(cause.len() <= emr_flows::model::MAX_PROBABLE_CAUSE_BYTES);
    // AND the callback carried the instance hours
    assert_eq!(receiver.received()[0]["body"]["normalized_instance_hours"], 0);
}

#[tokio::test]
async fn what_a_quiet_flow_costs_an_hour_of_sweeps() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap();
    on_event(
        &w,
        emr_event("lifecycle-success/02-cluster-RUNNING.json", &cluster_id),
    )
    .await
    .unwrap();
    // GIVEN a running flow EMR says nothing more about (a long step, or every event lost)
    proxy.clear_requests().await;
    for _ in 0..12 {
        w.clock.advance(chrono::Duration::minutes(5));
        sweep(&w).await;
    }
    // THEN an hour of 12 sweeps asks EMR about it 6 times (every 10 minutes of silence)
    let counts = proxy.counts().await;
    println!("an hour of sweeps over one quiet running flow: {counts:?}");
    assert_eq!(counts.get("DescribeCluster"), Some(&6), "{counts:?}");
    // moto reports its clusters WAITING, so each check also lists the steps (a RUNNING
    // cluster in AWS needs no step list).
    assert_eq!(counts.get("ListSteps"), Some(&6), "{counts:?}");
    // Each sweep: the lease (put, delete) and the index (two partitions); each check: one
    // read and one write of the record.
    assert_eq!(counts.get("Query"), Some(&(12 * 2 + 6)), "{counts:?}");
    assert_eq!(counts.get("PutItem"), Some(&(12 + 6)), "{counts:?}");
    assert_eq!(counts.get("DeleteItem"), Some(&12), "{counts:?}");
    assert_eq!(counts.get("GetItem"), None, "{counts:?}");
    assert_eq!(w.record(submitted.flow_id).await.status, FlowStatus::Running);
}
