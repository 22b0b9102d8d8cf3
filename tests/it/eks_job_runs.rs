//! EMR on EKS job runs against moto (through the fault proxy where the network must misbehave
//! or moto lacks what EMR on EKS does): each promise the other targets keep, for a flow of
//! `spark-pi-eks`. moto's runs are born `RUNNING` and never move (a cancel ends one at once) and
//! its DescribeJobRun has no `failureReason` or `stateDetails`, so states are driven with
//! `aws.emr-containers` events and the proxy's `patch` adds what DescribeJobRun would say; moto
//! starts a second run for a repeated client token, the proxy's token deduplication stands in
//! for the service's.

use std::time::Duration;

use aws_sdk_emrcontainers::types::{ContainerInfo, ContainerProvider, ContainerProviderType, EksInfo};
use chrono::{DateTime, Utc};

use emr_flows::catalog::definition::Catalog;
use emr_flows::model::{
    DeliveryStatus, EksJobRunId, EksJobRunState, FlowId, FlowStatus, JOB_RUN_CANCELLED, JOB_RUN_FAILED,
    MAX_PROBABLE_CAUSE_BYTES, MAX_RUNTIME_EXCEEDED, NO_FAILURE_DETAILS, NO_S3_LOGS_EKS, START_JOB_RUN_FAILED,
    START_JOB_RUN_LOST, VirtualClusterId,
};
use emr_flows::ops::{self, StateChangeOutcome};
use integration_tests::world::{MOTO, World, world, world_behind_proxy};
use integration_tests::{Receiver, TEST_SECRET, root};
use serde_json::{Value, json};

const BUDGET: Duration = Duration::from_secs(60);

/// An EMR on EKS client straight to moto (not through a world's proxy).
async fn containers() -> aws_sdk_emrcontainers::Client {
    aws_sdk_emrcontainers::Client::new(&MOTO.get().unwrap().sdk().await)
}

/// A virtual cluster on moto, for the flows of one test (moto takes one per namespace: each
/// gets its own).
async fn virtual_cluster() -> VirtualClusterId {
    let name = format!("emr-flows-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let provider = ContainerProvider::builder()
        .id("emr-flows-eks")
        .r#type(ContainerProviderType::Eks)
        .info(ContainerInfo::EksInfo(
            EksInfo::builder().namespace(&name).build(),
        ))
        .build()
        .unwrap();
    let created = containers()
        .await
        .create_virtual_cluster()
        .name(&name)
        .container_provider(provider)
        .client_token(&name)
        .send()
        .await
        .unwrap();
    VirtualClusterId::parse(created.id().unwrap()).unwrap()
}

/// The runs moto holds on `vc`, with their state.
async fn runs(vc: &VirtualClusterId) -> Vec<(String, String)> {
    let listed = containers()
        .await
        .list_job_runs()
        .virtual_cluster_id(vc.as_str())
        .send()
        .await
        .unwrap();
    let mut runs: Vec<_> = (listed.job_runs().iter())
        .map(|r| {
            let state = r.state().map(|s| s.as_str().to_owned()).unwrap_or_default();
            (r.id().unwrap().to_owned(), state)
        })
        .collect();
    runs.sort();
    runs
}

/// DescribeJobRun straight from moto.
async fn describe(vc: &VirtualClusterId, run: &EksJobRunId) -> aws_sdk_emrcontainers::types::JobRun {
    let described = containers()
        .await
        .describe_job_run()
        .virtual_cluster_id(vc.as_str())
        .id(run.as_str())
        .send()
        .await
        .unwrap();
    described.job_run().unwrap().clone()
}

/// A run started straight on moto (not by a flow), with `token` and `tags`.
async fn stranger(vc: &VirtualClusterId, name: &str, token: &str, tags: &[(&str, &str)]) -> EksJobRunId {
    let mut request = containers()
        .await
        .start_job_run()
        .virtual_cluster_id(vc.as_str())
        .name(name)
        .client_token(token)
        .execution_role_arn("arn:aws:iam::123456789012:role/EMRContainers-JobExecutionRole")
        .release_label("emr-7.1.0-latest")
        .job_driver(
            aws_sdk_emrcontainers::types::JobDriver::builder()
                .spark_submit_job_driver(
                    aws_sdk_emrcontainers::types::SparkSubmitJobDriver::builder()
                        .entry_point("local:///usr/lib/spark/examples/src/main/python/pi.py")
                        .build()
                        .unwrap(),
                )
                .build(),
        );
    for (key, value) in tags {
        request = request.tags(*key, *value);
    }
    EksJobRunId::parse(request.send().await.unwrap().id().unwrap()).unwrap()
}

/// An "EMR Job Run State Change" for `run` in `state`. No body of an `aws.emr-containers` event
/// is published anywhere (`events/real/SOURCES.md`): it is built as the test helper of
/// `shared/src/targets/eks/events.rs` builds it, from the fields community code reads
/// (`detail.id`, `detail.virtualClusterId`, `detail.state`) in EventBridge's envelope.
fn state_change(vc: &VirtualClusterId, run: &EksJobRunId, state: &str) -> Value {
    json!({
        "version": "0", "id": ulid::Ulid::generate().to_string(),
        "detail-type": "EMR Job Run State Change", "source": "aws.emr-containers",
        "account": "123456789012", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:emr-containers:us-east-1:123456789012:/virtualclusters/{vc}/jobruns/{run}")],
        "detail": {"id": run.as_str(), "virtualClusterId": vc.as_str(), "state": state},
    })
}

/// A state change without a state (DescribeJobRun tells it).
fn stateless(vc: &VirtualClusterId, run: &EksJobRunId) -> Value {
    let mut event = state_change(vc, run, "RUNNING");
    event["detail"].as_object_mut().unwrap().remove("state");
    event
}

/// An "EMR Job Run New Driver Attempt" with the fields the development guide lists.
fn new_driver_attempt(vc: &VirtualClusterId, run: &EksJobRunId, attempt: u32) -> Value {
    let mut event = stateless(vc, run);
    event["detail-type"] = "EMR Job Run New Driver Attempt".into();
    let detail = event["detail"].as_object_mut().unwrap();
    detail.insert("currentAttemptCount".into(), attempt.into());
    detail.insert(
        "newDriverPodName".into(),
        format!("spark-{run}-driver-{attempt}").into(),
    );
    detail.insert("newDriverCreatedAt".into(), "2026-12-06T10:05:00Z".into());
    detail.insert(
        "previousDriverFailureMessage".into(),
        "Driver pod exited with code 1".into(),
    );
    event
}

async fn on_event(w: &World, event: Value) -> StateChangeOutcome {
    ops::on_state_change(w.svc(), event, BUDGET).await.unwrap()
}

/// An event's status and whether it changed the record.
async fn applied(w: &World, event: Value) -> (FlowStatus, bool) {
    match on_event(w, event).await {
        StateChangeOutcome::Applied { status, changed, .. } => (status, changed),
        other => panic!("{other:?}"),
    }
}

async fn sweep(w: &World) -> ops::SweepReport {
    let report = ops::sweep(w.svc(), BUDGET).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    report
}

fn callback(receiver: &Receiver) -> Value {
    json!([{"http": {"url": receiver.url}}])
}

fn request(vc: &VirtualClusterId, extra: Value) -> Value {
    let mut request = json!({"flow": "spark-pi-eks", "params": {"virtual_cluster_id": vc.as_str()}});
    request
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    request
}

/// Submits `spark-pi-eks` on `vc` (and `extra` request members): the flow and its run.
async fn submit(w: &World, vc: &VirtualClusterId, extra: Value) -> (FlowId, EksJobRunId) {
    let submitted = w.submit(request(vc, extra)).await.unwrap();
    let run = w
        .record(submitted.flow_id)
        .await
        .eks_job_run_id()
        .cloned()
        .expect("a job run");
    (submitted.flow_id, run)
}

/// Today at `hh:mm` UTC: moto's `createdAt` (00:00) and a cancelled run's `finishedAt` (00:01).
fn today_at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc::now()
        .date_naive()
        .and_hms_opt(hour, minute, 0)
        .unwrap()
        .and_utc()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// An S3 client straight to moto, the log bucket made.
async fn log_bucket() -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&MOTO.get().unwrap().sdk().await)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket("emr-flows-logs").send().await;
    s3
}

