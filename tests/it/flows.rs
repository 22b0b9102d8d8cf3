//! The operations against the local stand-ins: moto's DynamoDB (on a table of each test's own,
//! created from `template.yaml`) and moto's EMR.

use std::time::Duration;

use emr_flows::callback::CallbackPolicy;
use emr_flows::catalog::definition::Catalog;
use emr_flows::catalog::job_flow::FLOW_ID_TAG;
use emr_flows::error::Error;
use emr_flows::model::{DeliveryStatus, FlowId, FlowRecord, FlowStatus, StepState};
use emr_flows::ops::{self, StateChangeOutcome};
use integration_tests::world::{MOTO, world};
use integration_tests::{Receiver, TEST_SECRET, event};
use serde_json::{Value, json};

#[tokio::test]
async fn submit_records_the_flow_and_launches_a_tagged_cluster() {
    let w = world().await;
    let submitted = w
        .submit(json!({"flow": "spark-pi", "params": {"partitions": 50}}))
        .await
        .unwrap();
    assert_eq!(submitted.status, FlowStatus::Starting);

    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::Starting);
    assert_eq!(record.cluster_id.as_ref(), submitted.cluster_id.as_ref());
    assert_eq!(record.params, json!({"partitions": 50}));
    let steps = record.ordered_steps();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].1.name, "SparkPi");

    let cluster = w.cluster(submitted.cluster_id.as_ref().unwrap().as_str()).await;
    assert_eq!(
        cluster.name(),
        Some(format!("spark-pi {}", submitted.flow_id).as_str())
    );
    let tag = cluster
        .tags()
        .iter()
        .find(|t| t.key() == Some(FLOW_ID_TAG))
        .expect("flow id tag");
    assert_eq!(tag.value(), Some(submitted.flow_id.to_string().as_str()));
    let listed = w
        .emr_client
        .list_steps()
        .cluster_id(submitted.cluster_id.as_ref().unwrap().as_str())
        .send()
        .await
        .unwrap();
    let args = listed.steps()[0].config().unwrap().args();
    assert_eq!(args.last().map(String::as_str), Some("50"));

    assert_eq!(w.active().await, [submitted.flow_id.to_string()]);
}

