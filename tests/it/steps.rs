//! Steps on a long-running cluster (the steps target), against moto behind the serializing fault
//! proxy (which also stands in for CancelSteps, which moto lacks): several flows on one cluster,
//! each owning only its own steps, an operator's step among them, the cluster ending under
//! several flows, a lost AddJobFlowSteps answer, cancellations EMR takes and carries out (or
//! never does), `max_runtime`, and the reads a cluster event costs however many flows ended on
//! the cluster. The last test runs the lifecycle through the real binaries.

use std::time::Duration;

use emr_flows::model::{
    ADD_STEPS_LOST, CLUSTER_ENDED, ClusterId, FlowId, FlowRecord, FlowStatus, MAX_RUNTIME_EXCEEDED,
    StepState, Target,
};
use emr_flows::ops::{self, StateChangeOutcome};
use integration_tests::functions::Functions;
use integration_tests::world::{World, world_behind_proxy};
use integration_tests::{Moto, Receiver, TEST_SECRET, create_table, event, unique_table};
use serde_json::{Value, json};

const BUDGET: Duration = Duration::from_secs(60);

/// A long-running cluster in moto (kept alive without steps), named `name`, tagged `tags`.
async fn shared_cluster(emr: &aws_sdk_emr::Client, name: &str, tags: &[(&str, &str)]) -> ClusterId {
    logging_cluster(emr, name, tags, None).await
}