async fn put_gzip(s3: &aws_sdk_s3::Client, key: &str, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    s3.put_object()
        .bucket("emr-flows-logs")
        .key(key)
        .body(gz.finish().unwrap().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_job_run_starts_once_with_the_flows_token_and_tags_and_ends_as_its_events_say_whatever_their_order()
{
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    // WHEN a flow is submitted
    let submitted = w
        .submit(request(&vc, json!({"callbacks": callback(&receiver)})))
        .await
        .unwrap();
    // THEN one StartJobRun started one run, named in the answer with its virtual cluster
    assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1));
    assert_eq!(submitted.status, FlowStatus::Starting);
    assert_eq!(submitted.virtual_cluster_id.as_ref(), Some(&vc));
    assert_eq!(submitted.cluster_id, None);
    let run = EksJobRunId::parse(submitted.job_run_id.as_deref().expect("the answer names the run")).unwrap();
    let flow_id = submitted.flow_id;
    // AND the run carries the flow's token, tags and name
    let described = describe(&vc, &run).await;
    assert_eq!(
        described.client_token(),
        Some(format!("emr-flows-{flow_id}").as_str())
    );
    let tags = described.tags().unwrap();
    assert_eq!(tags["emr-flows:flow-id"], flow_id.to_string());
    assert_eq!(tags["emr-flows:flow"], "spark-pi-eks");
    assert_eq!(tags["emr-flows:stack"], emr_flows::catalog::job_flow::LOCAL_STACK);
    assert_eq!(described.name(), Some(format!("spark-pi-{flow_id}").as_str()));
    assert_eq!(described.release_label(), Some("emr-7.1.0-latest"));
    // AND both listings name the run beside the target (the indexes project `job_run_id`)
    for listing in [json!({"flow": "spark-pi-eks"}), json!({"status": "active"})] {
        let page = ops::list(&w.submitter.catalog, &w.svc().store, listing)
            .await
            .unwrap();
        let listed = (page["flows"].as_array().unwrap().iter())
            .find(|f| f["flow_id"] == flow_id.to_string())
            .unwrap_or_else(|| panic!("{page}"));
        assert_eq!(
            (&listed["target"], &listed["job_run_id"]),
            (&json!("eks_job_run"), &json!(run.as_str()))
        );
    }
    let record = w.record(flow_id).await;
    let eks = record.eks_job_run.as_ref().unwrap();
    assert_eq!(
        (eks.name.as_str(), eks.log_uri.as_deref(), eks.attempt),
        (
            format!("spark-pi-{flow_id}").as_str(),
            Some("s3://emr-flows-logs/eks/"),
            1
        )
    );

    // WHEN its events arrive without a state, late, twice under both names and out of order
    proxy.clear_requests().await;
    let mut seen = vec![applied(&w, stateless(&vc, &run)).await];
    seen.push(applied(&w, state_change(&vc, &run, "COMPLETED")).await);
    seen.push(applied(&w, state_change(&vc, &run, "RUNNING")).await);
    let mut twice = state_change(&vc, &run, "COMPLETED");
    twice["detail-type"] = "EmrContainers Job Run State Change".into();
    seen.push(applied(&w, twice).await);
    seen.push(applied(&w, state_change(&vc, &run, "SUBMITTED")).await);
    // THEN the stateless one took DescribeJobRun's state (moto: RUNNING), the flow SUCCEEDED at
    // the first COMPLETED, the others changed nothing
    assert_eq!(
        seen,
        [
            (FlowStatus::Running, true),
            (FlowStatus::Succeeded, true),
            (FlowStatus::Succeeded, false),
            (FlowStatus::Succeeded, false),
            (FlowStatus::Succeeded, false),
        ]
    );
    // AND one callback was sent
    let record = w.record(flow_id).await;
    assert_eq!(record.deliveries["0"].status, DeliveryStatus::Delivered);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "SUCCEEDED");
    assert_eq!(received[0]["body"]["target"], "eks_job_run");
    assert_eq!(received[0]["body"]["eks_job_run"]["job_run_id"], run.as_str());
    assert_eq!(
        received[0]["body"]["eks_job_run"]["virtual_cluster_id"],
        vc.as_str()
    );
    // AND each event cost one DescribeJobRun, nothing was started again
    let counts = proxy.counts().await;
    assert_eq!(counts.get("DescribeJobRun"), Some(&5), "{counts:?}");
    assert_eq!(counts.get("StartJobRun"), None);
    // AND the run's creation time is moto's (today 00:00); moto never ends a run by itself,
    // so no finishing time and no duration
    let eks = record.eks_job_run.unwrap();
    assert_eq!(eks.created_at, Some(today_at(0, 0)));
    assert_eq!((eks.finished_at, eks.duration_seconds), (None, None));

    // A stateless event whose DescribeJobRun says COMPLETED (the published ListJobRuns item's
    // facts) ends a flow too, with the run's times and duration.
    let published: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/real/requests/list-job-runs-eks-COMPLETED.json"))
            .unwrap(),
    )
    .unwrap();
    let item = &published[0];
    let (flow_id, run) = submit(&w, &vc, json!({})).await;
    let facts = ["state", "stateDetails", "createdAt", "finishedAt"]
        .map(|k| (k.to_owned(), item[k].clone()))
        .into_iter()
        .collect::<serde_json::Map<_, _>>();
    proxy
        .fault_with("DescribeJobRun", "patch", 1, 200, json!({"jobRun": facts}))
        .await;
    assert_eq!(
        applied(&w, stateless(&vc, &run)).await,
        (FlowStatus::Succeeded, true)
    );
    let eks = w.record(flow_id).await.eks_job_run.unwrap();
    assert_eq!(eks.created_at, Some(time("2022-01-07T01:53:57+00:00")));
    assert_eq!(eks.finished_at, Some(time("2022-01-07T01:55:03+00:00")));
    assert_eq!(eks.duration_seconds, Some(66));
}