#[tokio::test]
async fn bad_input_is_refused_with_every_problem_and_writes_nothing() {
    let w = world().await;
    let err = w
        .submit(json!({
            "flow": "spark-pi",
            "params": {"partitions": 0, "colour": "red"},
            "callbacks": [{"http": {"url": "http://hooks.example.com/x"}}]
        }))
        .await
        .unwrap_err();
    let Error::Validation(problems) = &err else {
        panic!("{err}")
    };
    let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"params.partitions"), "{err}");
    assert!(paths.contains(&"callbacks[0].http.url"), "{err}");
    assert!(err.to_string().contains("colour"), "{err}");

    let err = w.submit(json!({"flow": "no-such-flow"})).await.unwrap_err();
    assert_eq!(err.code(), "UnknownFlowDefinition");
    let err = w.submit(json!({"flow": "spark-py"})).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no flow definition is named `spark-py`; did you mean `spark-pi`?; list with {\"definitions\": true} names every definition"
    );
    let err = w
        .submit(json!({"flow": "pages-es-index-updater", "params": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("domain_id"), "{err}");
    let err = w
        .submit(json!({"flow": "spark-pi", "parms": {}}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `parms`"), "{err}");

    let err = w.submit(json!(["spark-pi"])).await.unwrap_err();
    assert!(
        err.to_string().contains("must be a JSON object, not an array"),
        "{err}"
    );
    // A request that is only a (maybe secret) string is named by its kind, never echoed
    let err = w.submit(json!("sk_live_not_for_logs")).await.unwrap_err();
    assert!(err.to_string().contains("not a string"), "{err}");
    assert!(!err.to_string().contains("sk_live"), "{err}");

    assert_eq!(w.item_count().await, 0, "no partial record");
}

#[tokio::test]
async fn a_successful_lifecycle_ends_succeeded_and_calls_back_once() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let submitted = w
        .submit(json!({"flow": "spark-pi", "callbacks": [{"http": {"url": receiver.url}}]}))
        .await
        .unwrap();
    let record = w.record(submitted.flow_id).await;

    w.send("lifecycle-success/01-cluster-STARTING.json", &record)
        .await;
    w.send("lifecycle-success/02-cluster-RUNNING.json", &record).await;
    assert_eq!(w.record(submitted.flow_id).await.status, FlowStatus::Running);
    w.send("lifecycle-success/03-step-RUNNING.json", &record).await;
    w.send("lifecycle-success/04-step-COMPLETED.json", &record).await;
    let outcome = w
        .send("lifecycle-success/05-cluster-TERMINATED.json", &record)
        .await;
    assert_eq!(
        outcome,
        StateChangeOutcome::Applied {
            flow_id: submitted.flow_id,
            status: FlowStatus::Succeeded,
            changed: true
        }
    );

    let done = w.record(submitted.flow_id).await;
    assert_eq!(done.status, FlowStatus::Succeeded);
    assert_eq!(done.failure, None);
    assert!(
        done.ordered_steps()
            .iter()
            .all(|(_, s)| s.state == StepState::Completed)
    );
    assert_eq!(done.deliveries["0"].status, DeliveryStatus::Delivered);
    assert_eq!(done.deliveries["0"].attempts, 1);

    // A duplicate terminal event and a late RUNNING event change nothing and call nobody.
    let again = w
        .send("lifecycle-success/05-cluster-TERMINATED.json", &record)
        .await;
    assert!(matches!(
        again,
        StateChangeOutcome::Applied { changed: false, .. }
    ));
    w.send("lifecycle-success/02-cluster-RUNNING.json", &record).await;
    assert_eq!(w.record(submitted.flow_id).await, done);

    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["verified"], true);
    assert_eq!(
        received[0]["webhook_id"],
        format!("flow_{}_succeeded", submitted.flow_id)
    );
    assert_eq!(received[0]["body"]["status"], "SUCCEEDED");
    assert_eq!(received[0]["body"]["steps"][0]["state"], "COMPLETED");
    assert!(w.active().await.is_empty());
}

#[tokio::test]
async fn a_failed_step_fails_the_flow_with_its_cause() {
    let w = world().await;
    let submitted = w
        .submit(json!({"flow": "pages-es-index-updater", "params": {"domain_id": 7}}))
        .await
        .unwrap();
    let record = w.record(submitted.flow_id).await;
    assert!(record.artifacts["index_documents"].ends_with(&format!("/7/{}/", submitted.flow_id)));

    // Out of order: the cluster's end arrives before the step's failure.
    w.send("lifecycle-failure/02-cluster-RUNNING.json", &record).await;
    w.send("lifecycle-failure/04-step-FAILED.json", &record).await;
    w.send("lifecycle-failure/03-step-RUNNING.json", &record).await;
    w.send(
        "lifecycle-failure/05-cluster-TERMINATED_WITH_ERRORS.json",
        &record,
    )
    .await;

    let done = w.record(submitted.flow_id).await;
    assert_eq!(done.status, FlowStatus::Failed);
    let failure = done.failure.expect("a failure cause");
    assert_eq!(failure.code.as_deref(), Some("STEP_FAILURE"));
    assert_eq!(failure.message.as_deref(), Some("Shut down as step failed"));
    let step = failure.failed_step.expect("the failed step");
    assert_eq!(step.name, "index domain 7");
    assert_eq!(step.state, StepState::Failed);
}

#[tokio::test]
async fn terminate_stops_the_flows_cluster_and_the_flow_ends_cancelled() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let answer = ops::terminate(
        w.svc(),
        json!({"flow_id": submitted.flow_id, "reason": "not needed"}),
    )
    .await
    .unwrap();
    assert_eq!(answer.cluster_id.as_ref(), submitted.cluster_id.as_ref());
    assert!(answer.termination_requested_at.is_some());
    let cluster = w.cluster(submitted.cluster_id.as_ref().unwrap().as_str()).await;
    let state = cluster.status().unwrap().state().unwrap().as_str().to_owned();
    assert!(state.starts_with("TERMINAT"), "cluster is {state}");

    // Asking again is harmless.
    ops::terminate(w.svc(), json!({"flow_id": submitted.flow_id}))
        .await
        .unwrap();

    let record = w.record(submitted.flow_id).await;
    assert_eq!(
        record.termination.as_ref().unwrap().reason.as_deref(),
        Some("not needed")
    );
    let mut terminated = event(
        "real/events/cluster-TERMINATED-USER_REQUEST.json",
        "j-123456789ABCD",
        "s-0",
    );
    terminated["detail"]["clusterId"] = submitted.cluster_id.clone().unwrap().to_string().into();
    ops::on_state_change(w.svc(), terminated, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(w.record(submitted.flow_id).await.status, FlowStatus::Cancelled);

    let err = ops::terminate(w.svc(), json!({"flow_id": FlowId::generate()}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FlowNotFound");
    let err = ops::terminate(w.svc(), json!({"flow_id": "j-123"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("flow_id"), "{err}");
}

#[tokio::test]
async fn events_for_other_clusters_are_ignored() {
    let w = world().await;
    let event = event("real/events/cluster-STARTING.json", "j-123456789ABCD", "s-0");
    let outcome = ops::on_state_change(w.svc(), event, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        matches!(outcome, StateChangeOutcome::Ignored { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.item_count().await, 0);
}

#[tokio::test]
async fn a_callback_endpoint_down_for_hours_is_still_delivered_exactly_once() {
    let w = world().await;
    let port = integration_tests::free_port();
    let url = format!("http://127.0.0.1:{port}/callbacks");
    // GIVEN an endpoint nobody listens on: the flow ends, the attempt is recorded with its
    // error, and the event still succeeds (the sweep retries, not Lambda).
    let (flow_id, record, end) = w
        .run_to_end(json!({"flow": "spark-pi", "callbacks": [{"http": {"url": url}}]}))
        .await;
    assert!(matches!(
        end.unwrap(),
        StateChangeOutcome::Applied {
            status: FlowStatus::Succeeded,
            ..
        }
    ));
    let delivery = w.record(flow_id).await.deliveries["0"].clone();
    assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::Pending, 1));
    assert!(
        delivery
            .last_error
            .as_deref()
            .unwrap()
            .contains("onnection refused"),
        "{delivery:?}"
    );
    // A repeated event sends nothing before the retry is due.
    w.send("lifecycle-success/05-cluster-TERMINATED.json", &record)
        .await;
    assert_eq!(w.record(flow_id).await.deliveries["0"].attempts, 1);

    // WHEN the endpoint stays down through five hours of sweeps
    for _ in 0..60 {
        w.clock.advance(chrono::Duration::minutes(5));
        ops::sweep(w.svc(), Duration::from_secs(60)).await.unwrap();
    }
    let down = w.record(flow_id).await.deliveries["0"].clone();
    assert_eq!(down.status, DeliveryStatus::Pending);
    assert_eq!(
        down.attempts, 5,
        "at once, +1 min, +5 min, +30 min, +2 h: {down:?}"
    );
    assert_eq!(down.history.len(), 5);

    // THEN once it is back, the next due sweep delivers it, once.
    let receiver = Receiver::start_on(port, TEST_SECRET);
    for _ in 0..24 * 12 {
        w.clock.advance(chrono::Duration::minutes(5));
        ops::sweep(w.svc(), Duration::from_secs(60)).await.unwrap();
    }
    let delivered = w.record(flow_id).await.deliveries["0"].clone();
    assert_eq!(
        (delivered.status, delivered.attempts),
        (DeliveryStatus::Delivered, 6)
    );
    assert_eq!(
        delivered.last_http_status,
        Some(204),
        "the receiver answers 204 No Content"
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["webhook_id"], format!("flow_{flow_id}_succeeded"));
    assert!(w.active().await.is_empty());
}

#[tokio::test]
async fn a_cluster_left_waiting_after_success_can_still_be_terminated() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let record = w.record(submitted.flow_id).await;
    w.send("lifecycle-success/04-step-COMPLETED.json", &record).await;
    let mut waiting = event("real/events/cluster-WAITING.json", "j-123456789ABCD", "s-0");
    waiting["detail"]["clusterId"] = submitted.cluster_id.clone().unwrap().to_string().into();
    ops::on_state_change(w.svc(), waiting, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(w.record(submitted.flow_id).await.status, FlowStatus::Succeeded);

    let answer = ops::terminate(w.svc(), json!({"flow_id": submitted.flow_id}))
        .await
        .unwrap();
    assert_eq!(answer.status, FlowStatus::Succeeded, "the outcome stays");
    assert!(answer.termination_requested_at.is_some());
    let state = w
        .cluster(submitted.cluster_id.as_ref().unwrap().as_str())
        .await
        .status()
        .unwrap()
        .state()
        .unwrap()
        .as_str()
        .to_owned();
    assert!(state.starts_with("TERMINAT"), "cluster is {state}");

    // Once EMR reports the cluster gone, there is nothing left to terminate.
    w.send("lifecycle-success/05-cluster-TERMINATED.json", &record)
        .await;
    let ended = w.record(submitted.flow_id).await;
    assert_eq!(
        (ended.status, ended.cluster_state.as_ref().map(|s| s.as_str())),
        (FlowStatus::Succeeded, Some("TERMINATED"))
    );
    assert!(!ended.cluster_may_run());
}

/// A step event for a step of the flow's cluster, as EMR sends it ("EMR Step Status Change").
fn step_event(cluster_id: &str, step_id: &str, name: &str, state: &str) -> Value {
    let mut event = event("real/events/step-FAILED-CONTINUE.json", "j-0", "s-0");
    event["detail"]["clusterId"] = cluster_id.into();
    event["detail"]["stepId"] = step_id.into();
    event["detail"]["name"] = name.into();
    event["detail"]["state"] = state.into();
    event
}

#[tokio::test]
async fn an_operators_step_on_a_kept_alive_cluster_never_changes_the_ended_flow() {
    // GIVEN a flow that succeeded and left its cluster WAITING
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap().to_string();
    let record = w.record(submitted.flow_id).await;
    w.send("lifecycle-success/04-step-COMPLETED.json", &record).await;
    let mut waiting = event("real/events/cluster-WAITING.json", "j-0", "s-0");
    waiting["detail"]["clusterId"] = cluster_id.clone().into();
    ops::on_state_change(w.svc(), waiting, Duration::from_secs(60))
        .await
        .unwrap();
    let done = w.record(submitted.flow_id).await;
    assert_eq!(done.status, FlowStatus::Succeeded);
    let items = w.item_count().await;

    // WHEN an operator adds a debugging step by hand and EMR reports it running, then failed
    let added = w
        .emr_client
        .add_job_flow_steps()
        .job_flow_id(&cluster_id)
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
    let adhoc = added.step_ids()[0].clone();
    for state in ["RUNNING", "FAILED", "FAILED"] {
        let outcome = ops::on_state_change(
            w.svc(),
            step_event(&cluster_id, &adhoc, "adhoc-debug", state),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(
            outcome,
            StateChangeOutcome::Applied {
                flow_id: submitted.flow_id,
                status: FlowStatus::Succeeded,
                changed: false
            }
        );
    }

    // THEN the ended flow's record is as it was: no `adhoc-debug` step, nothing written
    let after = w.record(submitted.flow_id).await;
    assert!(
        !after.steps.keys().any(|id| id.as_str() == adhoc),
        "{:?}",
        after.steps
    );
    assert_eq!(after, done);
    assert_eq!(w.item_count().await, items, "no step item written");

    // AND the flow's own step still follows EMR after the end (a late event is still its own)
    let (own, _) = done.ordered_steps()[0];
    let outcome = ops::on_state_change(
        w.svc(),
        step_event(&cluster_id, own.as_str(), "Spark pi", "COMPLETED"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(matches!(
        outcome,
        StateChangeOutcome::Applied { changed: false, .. }
    ));
}

#[tokio::test]
async fn an_operators_step_on_an_active_flows_own_cluster_is_the_flows() {
    // GIVEN a running flow on a cluster of its own
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let cluster_id = submitted.cluster_id.clone().unwrap().to_string();
    let record = w.record(submitted.flow_id).await;
    w.send("lifecycle-success/02-cluster-RUNNING.json", &record).await;
    // WHEN EMR reports a step it was not told about at launch (the cluster is the flow's)
    let outcome = ops::on_state_change(
        w.svc(),
        step_event(&cluster_id, "s-HANDADDED0001", "adhoc-debug", "RUNNING"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    // THEN it is taken in, placed after the listed steps until EMR's list places it
    assert!(matches!(
        outcome,
        StateChangeOutcome::Applied { changed: true, .. }
    ));
    let after = w.record(submitted.flow_id).await;
    let step = &after.steps[&emr_flows::model::StepId::parse("s-HANDADDED0001").unwrap()];
    assert_eq!(
        (step.name.as_str(), step.state.clone(), step.index),
        (
            "adhoc-debug",
            StepState::Running,
            emr_flows::store::fast::UNPLACED_STEP_INDEX
        )
    );
}

#[tokio::test]
async fn list_answers_one_flow_in_full_and_a_definitions_history() {
    let w = world().await;
    let first = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    let second = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    w.submit(json!({"flow": "pages-es-index-updater", "params": {"domain_id": 3}}))
        .await
        .unwrap();

    let full = ops::list(
        &w.submitter.catalog,
        &w.svc().store,
        json!({"flow_id": first.flow_id}),
    )
    .await
    .unwrap();
    assert_eq!(full["cluster_id"], first.cluster_id.clone().unwrap().to_string());
    assert_eq!(full["target"], "cluster");
    assert_eq!(full["params"]["partitions"], 10);

    let page = ops::list(
        &w.submitter.catalog,
        &w.svc().store,
        json!({"flow": "spark-pi", "limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(
        page["flows"][0]["flow_id"],
        second.flow_id.to_string(),
        "newest first"
    );
    assert_eq!(page["flows"][0]["target"], "cluster", "{page}");
    assert!(page["flows"][0].get("ended_at").is_none(), "still active: {page}");
    let token = page["next_token"].clone();
    let next = ops::list(
        &w.submitter.catalog,
        &w.svc().store,
        json!({"flow": "spark-pi", "limit": 1, "next_token": token}),
    )
    .await
    .unwrap();
    assert_eq!(next["flows"][0]["flow_id"], first.flow_id.to_string());

    // An ended flow's summary says when it ended, as its record does.
    let (ended, _, end) = w.run_to_end(json!({"flow": "spark-pi"})).await;
    end.unwrap();
    let page = ops::list(
        &w.submitter.catalog,
        &w.svc().store,
        json!({"flow": "spark-pi", "limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(page["flows"][0]["flow_id"], ended.to_string());
    let ended_at = w.record(ended).await.ended_at.unwrap();
    assert_eq!(page["flows"][0]["ended_at"], json!(ended_at), "{page}");

    let err = ops::list(
        &w.submitter.catalog,
        &w.svc().store,
        json!({"flow_id": FlowId::generate()}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "FlowNotFound");
    let err = ops::list(
        &w.submitter.catalog,
        &w.svc().store,
        json!({"flow_id": first.flow_id, "limit": 5}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("flow_id: answers one flow"), "{err}");
    let err = ops::list(&w.submitter.catalog, &w.svc().store, json!({"flow": ""}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationError");
    // A typo in a definition's name is named as such, not answered with an empty history
    let err = ops::list(&w.submitter.catalog, &w.svc().store, json!({"flow": "spark-py"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UnknownFlowDefinition");
    assert!(
        err.to_string().contains("spark-pi"),
        "suggests the nearest name: {err}"
    );
    let err = ops::list(&w.submitter.catalog, &w.svc().store, json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationError");
}

#[tokio::test]
async fn a_dry_run_answers_the_exact_request_and_launches_nothing() {
    let w = world().await;
    let answer = ops::submit(
        &w.submitter,
        json!({"flow": "spark-pi", "params": {"partitions": 7}, "dry_run": true,
               "overrides": {"Instances": {"InstanceGroups": [{}, {"InstanceCount": 5}]}}}),
    )
    .await
    .unwrap();
    let ops::SubmitAnswer::DryRun(dry_run) = answer else {
        panic!("{answer:?}")
    };
    let request = &dry_run.request;
    assert_eq!(
        request["Instances"]["InstanceGroups"][1]["InstanceCount"],
        json!(5)
    );
    assert_eq!(
        request["Steps"][0]["HadoopJarStep"]["Args"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "7"
    );
    let tags = request["Tags"].as_array().unwrap();
    assert!(tags.contains(&json!({"Key": FLOW_ID_TAG, "Value": dry_run.flow_id.to_string()})));
    assert!(tags.contains(&json!({"Key": emr_flows::catalog::job_flow::STACK_TAG, "Value": "local"})));
    assert!(dry_run.request_digest.starts_with("sha256:"));
    assert_eq!(w.item_count().await, 0, "a dry run writes no record");
    assert!(w.active().await.is_empty());
}

#[tokio::test]
async fn a_published_request_launches_unchanged_on_the_emr_stand_in() {
    let w = world().await;
    let published = include_str!("../../events/real/jobflows/airflow-example-pi.json");
    let yaml = format!("name: airflow-example-pi\nversion: '1'\nexamples: [{{}}]\njob_flow: {published}\n");
    let submitter = ops::Submitter {
        catalog: Catalog::from_sources(&[("airflow-example-pi.yaml", &yaml)]).unwrap(),
        policy: CallbackPolicy::default(),
        services: w.svc().clone(),
        region: "us-east-1".into(),
    };
    let ops::SubmitAnswer::Launched(launched) =
        ops::submit(&submitter, json!({"flow": "airflow-example-pi"}))
            .await
            .unwrap()
    else {
        panic!("not launched")
    };
    let cluster = w.cluster(launched.cluster_id.as_ref().unwrap().as_str()).await;
    assert_eq!(cluster.name(), Some("PiCalc"));
    assert_eq!(cluster.release_label(), Some("emr-7.1.0"));
    assert_eq!(cluster.applications()[0].name(), Some("Spark"));
    assert_eq!(cluster.service_role(), Some("EMR_DefaultRole"));
    let steps = w
        .emr_client
        .list_steps()
        .cluster_id(launched.cluster_id.as_ref().unwrap().as_str())
        .send()
        .await
        .unwrap();
    let step = &steps.steps()[0];
    assert_eq!(step.name(), Some("calculate_pi"));
    assert_eq!(step.action_on_failure().map(|a| a.as_str()), Some("CONTINUE"));
    assert_eq!(
        step.config().unwrap().args(),
        ["/usr/lib/spark/bin/run-example", "SparkPi", "10"]
    );
    let record = w.record(launched.flow_id).await;
    assert!(record.request_digest.starts_with("sha256:"));
    assert_eq!(record.flow, "airflow-example-pi");
}

/// A request as an author pastes it: shell in bootstrap arguments, a log4j pattern and a regex
/// in properties, shell and a regex in step arguments. No `{{`: nothing in it is a template.
const PASTED: &str = r#"{
  "Name": "pasted ${#N} {#x#}",
  "ReleaseLabel": "emr-7.13.0",
  "Applications": [{"Name": "Spark"}],
  "Instances": {
    "InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1}],
    "KeepJobFlowAliveWhenNoSteps": false
  },
  "BootstrapActions": [{
    "Name": "lengths",
    "ScriptBootstrapAction": {
      "Path": "file:/bin/bash",
      "Args": ["-c", "N=node; PEERS=(a b); echo len=${#N} peers=${#PEERS[@]} args=${#} >> /mnt/var/lengths {% x %}"]
    }
  }],
  "Configurations": [{
    "Classification": "spark-log4j2",
    "Properties": {
      "appender.console.layout.pattern": "%d{yyyy-MM-dd HH:mm:ss.SSS} %p %c{1}: %m%n",
      "logger.filter.regex": "^s3://[a-z0-9.-]{3,63}/(in|out)/\\d{4}-\\d{2}-\\d{2}$"
    }
  }],
  "Steps": [{
    "Name": "grep",
    "ActionOnFailure": "CONTINUE",
    "HadoopJarStep": {
      "Jar": "command-runner.jar",
      "Args": ["bash", "-c", "grep -E '^[0-9]{4}-[0-9]{2}$' in | wc -l; echo ${#N} {#"]
    }
  }],
  "JobFlowRole": "EMR_EC2_DefaultRole",
  "ServiceRole": "EMR_DefaultRole"
}"#;

#[tokio::test]
async fn a_pasted_request_with_shell_regex_and_log4j_patterns_arrives_byte_for_byte() {
    // GIVEN a definition whose job_flow is the pasted request
    let w = world().await;
    let yaml = format!("name: pasted\nversion: '1'\nexamples: [{{}}]\njob_flow: {PASTED}\n");
    let submitter = ops::Submitter {
        catalog: Catalog::from_sources(&[("pasted.yaml", &yaml)]).unwrap(),
        policy: CallbackPolicy::default(),
        services: w.svc().clone(),
        region: "us-east-1".into(),
    };
    let pasted: Value = serde_json::from_str(PASTED).unwrap();

    // WHEN dry run THEN the request is the pasted text, plus only the flow tags
    let ops::SubmitAnswer::DryRun(dry_run) =
        ops::submit(&submitter, json!({"flow": "pasted", "dry_run": true}))
            .await
            .unwrap()
    else {
        panic!("not a dry run")
    };
    let mut request = dry_run.request.clone();
    let tags = request.as_object_mut().unwrap().remove("Tags").unwrap();
    assert_eq!(tags.as_array().unwrap().len(), 3, "flow-id, flow and stack");
    assert_eq!(request, pasted);

    // WHEN launched THEN EMR (the moto stand-in) holds every string unchanged
    let ops::SubmitAnswer::Launched(launched) =
        ops::submit(&submitter, json!({"flow": "pasted"})).await.unwrap()
    else {
        panic!("not launched")
    };
    let cluster_id = launched.cluster_id.as_ref().unwrap().as_str();
    let cluster = w.cluster(cluster_id).await;
    assert_eq!(cluster.name(), pasted["Name"].as_str());
    let properties = cluster.configurations()[0].properties().unwrap();
    assert_eq!(
        properties["appender.console.layout.pattern"],
        pasted["Configurations"][0]["Properties"]["appender.console.layout.pattern"]
    );
    assert_eq!(
        properties["logger.filter.regex"],
        pasted["Configurations"][0]["Properties"]["logger.filter.regex"]
    );
    let actions = w
        .emr_client
        .list_bootstrap_actions()
        .cluster_id(cluster_id)
        .send()
        .await
        .unwrap();
    let args: Vec<Value> = actions.bootstrap_actions()[0]
        .args()
        .iter()
        .map(|a| json!(a))
        .collect();
    assert_eq!(
        Value::from(args),
        pasted["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"]
    );
    let steps = w
        .emr_client
        .list_steps()
        .cluster_id(cluster_id)
        .send()
        .await
        .unwrap();
    let args: Vec<Value> = steps.steps()[0]
        .config()
        .unwrap()
        .args()
        .iter()
        .map(|a| json!(a))
        .collect();
    assert_eq!(Value::from(args), pasted["Steps"][0]["HadoopJarStep"]["Args"]);
}

#[tokio::test]
async fn overrides_outside_the_definitions_allowance_are_refused_and_write_nothing() {
    let w = world().await;
    let err = w
        .submit(json!({"flow": "spark-pi", "overrides": {"ServiceRole": "AdminRole", "Instances": {"Ec2KeyName": "mine"}}}))
        .await
        .unwrap_err();
    let Error::Validation(problems) = &err else {
        panic!("{err}")
    };
    let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["overrides.Instances.Ec2KeyName", "overrides.ServiceRole"]);
    assert_eq!(w.item_count().await, 0);
}

#[tokio::test]
async fn list_answers_the_catalog_with_what_callers_may_override() {
    let w = world().await;
    let answer = ops::list(&w.submitter.catalog, &w.svc().store, json!({"definitions": true}))
        .await
        .unwrap();
    let listed = answer["definitions"].as_array().unwrap();
    let names: Vec<_> = listed.iter().map(|d| d["name"].as_str().unwrap()).collect();
    let catalog: Vec<_> = w.submitter.catalog.iter().map(|d| d.spec.name.as_str()).collect();
    assert_eq!(names, catalog, "every definition, in name order");
    for (definition, listed) in w.submitter.catalog.iter().zip(listed) {
        assert_eq!(listed["parameters"], definition.spec.parameters);
        assert_eq!(listed["overridable"], json!(definition.spec.overridable));
        assert_eq!(listed["target"], json!(definition.target));
        assert_eq!(listed["max_runtime"], json!(definition.spec.max_runtime));
    }
    let spark_pi = listed.iter().find(|d| d["name"] == "spark-pi").unwrap();
    assert_eq!(spark_pi["parameters"]["properties"]["partitions"]["default"], 10);
    assert_eq!(
        spark_pi["overridable"]["/Instances/InstanceGroups/1/InstanceCount"],
        json!({"type": "integer", "minimum": 1, "maximum": 20})
    );
    let err = ops::list(
        &w.submitter.catalog,
        &w.svc().store,
        json!({"definitions": true, "flow": "spark-pi"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "ValidationError");
}

#[tokio::test]
async fn lambda_callbacks_are_invoked_asynchronously_and_a_missing_function_is_recorded() {
    let w = world().await;
    let moto = MOTO.get().unwrap();
    let name = format!("processor-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let arn = moto.create_function(&name).await;
    let missing = arn.replace(&name, "processor-gone");
    let (flow_id, _, end) = w
        .run_to_end(json!({"flow": "spark-pi", "callbacks": [{"lambda": arn}, {"lambda": missing}]}))
        .await;
    end.unwrap();

    let done = w.record(flow_id).await;
    assert_eq!(done.deliveries["0"].status, DeliveryStatus::Delivered);
    let failed = &done.deliveries["1"];
    assert_eq!(failed.status, DeliveryStatus::Pending);
    assert!(
        failed.last_error.as_deref().unwrap().contains("ResourceNotFound"),
        "{failed:?}"
    );

    // A function outside the allow-list is refused at submit.
    let err = w
        .submit(json!({"flow": "spark-pi", "callbacks": [{"lambda": "billing"}]}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("callbacks[0].lambda"), "{err}");
}

#[tokio::test]
async fn a_cluster_whose_launch_was_never_recorded_is_adopted_through_its_tag() {
    let w = world().await;
    let submitted = w.submit(json!({"flow": "spark-pi"})).await.unwrap();
    // As if submit had died after RunJobFlow answered: the record never learnt its cluster.
    w.forget_launch(submitted.flow_id).await;
    let record = FlowRecord {
        cluster_id: submitted.cluster_id.clone(),
        ..w.record(submitted.flow_id).await
    };
    let event = event(
        "lifecycle-success/02-cluster-RUNNING.json",
        submitted.cluster_id.as_ref().unwrap().as_str(),
        "s-0",
    );
    let outcome = ops::on_state_change(&w.cold(), event, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        StateChangeOutcome::Applied {
            flow_id: submitted.flow_id,
            status: FlowStatus::Running,
            changed: true
        }
    );
    let adopted = w.record(submitted.flow_id).await;
    assert_eq!(adopted.cluster_id, record.cluster_id);
    assert_eq!(
        adopted.ordered_steps()[0].1.name,
        "SparkPi",
        "steps come from EMR"
    );
}

#[tokio::test]
async fn a_flow_record_too_large_for_dynamodb_is_refused_before_anything_is_written() {
    let w = world().await;
    // Within every per-callback limit, too large together.
    let headers: serde_json::Map<String, Value> = (0..16)
        .map(|h| (format!("x-pad-{h}"), json!("p".repeat(2_000))))
        .collect();
    let callbacks: Vec<Value> = (0..10)
        .map(|i| json!({"http": {"url": format!("https://hooks.example.com/{i}"), "headers": headers}}))
        .collect();
    let err = w
        .submit(json!({"flow": "spark-pi", "callbacks": callbacks}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationError");
    assert!(
        err.to_string()
            .contains("the flow record (params and callbacks) would be"),
        "{err}"
    );
    assert_eq!(w.item_count().await, 0);
    // A dry run runs the same check: it answers what the real submit would.
    let err = ops::submit(
        &w.submitter,
        json!({"flow": "spark-pi", "callbacks": callbacks, "dry_run": true}),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("the flow record (params and callbacks) would be"),
        "{err}"
    );

    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"http": {"url": format!("https://hooks.example.com/{i}")}}))
        .collect();
    let err = w
        .submit(json!({"flow": "spark-pi", "callbacks": eleven}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("callbacks: 11 callbacks"), "{err}");
}