/// [`shared_cluster`] with the cluster's `LogUri`.
async fn logging_cluster(
    emr: &aws_sdk_emr::Client,
    name: &str,
    tags: &[(&str, &str)],
    log_uri: Option<&str>,
) -> ClusterId {
    let launched = emr
        .run_job_flow()
        .name(name)
        .set_log_uri(log_uri.map(str::to_owned))
        .release_label("emr-7.13.0")
        .instances(
            aws_sdk_emr::types::JobFlowInstancesConfig::builder()
                .instance_count(3)
                .master_instance_type("m5.xlarge")
                .slave_instance_type("m5.xlarge")
                .keep_job_flow_alive_when_no_steps(true)
                .build(),
        )
        .job_flow_role("EMR_EC2_DefaultRole")
        .service_role("EMR_DefaultRole")
        .set_tags(Some(
            (tags.iter())
                .map(|(k, v)| aws_sdk_emr::types::Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        // Once: a retry after a slow answer would launch a second cluster of that name.
        .customize()
        .config_override(
            aws_sdk_emr::Config::builder()
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .timeout_config(aws_config::timeout::TimeoutConfig::disabled()),
        )
        .send()
        .await
        .unwrap();
    ClusterId::parse(launched.job_flow_id().unwrap()).unwrap()
}

/// Submits an index update of `domain` as a step on `cluster_id`.
async fn submit_on(w: &World, cluster_id: &ClusterId, domain: u32, extra: Value) -> FlowId {
    let mut request = json!({
        "flow": "pages-es-index-shared",
        "params": {"domain_id": domain, "cluster_id": cluster_id.as_str()},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        request[k] = v.clone();
    }
    w.submit(request).await.unwrap().flow_id
}

/// "EMR Step Status Change" for a step of `cluster_id`.
fn step_event(cluster_id: &str, step_id: &str, name: &str, state: &str) -> Value {
    let mut event = event("real/events/step-FAILED-CONTINUE.json", "j-0", "s-0");
    event["detail"]["clusterId"] = cluster_id.into();
    event["detail"]["stepId"] = step_id.into();
    event["detail"]["name"] = name.into();
    event["detail"]["state"] = state.into();
    event
}

/// "EMR Cluster State Change" of `cluster_id` from a published event.
fn cluster_event(file: &str, cluster_id: &ClusterId) -> Value {
    let mut event = event(&format!("real/events/{file}"), "j-0", "s-0");
    event["detail"]["clusterId"] = cluster_id.as_str().into();
    event
}

/// The flow's one step: its id and (marked) name.
fn own_step(record: &FlowRecord) -> (String, String) {
    let (id, step) = record.ordered_steps()[0];
    (id.to_string(), step.name.clone())
}

async fn send(w: &World, event: Value) -> StateChangeOutcome {
    ops::on_state_change(w.svc(), event, BUDGET).await.unwrap()
}

/// Adds a step by hand, as an operator would (straight to moto).
async fn operator_step(w: &World, cluster_id: &ClusterId, name: &str) -> String {
    let added = w
        .emr_client
        .add_job_flow_steps()
        .job_flow_id(cluster_id.as_str())
        .steps(
            aws_sdk_emr::types::StepConfig::builder()
                .name(name)
                .action_on_failure(aws_sdk_emr::types::ActionOnFailure::Continue)
                .hadoop_jar_step(
                    aws_sdk_emr::types::HadoopJarStepConfig::builder()
                        .jar("command-runner.jar")
                        .args("true")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    added.step_ids()[0].clone()
}

#[tokio::test]
async fn two_flows_on_one_cluster_each_own_only_their_steps() {
    // GIVEN two flows on one shared cluster, and an operator's step among theirs
    let w = world_behind_proxy().await;
    let receiver = Receiver::start(TEST_SECRET);
    let callbacks = json!({"callbacks": [{"http": {"url": receiver.url}}]});
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[("team", "search")]).await;
    let a = submit_on(&w, &cluster_id, 7, callbacks.clone()).await;
    let b = submit_on(&w, &cluster_id, 8, callbacks).await;
    let (ra, rb) = (w.record(a).await, w.record(b).await);
    assert_eq!((ra.target, ra.status), (Target::Steps, FlowStatus::Starting));
    assert_eq!(ra.cluster_id.as_ref(), Some(&cluster_id));
    assert_eq!(ra.steps.len(), 1, "exactly its own step");
    let ((a_step, a_name), (b_step, b_name)) = (own_step(&ra), own_step(&rb));
    assert_eq!(a_name, format!("index domain 7 [flow {a}]"));
    assert_ne!(a_step, b_step);
    // Listed with the cluster their steps run on.
    let active = ops::list(&w.submitter.catalog, &w.svc().store, json!({"status": "active"}))
        .await
        .unwrap();
    for flow in active["flows"].as_array().unwrap() {
        assert_eq!(
            (&flow["target"], &flow["cluster_id"]),
            (&json!("steps"), &json!(cluster_id.as_str())),
            "{flow}"
        );
    }
    let adhoc = operator_step(&w, &cluster_id, "adhoc-debug").await;
    let c = cluster_id.as_str();

    // WHEN their events arrive interleaved and duplicated, the operator's among them
    for event in [
        step_event(c, &b_step, &b_name, "RUNNING"),
        step_event(c, &a_step, &a_name, "RUNNING"),
        step_event(c, &adhoc, "adhoc-debug", "RUNNING"),
        step_event(c, &a_step, &a_name, "RUNNING"),
        cluster_event("cluster-WAITING.json", &cluster_id),
        step_event(c, &adhoc, "adhoc-debug", "FAILED"),
        step_event(c, &a_step, &a_name, "COMPLETED"),
        step_event(c, &b_step, &b_name, "FAILED"),
        step_event(c, &a_step, &a_name, "COMPLETED"),
        step_event(c, &b_step, &b_name, "FAILED"),
        step_event(c, &a_step, &a_name, "RUNNING"),
    ] {
        send(&w, event).await;
    }

    // THEN each flow's outcome comes from its own step only
    let (ra, rb) = (w.record(a).await, w.record(b).await);
    assert_eq!(ra.status, FlowStatus::Succeeded);
    assert_eq!(ra.failure, None);
    assert_eq!(rb.status, FlowStatus::Failed);
    let failed = rb.failure.as_ref().unwrap().failed_step.as_ref().unwrap();
    assert_eq!(
        (failed.id.as_str(), failed.state.clone()),
        (b_step.as_str(), StepState::Failed)
    );
    assert_eq!(rb.failure.as_ref().unwrap().code.as_deref(), Some("STEP_FAILURE"));
    // AND neither record holds the operator's step; each was called back once
    for record in [&ra, &rb] {
        assert_eq!(record.steps.len(), 1, "{:?}", record.steps);
        assert!(!record.steps.keys().any(|id| id.as_str() == adhoc));
    }
    let mut seen: Vec<(String, String)> = (receiver.received().iter())
        .map(|r| {
            (
                r["body"]["flow_id"].as_str().unwrap().to_owned(),
                r["body"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (a.to_string(), "SUCCEEDED".to_owned()),
        (b.to_string(), "FAILED".to_owned()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    // AND the cluster was never terminated: it still takes steps
    let counts = w.proxy.as_ref().unwrap().counts().await;
    assert_eq!(counts.get("TerminateJobFlows"), None, "{counts:?}");
    assert_eq!(counts.get("AddJobFlowSteps"), Some(&2), "{counts:?}");
}

#[tokio::test]
async fn a_cluster_ending_under_several_flows_fails_only_the_unfinished_naming_its_reason() {
    let w = world_behind_proxy().await;
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[]).await;
    let done = submit_on(&w, &cluster_id, 1, json!({})).await;
    let running: Vec<FlowId> = {
        let mut flows = Vec::new();
        for domain in 2..5 {
            flows.push(submit_on(&w, &cluster_id, domain, json!({})).await);
        }
        flows
    };
    let (step, name) = own_step(&w.record(done).await);
    send(&w, step_event(cluster_id.as_str(), &step, &name, "COMPLETED")).await;
    assert_eq!(w.record(done).await.status, FlowStatus::Succeeded);
    // WAITING never ends a step flow
    send(&w, cluster_event("cluster-WAITING.json", &cluster_id)).await;
    for flow in &running {
        assert_eq!(w.record(*flow).await.status, FlowStatus::Starting);
    }
    // WHEN the cluster ends with errors under the three unfinished flows
    let outcome = send(
        &w,
        cluster_event("cluster-TERMINATED_WITH_ERRORS-STEP_FAILURE.json", &cluster_id),
    )
    .await;
    // THEN each of them (and only they) ends FAILED naming the cluster and its reason
    let StateChangeOutcome::AppliedToFlows { flows } = outcome else {
        panic!("several flows: {outcome:?}")
    };
    let mut touched: Vec<FlowId> = flows.iter().map(|f| f.flow_id).collect();
    touched.sort();
    let mut expected = running.clone();
    expected.sort();
    assert_eq!(touched, expected);
    for flow in &running {
        let record = w.record(*flow).await;
        assert_eq!(record.status, FlowStatus::Failed);
        let failure = record.failure.unwrap();
        assert_eq!(failure.code.as_deref(), Some(CLUSTER_ENDED));
        let message = failure.message.unwrap();
        assert!(
            message.starts_with(&format!(
                "cluster {cluster_id} ended TERMINATED_WITH_ERRORS (STEP_FAILURE: Shut down as step failed)"
            )),
            "{message}"
        );
    }
    assert_eq!(
        w.record(done).await.status,
        FlowStatus::Succeeded,
        "an ended flow stays as it was"
    );
    // A duplicate of the ending reads no flow: none is active on the cluster any more.
    let again = send(
        &w,
        cluster_event("cluster-TERMINATED_WITH_ERRORS-STEP_FAILURE.json", &cluster_id),
    )
    .await;
    assert!(matches!(again, StateChangeOutcome::Ignored { .. }), "{again:?}");
}

#[tokio::test]
async fn a_cluster_not_found_or_found_twice_or_not_allowed_is_named_and_nothing_written() {
    let w = world_behind_proxy().await;
    // By id: EMR knows no such cluster.
    let err = w
        .submit(json!({"flow": "pages-es-index-shared", "params": {"domain_id": 1, "cluster_id": "j-NOSUCHCLUSTER"}}))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cluster: EMR describes no cluster with id j-NOSUCHCLUSTER"),
        "{err}"
    );
    // By name and tags, through the definition's section: none, then two.
    let name = format!("etl-shared-{}", FlowId::generate());
    let steps = emr_flows::catalog::cluster_steps::StepsRequest::check(
        json!({"name": name, "tags": {"team": "search"}}),
        vec![json!({"name": "a", "jar": {"jar": "s3://b/a.jar"}})],
        "us-east-1",
        FlowId::generate(),
    )
    .unwrap();
    let none = emr_flows::targets::steps::launch::resolve(w.svc(), &steps)
        .await
        .unwrap_err();
    assert!(
        none.to_string().contains(
            &format!("cluster: no cluster in STARTING, BOOTSTRAPPING, RUNNING, WAITING has name \"{name}\" and tags team=search")
        ),
        "{none}"
    );
    let first = shared_cluster(&w.emr_client, &name, &[("team", "search")]).await;
    let found = emr_flows::targets::steps::launch::resolve(w.svc(), &steps)
        .await
        .unwrap();
    assert_eq!(found.cluster_id(), Some(first.clone()));
    let second = shared_cluster(&w.emr_client, &name, &[("team", "search")]).await;
    let several = emr_flows::targets::steps::launch::resolve(w.svc(), &steps)
        .await
        .unwrap_err();
    let several = several.to_string();
    assert!(
        several.contains(&format!(
            "cluster: 2 clusters have name \"{name}\" and tags team=search ("
        )),
        "{several}"
    );
    assert!(
        several.contains(first.as_str()) && several.contains(second.as_str()),
        "{several}"
    );
    // A cluster without the stack's allowed tag is refused.
    let mut svc = w.svc().clone();
    svc.emr = svc
        .emr
        .clone()
        .with_step_cluster_tags([("emr-flows:steps".to_owned(), "shared".to_owned())].into());
    let by_id = steps.for_cluster(&first);
    let refused = emr_flows::targets::steps::launch::resolve(&svc, &by_id)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains(&format!(
            "cluster {first} does not carry the tag emr-flows:steps=shared"
        )),
        "{refused}"
    );
    assert_eq!(w.item_count().await, 0, "nothing written");
    let counts = w.proxy.as_ref().unwrap().counts().await;
    assert_eq!(counts.get("AddJobFlowSteps"), None, "{counts:?}");
}

#[tokio::test]
async fn a_lost_add_job_flow_steps_answer_is_resolved_by_the_marker_or_fails_the_flow() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[]).await;
    // Applied, but answered 500: sent once, its step found by the flow's marker.
    proxy.fault("AddJobFlowSteps", "error_500", 1, 0.0).await;
    let found = submit_on(&w, &cluster_id, 1, json!({})).await;
    let record = w.record(found).await;
    assert_eq!(record.status, FlowStatus::Starting, "{record:?}");
    assert_eq!(record.steps.len(), 1);
    assert!(record.launch_error.is_some());
    assert_eq!(proxy.counts().await.get("AddJobFlowSteps"), Some(&1));
    // Never applied: the flow waits, then the sweep finds no marked step and fails it.
    proxy.fault("AddJobFlowSteps", "fail_500", 1, 0.0).await;
    let lost = submit_on(&w, &cluster_id, 2, json!({})).await;
    assert_eq!(w.record(lost).await.status, FlowStatus::Pending);
    w.clock.advance(chrono::Duration::minutes(4));
    ops::sweep(w.svc(), BUDGET).await.unwrap();
    let record = w.record(lost).await;
    assert_eq!(record.status, FlowStatus::Failed);
    let failure = record.failure.unwrap();
    assert_eq!(failure.code.as_deref(), Some(ADD_STEPS_LOST));
    assert!(failure.message.unwrap().contains(cluster_id.as_str()));
    assert_eq!(
        proxy.counts().await.get("AddJobFlowSteps"),
        Some(&2),
        "never sent twice"
    );
}

#[tokio::test]
async fn terminate_cancels_only_the_flows_steps_and_the_flow_ends_when_emr_cancels_them() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[]).await;
    let mine = submit_on(&w, &cluster_id, 1, json!({})).await;
    let other = submit_on(&w, &cluster_id, 2, json!({})).await;
    let (step, name) = own_step(&w.record(mine).await);
    send(&w, step_event(cluster_id.as_str(), &step, &name, "RUNNING")).await;

    // WHEN it is terminated: CancelSteps for its step only; EMR takes it (SUBMITTED)
    let answer = ops::terminate(w.svc(), json!({"flow_id": mine})).await.unwrap();
    assert_eq!(answer.status, FlowStatus::Running, "SUBMITTED is not CANCELLED");
    assert!(answer.termination_accepted_at.is_some());
    let record = w.record(mine).await;
    let termination = record.termination.as_ref().unwrap();
    assert_eq!(
        termination.answer.as_deref(),
        Some(format!("CancelSteps: {step} SUBMITTED").as_str())
    );
    let log = proxy.requests().await["log"].clone();
    let asked: Vec<&Value> = (log.as_array().unwrap().iter())
        .filter(|e| e["op"] == "CancelSteps")
        .map(|e| &e["request"]["StepIds"])
        .collect();
    assert_eq!(asked, [&json!([step])]);
    // THEN the flow is CANCELLED once EMR reports its step cancelled; the other flow runs on
    send(
        &w,
        step_event(cluster_id.as_str(), &step, &name, "CANCEL_PENDING"),
    )
    .await;
    assert_eq!(w.record(mine).await.status, FlowStatus::Running);
    send(&w, step_event(cluster_id.as_str(), &step, &name, "CANCELLED")).await;
    assert_eq!(w.record(mine).await.status, FlowStatus::Cancelled);
    assert_eq!(w.record(other).await.status, FlowStatus::Starting);
    let counts = proxy.counts().await;
    assert_eq!(
        counts.get("TerminateJobFlows"),
        None,
        "the shared cluster is never terminated"
    );

    // WHEN EMR takes a cancellation and never carries it out, the sweep asks again
    let answer = ops::terminate(w.svc(), json!({"flow_id": other})).await.unwrap();
    assert!(answer.termination_accepted_at.is_some());
    w.clock.advance(chrono::Duration::minutes(16));
    ops::sweep(w.svc(), BUDGET).await.unwrap();
    let record = w.record(other).await;
    assert_eq!(record.status, FlowStatus::Starting, "still not cancelled by EMR");
    assert_eq!(record.termination.as_ref().unwrap().attempts, 2);
    assert_eq!(proxy.counts().await.get("CancelSteps"), Some(&3));
    // AND a cancellation EMR refuses is answered as an error, recorded, and tried again
    let third = submit_on(&w, &cluster_id, 3, json!({})).await;
    proxy.fault("CancelSteps", "refuse_cancel", 1, 0.0).await;
    let err = ops::terminate(w.svc(), json!({"flow_id": third}))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("FAILED (step not cancellable (stand-in))"),
        "{err}"
    );
    let termination = w.record(third).await.termination.unwrap();
    assert_eq!((termination.attempts, termination.accepted_at), (1, None));
}

#[tokio::test]
async fn a_step_flow_past_its_max_runtime_has_its_steps_cancelled_and_ends_timed_out() {
    let w = world_behind_proxy().await;
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[]).await;
    let flow = submit_on(&w, &cluster_id, 1, json!({"max_runtime": "1h"})).await;
    let (step, name) = own_step(&w.record(flow).await);
    send(&w, step_event(cluster_id.as_str(), &step, &name, "RUNNING")).await;
    w.clock.advance(chrono::Duration::minutes(61));
    ops::sweep(w.svc(), BUDGET).await.unwrap();
    let record = w.record(flow).await;
    assert!(record.termination.as_ref().unwrap().accepted_at.is_some());
    assert_eq!(
        w.proxy.as_ref().unwrap().counts().await.get("CancelSteps"),
        Some(&1)
    );
    send(&w, step_event(cluster_id.as_str(), &step, &name, "CANCELLED")).await;
    let record = w.record(flow).await;
    assert_eq!(record.status, FlowStatus::TimedOut);
    assert_eq!(
        record.failure.unwrap().code.as_deref(),
        Some(MAX_RUNTIME_EXCEEDED)
    );
}

/// DynamoDB reads (Query, GetItem, BatchGetItem) the proxy saw since it was last cleared.
async fn reads(w: &World) -> u64 {
    let counts = w.proxy.as_ref().unwrap().counts().await;
    ["Query", "GetItem", "BatchGetItem", "Scan"]
        .iter()
        .map(|op| counts.get(*op).copied().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn the_reads_a_cluster_event_costs_stay_flat_with_a_thousand_ended_flows() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[]).await;
    // Reads of an ending event with one active flow on the cluster.
    let measure = |domain: u32| {
        let w = &w;
        let cluster_id = cluster_id.clone();
        async move {
            let flow = submit_on(w, &cluster_id, domain, json!({})).await;
            proxy.clear_requests().await;
            let outcome = send(
                w,
                cluster_event("cluster-TERMINATED-USER_REQUEST.json", &cluster_id),
            )
            .await;
            assert!(
                matches!(outcome, StateChangeOutcome::Applied { flow_id, .. } if flow_id == flow),
                "{outcome:?}"
            );
            reads(w).await
        }
    };
    // moto keeps a terminated cluster terminated: the flows are written on a live cluster.
    let fresh = measure(1).await;
    // GIVEN a thousand ended step flows on the same cluster
    let ended_at = w.clock.now();
    for i in 0..1000 {
        let record = FlowRecord {
            target: Target::Steps,
            status: FlowStatus::Succeeded,
            cluster_id: Some(cluster_id.clone()),
            ended_at: Some(ended_at),
            ..FlowRecord::pending(FlowId::generate(), "pages-es-index-shared", "1", "", ended_at)
        };
        w.svc().store.create(&record, None, ended_at).await.unwrap();
        if i == 0 {
            assert_eq!(
                w.record(record.flow_id).await.cluster_id.as_ref(),
                Some(&cluster_id)
            );
        }
    }
    // WHEN the cluster's ending is sent again with one active flow
    let crowded = measure(2).await;
    // THEN it reads as much as with none ended there
    assert_eq!(
        crowded, fresh,
        "reads per event: {fresh} with 1 flow seen, {crowded} with 1002"
    );
    eprintln!(
        "reads per cluster-ending event: {fresh} (1 active flow, 1 seen), {crowded} (1 active, 1002 seen)"
    );
}

#[tokio::test]
async fn step_flows_run_end_to_end_through_the_real_functions() {
    // GIVEN the functions behind the serializing proxy and a shared cluster
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("steps-e2e");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let proxy = integration_tests::proxy::FaultProxy::start(&moto.endpoint);
    let functions = Functions::start(
        &proxy.endpoint,
        &table,
        &[("STEP_CLUSTER_TAGS", "\"emr-flows:steps=shared\"")],
    )
    .await;
    let emr = aws_sdk_emr::Client::new(&sdk);
    let cluster_id = shared_cluster(&emr, "shared-etl", &[("emr-flows:steps", "shared")]).await;
    let other = shared_cluster(&emr, "not-ours", &[]).await;
    let refused = functions
        .invoke(
            "submit",
            &json!({"flow": "pages-es-index-shared", "params": {"domain_id": 1, "cluster_id": other.as_str()}}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused["errorType"], "ValidationError", "{refused}");
    // A flow with the shortest max_runtime, swept by hand once it passed.
    let timed = functions
        .invoke(
            "submit",
            &json!({"flow": "pages-es-index-shared", "max_runtime": "1m",
                    "params": {"domain_id": 99, "cluster_id": cluster_id.as_str()}}),
        )
        .await
        .unwrap();
    let timed_at = std::time::Instant::now();
    let timed_id = timed["flow_id"].as_str().unwrap().to_owned();

    // WHEN twenty flows are submitted on it and their events arrive interleaved and duplicated,
    // with an operator's step among them
    let mut flows = Vec::new();
    for domain in 1..=20 {
        let submitted = functions
            .invoke(
                "submit",
                &json!({"flow": "pages-es-index-shared", "params": {"domain_id": domain, "cluster_id": cluster_id.as_str()}}),
            )
            .await
            .unwrap();
        assert_eq!(submitted["status"], "STARTING", "{submitted}");
        let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
        let record = functions.record(&flow_id).await;
        assert_eq!(record["target"], "steps", "{record}");
        let (step_id, step) = record["steps"].as_object().unwrap().iter().next().unwrap();
        flows.push((
            flow_id,
            step_id.clone(),
            step["name"].as_str().unwrap().to_owned(),
        ));
    }
    let adhoc = operator_step_on(&emr, &cluster_id).await;
    let c = cluster_id.as_str();
    let mut events = vec![
        step_event(c, &adhoc, "adhoc-debug", "RUNNING"),
        step_event(c, &adhoc, "adhoc-debug", "FAILED"),
    ];
    for (i, (_, step, name)) in flows.iter().enumerate() {
        events.push(step_event(c, step, name, "RUNNING"));
        // The first ten complete, the next five fail, the last five still run when the cluster ends.
        let end = match i {
            0..10 => Some("COMPLETED"),
            10..15 => Some("FAILED"),
            _ => None,
        };
        if let Some(end) = end {
            events.push(step_event(c, step, name, end));
            events.push(step_event(c, step, name, end));
        }
    }
    // Interleaved: a fixed shuffle (stride through the list), all sent at once.
    let n = events.len();
    let order: Vec<usize> = (0..n).map(|i| (i * 7) % n).collect();
    assert_eq!(
        order.iter().collect::<std::collections::BTreeSet<_>>().len(),
        n,
        "7 and {n} coprime"
    );
    let sends = order
        .iter()
        .map(|&i| functions.invoke("on-state-change", &events[i]));
    for answer in futures_util::future::join_all(sends).await {
        answer.unwrap();
    }
    // One of the running flows is terminated: CancelSteps for its step, taken by EMR, not yet
    // carried out; then EMR reports the step cancelled.
    let (cancelled, step, name) = &flows[19];
    let answer = functions
        .invoke("terminate", &json!({"flow_id": cancelled}))
        .await
        .unwrap();
    assert_eq!(answer["status"], "RUNNING", "{answer}");
    assert!(answer["termination_accepted_at"].is_string(), "{answer}");
    assert_eq!(
        answer["emr_answer"],
        format!("CancelSteps: {step} SUBMITTED"),
        "{answer}"
    );
    let event = step_event(c, step, name, "CANCELLED");
    functions.invoke("on-state-change", &event).await.unwrap();
    // The max_runtime flow: past its deadline, the sweep cancels its step; EMR's CANCELLED
    // ends it TIMED_OUT.
    let wait = Duration::from_secs(62).saturating_sub(timed_at.elapsed());
    tokio::time::sleep(wait).await;
    let swept = functions
        .invoke("on-state-change", &json!({"reconcile": true}))
        .await
        .unwrap();
    assert_eq!(swept["reconciled"]["errors"], json!([]), "{swept}");
    let record = functions.record(&timed_id).await;
    assert!(record["termination"]["accepted_at"].is_string(), "{record}");
    let (timed_step, timed_step_record) = record["steps"].as_object().unwrap().iter().next().unwrap();
    let event = step_event(
        c,
        timed_step,
        timed_step_record["name"].as_str().unwrap(),
        "CANCELLED",
    );
    functions.invoke("on-state-change", &event).await.unwrap();
    let record = functions.record(&timed_id).await;
    assert_eq!(
        (&record["status"], &record["failure"]["code"]),
        (&json!("TIMED_OUT"), &json!(MAX_RUNTIME_EXCEEDED)),
        "{record}"
    );
    // The cluster ends under the four flows still running.
    let ending = cluster_event("cluster-TERMINATED-USER_REQUEST.json", &cluster_id);
    let answer = functions.invoke("on-state-change", &ending).await.unwrap();
    assert_eq!(
        answer["applied_to_flows"]["flows"].as_array().map(Vec::len),
        Some(4),
        "{answer}"
    );

    // THEN each flow's outcome is its own step's; the cluster's end fails only the unfinished
    for (i, (flow_id, step, _)) in flows.iter().enumerate() {
        let record = functions.record(flow_id).await;
        let (status, code) = match i {
            0..10 => ("SUCCEEDED", Value::Null),
            10..15 => ("FAILED", json!("STEP_FAILURE")),
            19 => ("CANCELLED", Value::Null),
            _ => ("FAILED", json!(CLUSTER_ENDED)),
        };
        assert_eq!(
            (&record["status"], &record["failure"]["code"]),
            (&json!(status), &code),
            "{i}: {record}"
        );
        assert_eq!(
            record["steps"].as_object().unwrap().keys().collect::<Vec<_>>(),
            [step]
        );
    }
    let counts = proxy.counts().await;
    assert_eq!(counts.get("AddJobFlowSteps"), Some(&21), "{counts:?}");
    assert_eq!(counts.get("CancelSteps"), Some(&2), "{counts:?}");
    assert_eq!(
        counts.get("TerminateJobFlows"),
        None,
        "the shared cluster is never terminated"
    );
}

async fn operator_step_on(emr: &aws_sdk_emr::Client, cluster_id: &ClusterId) -> String {
    let added = emr
        .add_job_flow_steps()
        .job_flow_id(cluster_id.as_str())
        .steps(
            aws_sdk_emr::types::StepConfig::builder()
                .name("adhoc-debug")
                .hadoop_jar_step(
                    aws_sdk_emr::types::HadoopJarStepConfig::builder()
                        .jar("command-runner.jar")
                        .args("true")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    added.step_ids()[0].clone()
}

#[tokio::test]
async fn the_runtime_role_and_the_marked_steps_reach_add_job_flow_steps_as_checked() {
    // moto drops ExecutionRoleArn: the proxy keeps the request as sent.
    let w = world_behind_proxy().await;
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[]).await;
    let flow_id = FlowId::generate();
    let role = "arn:aws:iam::123456789012:role/index-updater";
    let request = emr_flows::catalog::cluster_steps::StepsRequest::check(
        json!({"id": cluster_id.as_str(), "execution_role_arn": role}),
        vec![json!({"name": "index domain 7", "spark": {"application": "s3://b/index.py"}})],
        "us-east-1",
        flow_id,
    )
    .unwrap();
    let added = w.svc().emr.add_job_flow_steps(&cluster_id, &request).await;
    assert!(
        matches!(&added, emr_flows::aws::emr::AddSteps::Added(ids) if ids.len() == 1),
        "{added:?}"
    );
    let log = w.proxy.as_ref().unwrap().requests().await["log"].clone();
    let sent = (log.as_array().unwrap().iter())
        .find(|e| e["op"] == "AddJobFlowSteps")
        .expect("AddJobFlowSteps sent")["request"]
        .clone();
    assert_eq!(sent["JobFlowId"], cluster_id.as_str());
    assert_eq!(sent["ExecutionRoleArn"], role);
    assert_eq!(
        sent["Steps"][0]["Name"],
        format!("index domain 7 [flow {flow_id}]")
    );
    assert_eq!(sent["Steps"][0]["ActionOnFailure"], "CONTINUE");
    assert_eq!(sent["Steps"][0]["HadoopJarStep"]["Jar"], "command-runner.jar");
}

#[tokio::test]
async fn a_failed_steps_log_under_the_clusters_log_uri_becomes_its_probable_cause() {
    // GIVEN a step flow failed on a cluster logging to S3 (its step has no log location of its
    // own: moto refuses StepMonitoringConfiguration)
    let w = world_behind_proxy().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&integration_tests::world::MOTO.get().unwrap().sdk().await)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("shared-logs-{}", FlowId::generate().to_string().to_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let log_uri = format!("s3://{bucket}/logs/");
    let cluster_id = logging_cluster(&w.emr_client, "shared-etl", &[], Some(&log_uri)).await;
    let flow = submit_on(&w, &cluster_id, 7, json!({})).await;
    let (step, name) = own_step(&w.record(flow).await);
    send(&w, step_event(cluster_id.as_str(), &step, &name, "FAILED")).await;
    let failed = w.record(flow).await;
    assert_eq!(failed.status, FlowStatus::Failed);
    assert_eq!(
        failed
            .failure
            .as_ref()
            .unwrap()
            .failed_step
            .as_ref()
            .unwrap()
            .probable_cause,
        None
    );
    assert_eq!(
        failed.normalized_instance_hours, None,
        "the cluster's hours are not the flow's"
    );
    // WHEN EMR pushes the step's stderr.gz under the cluster's LogUri and the sweep runs
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"INFO start\nException: index 7 has no mapping\n").unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(format!("logs/{cluster_id}/steps/{step}/stderr.gz"))
        .body(gz.finish().unwrap().into())
        .send()
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::minutes(5));
    let report = ops::sweep(w.svc(), BUDGET).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    // THEN the flow's failed step carries the end of its log as the probable cause
    let cause = w
        .record(flow)
        .await
        .failure
        .unwrap()
        .failed_step
        .unwrap()
        .probable_cause;
    assert_eq!(
        cause.as_deref(),
        Some("INFO start\nException: index 7 has no mapping\n")
    );
}

/// A step flow whose step has a log location of its own and a runtime role (API shape).
const OWN_LOGS: &str = r#"
name: own-logs
version: "1"
parameters:
  type: object
  required: [cluster_id, bucket]
  properties:
    cluster_id: {type: string}
    bucket: {type: string}
examples:
  - {cluster_id: j-2AXXXXXXGAPLF, bucket: b}
cluster:
  id: "{{ cluster_id }}"
  execution_role_arn: arn:aws:iam::123456789012:role/index-updater
steps:
  - Name: index with its own logs
    HadoopJarStep:
      Jar: command-runner.jar
      Args: [spark-submit, "s3://{{ bucket }}/index.py"]
    StepMonitoringConfiguration:
      S3MonitoringConfiguration:
        LogUri: "s3://{{ bucket }}/step-logs/"
"#;

#[tokio::test]
async fn a_failed_steps_own_log_location_wins_over_the_clusters() {
    // GIVEN a cluster logging to one place, and a step flow whose step logs to another
    let w = world_behind_proxy().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&integration_tests::world::MOTO.get().unwrap().sdk().await)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("own-logs-{}", FlowId::generate().to_string().to_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let cluster_logs = format!("s3://{bucket}/cluster-logs/");
    let cluster_id = logging_cluster(&w.emr_client, "shared-etl", &[], Some(&cluster_logs)).await;
    let submitter = ops::Submitter {
        catalog: emr_flows::catalog::definition::Catalog::from_sources(&[("own-logs.yaml", OWN_LOGS)])
            .unwrap(),
        policy: w.submitter.policy.clone(),
        services: w.svc().clone(),
        region: "us-east-1".into(),
    };
    let answer = ops::submit(
        &submitter,
        json!({"flow": "own-logs", "params": {"cluster_id": cluster_id.as_str(), "bucket": bucket}}),
    )
    .await
    .unwrap();
    let ops::SubmitAnswer::Launched(submitted) = answer else {
        panic!("a launch")
    };
    let sent = (w.proxy.as_ref().unwrap().requests().await["log"]
        .as_array()
        .unwrap()
        .iter())
    .find(|e| e["op"] == "AddJobFlowSteps")
    .unwrap()["request"]
        .clone();
    assert_eq!(
        sent["ExecutionRoleArn"],
        "arn:aws:iam::123456789012:role/index-updater"
    );
    assert_eq!(
        sent["Steps"][0]["StepMonitoringConfiguration"]["S3MonitoringConfiguration"]["LogUri"],
        format!("s3://{bucket}/step-logs/")
    );
    let (step, name) = own_step(&w.record(submitted.flow_id).await);
    send(&w, step_event(cluster_id.as_str(), &step, &name, "FAILED")).await;
    // WHEN EMR pushes a log in both places
    for (prefix, text) in [
        ("cluster-logs", "the cluster's\n"),
        ("step-logs", "the step's own\n"),
    ] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        s3.put_object()
            .bucket(&bucket)
            .key(format!("{prefix}/{cluster_id}/steps/{step}/stderr.gz"))
            .body(gz.finish().unwrap().into())
            .send()
            .await
            .unwrap();
    }
    w.clock.advance(chrono::Duration::minutes(5));
    ops::sweep(w.svc(), BUDGET).await.unwrap();
    // THEN the probable cause is the step's own log
    let cause = w
        .record(submitted.flow_id)
        .await
        .failure
        .unwrap()
        .failed_step
        .unwrap()
        .probable_cause;
    assert_eq!(cause.as_deref(), Some("the step's own\n"));
}