#[tokio::test]
async fn a_lost_start_job_run_answer_starts_one_run_which_the_flow_adopts() {
    for fault in ["error_500", "drop_after"] {
        let w = world_behind_proxy().await;
        let proxy = w.proxy.as_ref().unwrap();
        let vc = virtual_cluster().await;
        // GIVEN EMR on EKS starts the run but its answer is lost
        proxy.fault("StartJobRun", fault, 3, 0.0).await;
        // WHEN a flow is submitted
        let submitted = w.submit(request(&vc, json!({}))).await.unwrap();
        // THEN StartJobRun was sent once, the run was found by its token (ListJobRuns)
        let counts = proxy.counts().await;
        assert_eq!(counts.get("StartJobRun"), Some(&1), "{fault}");
        assert_eq!(counts.get("ListJobRuns"), Some(&1), "{fault}: {counts:?}");
        let all = runs(&vc).await;
        assert_eq!(all.len(), 1, "{fault}");
        assert_eq!(submitted.status, FlowStatus::Starting, "{fault}");
        assert_eq!(
            submitted.job_run_id.as_deref(),
            Some(all[0].0.as_str()),
            "{fault}"
        );
        let record = w.record(submitted.flow_id).await;
        assert_eq!(
            record.eks_job_run_id().map(|r| r.as_str()),
            Some(all[0].0.as_str())
        );
        assert!(record.launch_error.is_some(), "the lost answer is noted: {fault}");
    }
}

#[tokio::test]
async fn a_lost_answer_not_listed_yet_is_sent_again_with_the_flows_token() {
    // GIVEN StartJobRun's answer is lost and ListJobRuns does not show the run yet (as a
    // service whose list lags its writes would)
    for dedupes in [true, false] {
        let w = world_behind_proxy().await;
        let proxy = w.proxy.as_ref().unwrap();
        let vc = virtual_cluster().await;
        proxy.dedupe_tokens(dedupes).await;
        proxy.fault("StartJobRun", "drop_after", 1, 0.0).await;
        proxy
            .fault_with("ListJobRuns", "answer", 1, 200, json!({"jobRuns": []}))
            .await;
        // WHEN a flow is submitted
        let submitted = w.submit(request(&vc, json!({}))).await.unwrap();
        // THEN StartJobRun was sent again with the same token
        assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&2));
        assert_eq!(submitted.status, FlowStatus::Starting);
        let own = EksJobRunId::parse(submitted.job_run_id.as_deref().unwrap()).unwrap();
        let all = runs(&vc).await;
        if dedupes {
            // AND where the service deduplicates on it, one run exists: the flow's
            assert_eq!(all, [(own.to_string(), "RUNNING".to_owned())]);
            continue;
        }
        // AND where it does not (moto), both runs carry the token and the second is the flow's;
        // the first one's event finds it an extra, cancelled and noted
        assert_eq!(all.len(), 2, "{all:?}");
        let first = all.iter().find(|(id, _)| id != own.as_str()).unwrap();
        let first = EksJobRunId::parse(&first.0).unwrap();
        assert_eq!(
            describe(&vc, &first).await.client_token(),
            Some(format!("emr-flows-{}", submitted.flow_id).as_str())
        );
        let outcome = on_event(&w, state_change(&vc, &first, "RUNNING")).await;
        assert!(
            matches!(outcome, StateChangeOutcome::Ignored { .. }),
            "{outcome:?}"
        );
        let record = w.record(submitted.flow_id).await;
        let extras = &record.eks_job_run.as_ref().unwrap().extra_runs;
        assert_eq!(extras.len(), 1);
        assert_eq!(extras[0].job_run_id, first);
        assert!(extras[0].cancelled_at.is_some());
        assert_eq!(record.eks_job_run_id(), Some(&own));
        assert_eq!(record.status, FlowStatus::Starting);
        assert_eq!(runs(&vc).await, {
            let mut both = vec![
                (first.to_string(), "CANCELLED".to_owned()),
                (own.to_string(), "RUNNING".to_owned()),
            ];
            both.sort();
            both
        });
    }
}

#[tokio::test]
async fn a_launch_that_never_happened_ends_failed_after_the_grace() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    // GIVEN StartJobRun fails unapplied, twice, with answers that prove nothing
    proxy.fault("StartJobRun", "fail_500", 2, 0.0).await;
    let submitted = w
        .submit(request(&vc, json!({"callbacks": callback(&receiver)})))
        .await
        .unwrap();
    assert_eq!(submitted.status, FlowStatus::Pending);
    assert_eq!(submitted.job_run_id, None);
    // WHEN the sweep runs within the grace THEN the flow waits
    w.clock.advance(chrono::Duration::minutes(2));
    sweep(&w).await;
    assert_eq!(w.record(submitted.flow_id).await.status, FlowStatus::Pending);
    // WHEN the sweep runs after the grace
    w.clock.advance(chrono::Duration::minutes(2));
    sweep(&w).await;
    // THEN the flow FAILED, no run exists, the callback says so
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    assert_eq!(record.failure.unwrap().code.as_deref(), Some(START_JOB_RUN_LOST));
    assert_eq!(runs(&vc).await, []);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "FAILED");
    assert_eq!(received[0]["body"]["failure"]["code"], START_JOB_RUN_LOST);
}