#[tokio::test]
async fn a_quiet_step_flow_is_repaired_from_its_own_steps_by_id() {
    // GIVEN two step flows and an operator's step on one cluster, and every event lost
    let w = world_behind_proxy().await;
    let cluster_id = shared_cluster(&w.emr_client, "shared-etl", &[]).await;
    let first = submit_on(&w, &cluster_id, 1, json!({})).await;
    let second = submit_on(&w, &cluster_id, 2, json!({})).await;
    operator_step(&w, &cluster_id, "adhoc-debug").await;
    w.proxy.as_ref().unwrap().clear_requests().await;
    // WHEN the sweep finds them quiet past REPAIR_AFTER
    w.clock.advance(chrono::Duration::minutes(11));
    let report = ops::sweep(w.svc(), BUDGET).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    // THEN each asked EMR for its own step by id (moto runs the cluster's first step), and
    // holds only that step
    let log = w.proxy.as_ref().unwrap().requests().await["log"].clone();
    let by_ids = (log.as_array().unwrap().iter())
        .filter(|e| e["op"] == "ListSteps")
        .count();
    assert_eq!(by_ids, 2, "one ListSteps by step ids per flow");
    let first = w.record(first).await;
    assert_eq!(first.status, FlowStatus::Running, "moto reports its step RUNNING");
    let second = w.record(second).await;
    assert_eq!(
        second.status,
        FlowStatus::Starting,
        "moto reports its step PENDING"
    );
    for record in [&first, &second] {
        assert_eq!(record.steps.len(), 1);
        assert!(
            record.last_contact_at > Some(record.submitted_at),
            "checked by the sweep"
        );
    }
}