#[tokio::test]
async fn a_failed_run_keeps_its_failure_reason_and_state_details() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    // GIVEN every documented failureReason and stateDetails of a FAILED run, each given by
    // DescribeJobRun to a flow of its own
    let published: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("events/real/requests/describe-job-run-eks-stateDetails-FAILED.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let rows = published.as_array().unwrap();
    assert_eq!(rows.len(), 10);
    let mut expected = Vec::new();
    for row in rows {
        let (flow_id, run) = submit(&w, &vc, json!({"callbacks": callback(&receiver)})).await;
        on_event(&w, state_change(&vc, &run, "RUNNING")).await;
        proxy
            .fault_with("DescribeJobRun", "patch", 1, 200, json!({"jobRun": row}))
            .await;
        // WHEN its FAILED event arrives
        assert_eq!(
            applied(&w, state_change(&vc, &run, "FAILED")).await,
            (FlowStatus::Failed, true)
        );
        // THEN the flow FAILED with both, as `failureReason: stateDetails`
        let message = format!(
            "{}: {}",
            row["failureReason"].as_str().unwrap(),
            row["stateDetails"].as_str().unwrap()
        );
        let record = w.record(flow_id).await;
        let failure = record.failure.unwrap();
        assert_eq!(failure.code.as_deref(), Some(JOB_RUN_FAILED));
        assert_eq!(failure.message.as_deref(), Some(message.as_str()));
        assert_eq!(
            record
                .eks_job_run
                .unwrap()
                .state
                .map(|s| s.to_string())
                .as_deref(),
            Some("FAILED")
        );
        expected.push((flow_id.to_string(), message));
    }
    // AND each flow's callback told it, once
    let mut told: Vec<_> = (receiver.received().iter())
        .map(|r| {
            assert_eq!(r["body"]["status"], "FAILED");
            let body = &r["body"];
            (
                body["flow_id"].as_str().unwrap().to_owned(),
                body["failure"]["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    told.sort();
    expected.sort();
    assert_eq!(told, expected);
}

#[tokio::test]
async fn a_failed_runs_driver_log_found_under_its_containers_folder_becomes_the_probable_cause() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    let (flow_id, run) = submit(&w, &vc, json!({"callbacks": callback(&receiver)})).await;
    let details = json!({"jobRun": {"state": "FAILED", "failureReason": "USER_ERROR",
        "stateDetails": "Job failed. Driver exited with code 1."}});
    proxy.fault_with("DescribeJobRun", "patch", 1, 200, details).await;
    // GIVEN a run that FAILED before its driver log reached S3
    on_event(&w, state_change(&vc, &run, "FAILED")).await;
    let failure = w.record(flow_id).await.failure.unwrap();
    assert_eq!(
        failure.message.as_deref(),
        Some("USER_ERROR: Job failed. Driver exited with code 1.")
    );
    assert_eq!(
        (failure.probable_cause, failure.log_location),
        (None, None),
        "nothing read yet"
    );
    // WHEN the sweep looks for it THEN the record says where it was looked for
    let s3 = log_bucket().await;
    let containers = format!("eks/{vc}/jobs/{run}/containers");
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    let failure = w.record(flow_id).await.failure.unwrap();
    assert_eq!(failure.probable_cause, None);
    assert_eq!(
        failure.log_location,
        Some(format!(
            "s3://emr-flows-logs/{containers}/*/spark-{run}-driver/stderr.gz"
        ))
    );
    // WHEN the driver's stderr.gz arrives under the Spark application's folder, next to the
    // job submitter's log and an executor's (named after the application, so listed before the
    // driver's), and the sweep runs again
    put_gzip(
        &s3,
        &format!("{containers}/{run}-abcde/stderr.gz"),
        "submitter: waiting for the driver\n",
    )
    .await;
    put_gzip(
        &s3,
        &format!("{containers}/spark-0123456789abcdef/pythonpi-8b7c6d5e4f3a2b1c-exec-1/stderr.gz"),
        "executor: lost the driver\n",
    )
    .await;
    let log = format!(
        "{}Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n",
        "INFO noise\n".repeat(5000)
    );
    let key = format!("{containers}/spark-0123456789abcdef/spark-{run}-driver/stderr.gz");
    put_gzip(&s3, &key, &log).await;
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    // THEN the record names the probable cause, the end of the driver's log, and where it was
    let failure = w.record(flow_id).await.failure.unwrap();
    let cause = failure.probable_cause.unwrap();
    assert!(
        cause.ends_with("java.lang.OutOfMemoryError: Java heap space\n"),
        "{cause:.80}"
    );
    assert!(cause.len() <= MAX_PROBABLE_CAUSE_BYTES);
    assert!(cause.len() > MAX_PROBABLE_CAUSE_BYTES / 2, "{}", cause.len());
    assert_eq!(failure.log_location, Some(format!("s3://emr-flows-logs/{key}")));
    assert_eq!(
        failure.message.as_deref(),
        Some("USER_ERROR: Job failed. Driver exited with code 1."),
        "kept"
    );
    // AND once found it is not looked for again
    proxy.clear_requests().await;
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    let counts = proxy.counts().await;
    assert!(
        !counts.keys().any(|op| op.starts_with("GET /emr-flows-logs")),
        "{counts:?}"
    );
    // AND one callback told the failure, at its end
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]["body"]["failure"]["message"],
        "USER_ERROR: Job failed. Driver exited with code 1."
    );
}

#[tokio::test]
async fn details_describe_job_run_lacked_at_the_end_are_read_by_the_sweep() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let vc = virtual_cluster().await;
    let (flow_id, run) = submit(&w, &vc, json!({})).await;
    // GIVEN a run that FAILED while DescribeJobRun gave no failureReason or stateDetails (moto
    // never does)
    on_event(&w, state_change(&vc, &run, "FAILED")).await;
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    assert_eq!(
        record.failure.unwrap().message.as_deref(),
        Some(NO_FAILURE_DETAILS)
    );
    // WHEN DescribeJobRun has them, and the sweep runs
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
    proxy.clear_requests().await;
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    // THEN the record has them, and where the driver log was looked for
    assert_eq!(proxy.counts().await.get("DescribeJobRun"), Some(&1));
    let failure = w.record(flow_id).await.failure.unwrap();
    assert_eq!(
        failure.message.as_deref(),
        Some("USER_ERROR: Cluster emr-eks-example does not have sufficient resources.")
    );
    assert!(
        failure
            .log_location
            .unwrap()
            .ends_with(&format!("/containers/*/spark-{run}-driver/stderr.gz"))
    );
}

#[tokio::test]
async fn a_run_without_s3_logs_says_where_its_logs_are_not() {
    // GIVEN a definition whose run logs to CloudWatch only (spark-pi-eks, its S3 monitoring
    // replaced: the catalog's definitions cannot drop it by an override)
    let yaml = Catalog::embedded_sources()
        .iter()
        .find(|(file, _)| *file == "spark-pi-eks.yaml")
        .unwrap()
        .1;
    let s3 = "      s3MonitoringConfiguration:\n        logUri: s3://emr-flows-logs/eks/\n";
    assert!(yaml.contains(s3));
    let yaml = yaml
        .replace("name: spark-pi-eks\n", "name: spark-pi-eks-cloudwatch\n")
        .replace(
            s3,
            "      cloudWatchMonitoringConfiguration:\n        logGroupName: /emr-on-eks/spark-pi\n",
        );
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let submitter = ops::Submitter {
        catalog: Catalog::from_sources(&[("spark-pi-eks-cloudwatch.yaml", &yaml)]).unwrap(),
        policy: w.submitter.policy.clone(),
        services: w.svc().clone(),
        region: "us-east-1".into(),
    };
    let vc = virtual_cluster().await;
    let mut request = request(&vc, json!({}));
    request["flow"] = "spark-pi-eks-cloudwatch".into();
    let ops::SubmitAnswer::Launched(submitted) = ops::submit(&submitter, request).await.unwrap() else {
        panic!("a launch")
    };
    let run = EksJobRunId::parse(submitted.job_run_id.as_deref().unwrap()).unwrap();
    assert_eq!(
        w.record(submitted.flow_id).await.eks_job_run.unwrap().log_uri,
        None
    );
    // WHEN it FAILED
    proxy
        .fault_with(
            "DescribeJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"failureReason": "USER_ERROR", "stateDetails": "Driver exited with code 1."}}),
        )
        .await;
    on_event(&w, state_change(&vc, &run, "FAILED")).await;
    // THEN the record says its driver log is not in S3, at once, and nothing is looked for
    let failure = w.record(submitted.flow_id).await.failure.unwrap();
    assert_eq!(failure.log_location.as_deref(), Some(NO_S3_LOGS_EKS));
    assert_eq!(
        failure.message.as_deref(),
        Some("USER_ERROR: Driver exited with code 1.")
    );
    proxy.clear_requests().await;
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    let counts = proxy.counts().await;
    assert_eq!(counts.get("DescribeJobRun"), None, "{counts:?}");
    assert!(
        !counts.keys().any(|op| op.contains("emr-flows-logs")),
        "{counts:?}"
    );
}

#[tokio::test]
async fn terminate_cancels_the_run_and_racing_completion_decides_by_the_facts() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    // GIVEN a running flow whose CancelJobRun is refused once
    let (flow_id, run) = submit(&w, &vc, json!({"callbacks": callback(&receiver)})).await;
    on_event(&w, state_change(&vc, &run, "RUNNING")).await;
    // (5: the SDK's own retries of a 500 use some)
    proxy.fault("CancelJobRun", "fail_500", 5, 0.0).await;
    let refused = ops::terminate(w.svc(), json!({"flow_id": flow_id.to_string()})).await;
    assert!(refused.is_err());
    let termination = w.record(flow_id).await.termination.unwrap();
    assert_eq!((termination.attempts, termination.accepted_at), (1, None));
    assert!(termination.last_error.is_some());
    assert_eq!(runs(&vc).await, [(run.to_string(), "RUNNING".to_owned())]);
    // WHEN the sweep tries again after the retry wait (its repair's DescribeJobRun: RUNNING)
    w.clock.advance(emr_flows::model::TERMINATION_RETRY);
    sweep(&w).await;
    // THEN EMR on EKS accepted it (moto cancels at once)
    let record = w.record(flow_id).await;
    assert!(record.termination.as_ref().unwrap().accepted_at.is_some());
    assert_eq!(record.status, FlowStatus::Running);
    assert_eq!(runs(&vc).await, [(run.to_string(), "CANCELLED".to_owned())]);
    // AND when the CANCELLED event arrives (twice) the flow is CANCELLED, told once
    assert_eq!(
        applied(&w, state_change(&vc, &run, "CANCELLED")).await,
        (FlowStatus::Cancelled, true)
    );
    assert_eq!(
        applied(&w, state_change(&vc, &run, "CANCELLED")).await,
        (FlowStatus::Cancelled, false)
    );
    let record = w.record(flow_id).await;
    let failure = record.failure.unwrap();
    assert_eq!(failure.code.as_deref(), Some(JOB_RUN_CANCELLED));
    assert!(
        failure.message.as_deref().unwrap().contains("on request"),
        "{failure:?}"
    );
    // AND the run's times are DescribeJobRun's (moto: created 00:00, cancelled 00:01)
    let eks = record.eks_job_run.unwrap();
    assert_eq!(
        (eks.created_at, eks.finished_at),
        (Some(today_at(0, 0)), Some(today_at(0, 1)))
    );
    assert_eq!(eks.duration_seconds, Some(60));

    // A run that completed while its terminate was on the way SUCCEEDED: the facts decide.
    let (flow_id, run) = submit(&w, &vc, json!({"callbacks": callback(&receiver)})).await;
    let asked = ops::terminate(w.svc(), json!({"flow_id": flow_id.to_string()}))
        .await
        .unwrap();
    assert!(asked.termination_accepted_at.is_some());
    // (moto marks the run CANCELLED at once; EMR on EKS says COMPLETED of a run whose driver
    // finished before the cancel took effect)
    proxy
        .fault_with(
            "DescribeJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "COMPLETED", "stateDetails": "JobRun completed successfully. It ran for 41 Seconds"}}),
        )
        .await;
    assert_eq!(
        applied(&w, state_change(&vc, &run, "COMPLETED")).await,
        (FlowStatus::Succeeded, true)
    );
    let statuses: Vec<_> = (receiver.received().iter())
        .map(|r| r["body"]["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("CANCELLED"), json!("SUCCEEDED")]);
}

#[tokio::test]
async fn max_runtime_cancels_the_run_and_its_end_is_timed_out() {
    let w = world().await;
    let vc = virtual_cluster().await;
    // GIVEN a running flow limited to one hour (EMR on EKS has no timeout of its own)
    let (flow_id, run) = submit(&w, &vc, json!({"max_runtime": "1h"})).await;
    on_event(&w, state_change(&vc, &run, "RUNNING")).await;
    // WHEN the deadline passes
    w.clock.advance(chrono::Duration::minutes(71));
    sweep(&w).await;
    // THEN the sweep cancelled the run for it
    let record = w.record(flow_id).await;
    assert!(
        record.termination.as_ref().unwrap().accepted_at.is_some(),
        "{record:?}"
    );
    assert_eq!(runs(&vc).await, [(run.to_string(), "CANCELLED".to_owned())]);
    // AND when the run's end is known (here by the sweep's DescribeJobRun repair) it is TIMED_OUT
    w.clock.advance(chrono::Duration::minutes(11));
    sweep(&w).await;
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::TimedOut, "{record:?}");
    assert_eq!(
        record.failure.unwrap().code.as_deref(),
        Some(MAX_RUNTIME_EXCEEDED)
    );

    // A run cancelled by someone else is CANCELLED, with what EMR on EKS said of it.
    let (flow_id, run) = submit(&w, &vc, json!({})).await;
    containers()
        .await
        .cancel_job_run()
        .virtual_cluster_id(vc.as_str())
        .id(run.as_str())
        .send()
        .await
        .unwrap();
    on_event(&w, stateless(&vc, &run)).await;
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Cancelled);
    let failure = record.failure.unwrap();
    assert_eq!(failure.code.as_deref(), Some(JOB_RUN_CANCELLED));
    assert_eq!(
        failure.message.as_deref(),
        Some("the job run was cancelled, not by emr-flows: JobRun CANCELLED successfully.")
    );
}

#[tokio::test]
async fn lost_events_are_repaired_by_the_sweep_and_unknown_states_never_end_a_flow() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    let (flow_id, run) = submit(&w, &vc, json!({"callbacks": callback(&receiver)})).await;
    // GIVEN a state the product does not know, said by the event and DescribeJobRun alike
    proxy
        .fault_with(
            "DescribeJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "SOMETHING_NEW"}}),
        )
        .await;
    let (status, _) = applied(&w, state_change(&vc, &run, "SOMETHING_NEW")).await;
    // THEN it is kept as the service wrote it, and the flow goes on waiting
    assert_eq!(status, FlowStatus::Starting);
    assert_eq!(
        w.record(flow_id).await.eks_job_run.unwrap().state,
        Some(EksJobRunState::Other("SOMETHING_NEW".into()))
    );
    // WHEN every other event is lost and the sweep runs before the run is quiet long enough
    w.clock.advance(chrono::Duration::minutes(5));
    proxy.clear_requests().await;
    sweep(&w).await;
    assert_eq!(proxy.counts().await.get("DescribeJobRun"), None);
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Starting);
    // THEN after ten quiet minutes the sweep asks DescribeJobRun (moto: RUNNING)
    w.clock.advance(chrono::Duration::minutes(6));
    sweep(&w).await;
    assert_eq!(proxy.counts().await.get("DescribeJobRun"), Some(&1));
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Running);
    // AND CANCEL_PENDING (event and DescribeJobRun) is no end
    proxy
        .fault_with(
            "DescribeJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "CANCEL_PENDING"}}),
        )
        .await;
    assert_eq!(
        applied(&w, state_change(&vc, &run, "CANCEL_PENDING")).await,
        (FlowStatus::Running, true)
    );
    // WHEN the run is cancelled (by someone else) and its event is lost, the sweep ends the
    // flow as DescribeJobRun says after ten more quiet minutes: CANCELLED
    containers()
        .await
        .cancel_job_run()
        .virtual_cluster_id(vc.as_str())
        .id(run.as_str())
        .send()
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Running);
    w.clock.advance(chrono::Duration::minutes(6));
    sweep(&w).await;
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Cancelled);
    assert_eq!(record.failure.unwrap().code.as_deref(), Some(JOB_RUN_CANCELLED));
    // AND a late event after that changes nothing, and the callback went once
    assert_eq!(
        applied(&w, state_change(&vc, &run, "COMPLETED")).await,
        (FlowStatus::Cancelled, false)
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "CANCELLED");
}

#[tokio::test]
async fn a_new_driver_attempt_moves_the_attempt_and_the_run_goes_on() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    let (flow_id, run) = submit(&w, &vc, json!({"callbacks": callback(&receiver)})).await;
    on_event(&w, state_change(&vc, &run, "RUNNING")).await;
    // WHEN the first driver fails and EMR on EKS starts a second (retryPolicyConfiguration)
    assert_eq!(
        applied(&w, new_driver_attempt(&vc, &run, 2)).await,
        (FlowStatus::Running, true)
    );
    // THEN the record is on attempt 2, still running; the same event again changes nothing
    let eks = w.record(flow_id).await.eks_job_run.unwrap();
    assert_eq!(eks.attempt, 2);
    assert_eq!(eks.state.map(|s| s.to_string()).as_deref(), Some("RUNNING"));
    assert_eq!(
        applied(&w, new_driver_attempt(&vc, &run, 2)).await,
        (FlowStatus::Running, false)
    );
    // AND when attempt 2 completes the flow SUCCEEDED, and its callback names the attempt
    assert_eq!(
        applied(&w, state_change(&vc, &run, "COMPLETED")).await,
        (FlowStatus::Succeeded, true)
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["eks_job_run"]["attempt"], 2);
}

#[tokio::test]
async fn a_refused_start_job_run_fails_the_flow_names_the_call_and_calls_back() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    // GIVEN EMR on EKS refuses StartJobRun (the proxy answers as the service would)
    let refusal = json!({"__type": "ValidationException", "message": "Execution role is not valid"});
    proxy.fault_with("StartJobRun", "answer", 1, 400, refusal).await;
    // WHEN a flow is submitted THEN the caller is told which service and call refused, and why
    let err = w
        .submit(request(&vc, json!({"callbacks": callback(&receiver)})))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("EMR on EKS StartJobRun"), "{err}");
    assert!(err.contains("Execution role is not valid"), "{err}");
    // AND it names the flow that was recorded FAILED, as an idempotent retry would answer it
    let flow = (err.split("(flow ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    let recorded = w.record(FlowId::parse(flow).unwrap()).await;
    assert_eq!(recorded.status, FlowStatus::Failed);
    assert!(
        err.contains("recorded FAILED with START_JOB_RUN_FAILED; its callbacks are told"),
        "{err}"
    );
    // AND nothing runs, it was sent once, and the callback says FAILED with the cause
    assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1));
    assert_eq!(runs(&vc).await, []);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "FAILED");
    assert_eq!(received[0]["body"]["failure"]["code"], START_JOB_RUN_FAILED);

    // moto's own refusal: a virtual cluster it does not know (ResourceNotFoundException)
    let unknown = VirtualClusterId::parse("nosuchvirtualcluster00000").unwrap();
    let err = w
        .submit(request(&unknown, json!({"callbacks": callback(&receiver)})))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("EMR on EKS StartJobRun"), "{err}");
    assert!(err.contains("nosuchvirtualcluster00000"), "{err}");
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1]["body"]["failure"]["code"], START_JOB_RUN_FAILED);
    assert!(
        (received[1]["body"]["failure"]["message"].as_str().unwrap()).contains("nosuchvirtualcluster00000"),
        "{}",
        received[1]["body"]
    );
}

#[tokio::test]
async fn a_run_whose_start_was_never_recorded_is_adopted_by_its_event_and_a_pending_terminate_carried_out() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let vc = virtual_cluster().await;
    // GIVEN a flow whose submit died after StartJobRun was applied (PENDING, no run recorded),
    // and a terminate asked meanwhile
    let (flow_id, run) = submit(&w, &vc, json!({"callbacks": callback(&receiver)})).await;
    w.svc()
        .store
        .update(flow_id, |r| {
            r.status = FlowStatus::Pending;
            r.eks_job_run.as_mut().unwrap().job_run_id = None;
            true
        })
        .await
        .unwrap();
    let asked = ops::terminate(w.svc(), json!({"flow_id": flow_id.to_string()}))
        .await
        .unwrap();
    assert_eq!(asked.termination_accepted_at, None, "no run known yet");
    // WHEN the run's first event arrives
    let outcome = on_event(&w, state_change(&vc, &run, "RUNNING")).await;
    // THEN the flow adopted the run by its tag, and the terminate was carried out on it
    assert!(
        matches!(outcome, StateChangeOutcome::Applied { .. }),
        "{outcome:?}"
    );
    let record = w.record(flow_id).await;
    assert_eq!(record.eks_job_run_id(), Some(&run));
    assert!(record.termination.as_ref().unwrap().accepted_at.is_some());
    assert_eq!(runs(&vc).await, [(run.to_string(), "CANCELLED".to_owned())]);
    // AND its end is CANCELLED, told once
    on_event(&w, state_change(&vc, &run, "CANCELLED")).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Cancelled);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_dry_run_answers_the_start_job_run_request_and_an_idempotency_key_starts_one_run() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let vc = virtual_cluster().await;
    // GIVEN a dry run THEN it answers the StartJobRun request, token and tags included, and
    // starts nothing
    let mut dry = request(&vc, json!({}));
    dry["dry_run"] = true.into();
    let ops::SubmitAnswer::DryRun(answer) = ops::submit(&w.submitter, dry).await.unwrap() else {
        panic!("a dry run")
    };
    assert_eq!(answer.request["virtualClusterId"], vc.as_str());
    assert_eq!(
        answer.request["clientToken"],
        format!("emr-flows-{}", answer.flow_id)
    );
    assert_eq!(
        answer.request["tags"]["emr-flows:flow-id"],
        answer.flow_id.to_string()
    );
    assert_eq!(answer.request["name"], format!("spark-pi-{}", answer.flow_id));
    assert_eq!(proxy.counts().await.get("StartJobRun"), None);
    // WHEN the same request is submitted twice with one idempotency key
    let mut keyed = request(&vc, json!({}));
    keyed["idempotency_key"] = "eks-job-run-1".into();
    let first = w.submit(keyed.clone()).await.unwrap();
    let again = w.submit(keyed).await.unwrap();
    // THEN both answers name the one flow and its one run
    assert_eq!(first, again);
    assert!(first.job_run_id.is_some());
    assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1));
    assert_eq!(runs(&vc).await.len(), 1);
}

#[tokio::test]
async fn a_run_of_another_stack_or_of_no_flow_here_is_ignored_and_left_alone() {
    let w = world().await;
    let vc = virtual_cluster().await;
    let (flow_id, _) = submit(&w, &vc, json!({})).await;
    // GIVEN a run carrying this flow's id, but another stack's name (another deployment's),
    // and a run of no flow at all
    let flow_tag = flow_id.to_string();
    let other = stranger(
        &vc,
        &format!("spark-pi-{flow_id}"),
        "other-stack",
        &[
            ("emr-flows:flow-id", &flow_tag),
            ("emr-flows:stack", "another-stack"),
        ],
    )
    .await;
    let nobodys = stranger(&vc, "adhoc", "adhoc-token", &[]).await;
    // WHEN their events arrive THEN they are ignored: not adopted, not cancelled, not noted
    for run in [&other, &nobodys] {
        let outcome = on_event(&w, state_change(&vc, run, "FAILED")).await;
        assert!(
            matches!(outcome, StateChangeOutcome::Ignored { .. }),
            "{outcome:?}"
        );
        assert_eq!(
            describe(&vc, run)
                .await
                .state()
                .map(|s| s.as_str().to_owned())
                .as_deref(),
            Some("RUNNING")
        );
    }
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Starting);
    assert!(record.eks_job_run.unwrap().extra_runs.is_empty());
}
