//! EMR Serverless job runs against moto (through the fault proxy where the network must
//! misbehave or moto lacks what EMR Serverless does): each promise the cluster target keeps,
//! for a flow of `spark-pi-serverless`. moto's runs are born `SUCCESS` and its GetJobRun lacks
//! `stateDetails`, so states are driven with events (the published RUNNING event, its `state`
//! changed) and the proxy's `patch` adds what GetJobRun would say; moto starts a second run for
//! a repeated client token, the proxy's token deduplication stands in for the service's.

use std::time::Duration;

use aws_sdk_emrserverless::error::ProvideErrorMetadata;

use emr_flows::model::{
    ApplicationId, DeliveryStatus, EXECUTION_TIMEOUT, FlowId, FlowStatus, JOB_RUN_FAILED, JobRunId,
    MAX_PROBABLE_CAUSE_BYTES, MAX_RUNTIME_EXCEEDED,
};
use emr_flows::ops::{self, StateChangeOutcome};
use integration_tests::world::{MOTO, World, world, world_behind_proxy};
use integration_tests::{Receiver, TEST_SECRET, root};
use serde_json::{Value, json};

const BUDGET: Duration = Duration::from_secs(60);

/// An EMR Serverless client straight to moto (not through a world's proxy).
async fn serverless() -> aws_sdk_emrserverless::Client {
    aws_sdk_emrserverless::Client::new(&MOTO.get().unwrap().sdk().await)
}

/// A Spark application on moto (born STARTED), for the flows of one test.
async fn application() -> ApplicationId {
    let created = serverless()
        .await
        .create_application()
        .name(format!("app-{}", ulid::Ulid::generate()))
        .release_label("emr-7.1.0")
        .r#type("SPARK")
        .client_token(ulid::Ulid::generate().to_string())
        .send()
        .await
        .unwrap();
    ApplicationId::parse(created.application_id()).unwrap()
}

/// The runs moto holds on `application`, with their state and tags.
async fn runs(application: &ApplicationId) -> Vec<(String, String)> {
    let client = serverless().await;
    let listed = match client
        .list_job_runs()
        .application_id(application.as_str())
        .send()
        .await
    {
        Ok(listed) => listed,
        // moto's answer for an application without runs
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("ResourceNotFoundException") => {
            return Vec::new();
        }
        Err(e) => panic!("{e:?}"),
    };
    let mut runs: Vec<_> = (listed.job_runs().iter())
        .map(|r| (r.id().to_owned(), r.state().as_str().to_owned()))
        .collect();
    runs.sort();
    runs
}

/// The published "Job Run State Change" (`events/real/events/serverless-job-RUNNING.json`)
/// for `run`, in `state`.
fn state_change(application: &ApplicationId, run: &JobRunId, state: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join("events/real/events/serverless-job-RUNNING.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["detail"]["applicationId"] = application.as_str().into();
    event["detail"]["jobRunId"] = run.as_str().into();
    event["detail"]["previousState"] = event["detail"]["state"].clone();
    event["detail"]["state"] = state.into();
    event
}

/// A "Job Run Retry" from the event guide's fields (no valid JSON sample is published).
fn retry(application: &ApplicationId, run: &JobRunId, new_attempt: u32) -> Value {
    let mut event = state_change(application, run, "RUNNING");
    event["detail-type"] = "EMR Serverless Job Run Retry".into();
    event["detail"] = json!({
        "applicationId": application.as_str(), "jobRunId": run.as_str(),
        "previousAttempt": new_attempt - 1, "previousAttemptState": "FAILED",
        "previousAttemptCreatedAt": "2022-05-31T21:07:25.325900Z",
        "previousAttemptEndedAt": "2022-05-31T21:17:25.325900Z",
        "newAttempt": new_attempt, "newAttemptCreatedAt": "2022-05-31T21:17:30.000000Z",
    });
    event
}

/// A "Job Resource Utilization Update" from the event guide's fields.
fn utilization(application: &ApplicationId, run: &JobRunId, last: bool, figures: [f64; 3]) -> Value {
    let mut event = state_change(application, run, "RUNNING");
    event["detail-type"] = "EMR Serverless Job Resource Utilization Update".into();
    let f = json!({"vCPUHour": figures[0], "memoryGBHour": figures[1], "storageGBHour": figures[2]});
    event["detail"] = json!({
        "applicationId": application.as_str(), "jobRunId": run.as_str(), "attempt": 1,
        "mode": "BATCH", "createdAt": "2022-05-31T21:07:25.325900Z",
        "calculatedFrom": "2022-05-31T21:07:42.299487Z", "calculatedTo": "2022-05-31T21:37:42.299487Z",
        "resourceUtilizationFinal": last,
        "resourceUtilizationForInterval": f, "billedResourceUtilizationForInterval": f,
        "totalResourceUtilization": f, "totalBilledResourceUtilization": f,
    });
    event
}

async fn on_event(w: &World, event: Value) -> StateChangeOutcome {
    ops::on_state_change(w.svc(), event, BUDGET).await.unwrap()
}

async fn sweep(w: &World) -> ops::SweepReport {
    let report = ops::sweep(w.svc(), BUDGET).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    report
}

fn callback(receiver: &Receiver) -> Value {
    json!([{"http": {"url": receiver.url}}])
}

/// Submits `spark-pi-serverless` on `application` (and `extra` request members): the flow and
/// its run.
async fn submit(w: &World, application: &ApplicationId, extra: Value) -> (FlowId, JobRunId) {
    let mut request =
        json!({"flow": "spark-pi-serverless", "params": {"application_id": application.as_str()}});
    request
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let submitted = w.submit(request).await.unwrap();
    let run = w
        .record(submitted.flow_id)
        .await
        .job_run_id()
        .cloned()
        .expect("a job run");
    (submitted.flow_id, run)
}

#[tokio::test]
async fn a_job_run_starts_once_tagged_and_ends_as_its_events_say_whatever_their_order() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    // WHEN a flow is submitted
    let submitted = w
        .submit(
            json!({"flow": "spark-pi-serverless", "params": {"application_id": app.as_str()},
                       "callbacks": callback(&receiver)}),
        )
        .await
        .unwrap();
    // THEN one StartJobRun started one run, tagged with the flow, named in the answer
    assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1));
    assert_eq!(submitted.status, FlowStatus::Starting);
    let run = JobRunId::parse(submitted.job_run_id.as_deref().expect("the answer names the run")).unwrap();
    assert_eq!(submitted.application_id.as_ref(), Some(&app));
    let got = serverless()
        .await
        .get_job_run()
        .application_id(app.as_str())
        .job_run_id(run.as_str())
        .send()
        .await
        .unwrap();
    let tags = got.job_run().unwrap().tags().unwrap();
    assert_eq!(tags["emr-flows:flow-id"], submitted.flow_id.to_string());
    assert_eq!(tags["emr-flows:flow"], "spark-pi-serverless");
    assert_eq!(tags["emr-flows:stack"], emr_flows::catalog::job_flow::LOCAL_STACK);
    assert_eq!(
        got.job_run().unwrap().name(),
        Some(format!("spark-pi {}", submitted.flow_id).as_str())
    );
    // WHEN its events arrive late, twice and out of order: SUCCESS, RUNNING, SUCCESS, SCHEDULED
    proxy.clear_requests().await;
    let mut outcomes = Vec::new();
    for state in ["SUCCESS", "RUNNING", "SUCCESS", "SCHEDULED"] {
        outcomes.push(on_event(&w, state_change(&app, &run, state)).await);
    }
    // THEN the flow SUCCEEDED at the first, the others changed nothing, one callback was sent
    let changed: Vec<_> = (outcomes.iter())
        .map(|o| match o {
            StateChangeOutcome::Applied { status, changed, .. } => (*status, *changed),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        changed,
        [
            (FlowStatus::Succeeded, true),
            (FlowStatus::Succeeded, false),
            (FlowStatus::Succeeded, false),
            (FlowStatus::Succeeded, false)
        ]
    );
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.deliveries["0"].status, DeliveryStatus::Delivered);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "SUCCEEDED");
    assert_eq!(received[0]["body"]["job_run"]["job_run_id"], run.as_str());
    // AND each event cost one GetJobRun (its flow's tag and, at the end, its details)
    let counts = proxy.counts().await;
    assert_eq!(counts.get("GetJobRun"), Some(&4), "{counts:?}");
    assert_eq!(counts.get("StartJobRun"), None);
    // AND a run that is no flow's is ignored
    let stranger = serverless()
        .await
        .start_job_run()
        .application_id(app.as_str())
        .execution_role_arn("arn:aws:iam::123456789012:role/Other")
        .client_token("other")
        .send()
        .await
        .unwrap();
    let stranger = JobRunId::parse(stranger.job_run_id()).unwrap();
    assert!(matches!(
        on_event(&w, state_change(&app, &stranger, "FAILED")).await,
        StateChangeOutcome::Ignored { .. }
    ));
}

#[tokio::test]
async fn a_lost_start_job_run_answer_starts_one_run_which_the_flow_adopts() {
    for fault in ["error_500", "drop_after"] {
        let w = world_behind_proxy().await;
        let proxy = w.proxy.as_ref().unwrap();
        let app = application().await;
        // GIVEN EMR Serverless starts the run but its answer is lost
        proxy.fault("StartJobRun", fault, 3, 0.0).await;
        // WHEN a flow is submitted
        let submitted = w
            .submit(json!({"flow": "spark-pi-serverless", "params": {"application_id": app.as_str()}}))
            .await
            .unwrap();
        // THEN StartJobRun was sent once, the run was found by its tag (ListJobRuns, GetJobRun)
        assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1), "{fault}");
        assert_eq!(runs(&app).await.len(), 1, "{fault}");
        assert_eq!(submitted.status, FlowStatus::Starting, "{fault}");
        let record = w.record(submitted.flow_id).await;
        assert_eq!(
            record.job_run_id().map(|r| r.as_str()),
            Some(runs(&app).await[0].0.as_str())
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
        let app = application().await;
        proxy.dedupe_tokens(dedupes).await;
        proxy.fault("StartJobRun", "drop_after", 1, 0.0).await;
        proxy
            .fault_with("ListJobRuns", "answer", 1, 200, json!({"jobRuns": []}))
            .await;
        // WHEN a flow is submitted
        let submitted = w
            .submit(json!({"flow": "spark-pi-serverless", "params": {"application_id": app.as_str()}}))
            .await
            .unwrap();
        // THEN StartJobRun was sent again with the same token
        assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&2));
        assert_eq!(submitted.status, FlowStatus::Starting);
        let own = submitted.job_run_id.clone().unwrap();
        let all = runs(&app).await;
        if dedupes {
            // AND where the service deduplicates on it, one run exists: the flow's
            assert_eq!(all.len(), 1, "{all:?}");
            assert_eq!(all[0].0, own.as_str());
        } else {
            // AND where it does not (moto), the second run is the flow's; the first one's event
            // finds it an extra, cancelled and noted
            assert_eq!(all.len(), 2, "{all:?}");
            let first = all.iter().find(|(id, _)| id != own.as_str()).unwrap();
            let first = JobRunId::parse(&first.0).unwrap();
            let outcome = on_event(&w, state_change(&app, &first, "RUNNING")).await;
            assert!(
                matches!(outcome, StateChangeOutcome::Ignored { .. }),
                "{outcome:?}"
            );
            let record = w.record(submitted.flow_id).await;
            let extras = &record.job_run.as_ref().unwrap().extra_runs;
            assert_eq!(extras.len(), 1);
            assert_eq!(extras[0].job_run_id, first);
            assert!(extras[0].cancelled_at.is_some());
            assert!(
                runs(&app)
                    .await
                    .contains(&(first.to_string(), "CANCELLED".into()))
            );
        }
    }
}

#[tokio::test]
async fn a_launch_that_never_happened_ends_failed_after_the_grace() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    // GIVEN StartJobRun fails unapplied, twice, with answers that prove nothing
    proxy.fault("StartJobRun", "fail_500", 2, 0.0).await;
    let submitted = w
        .submit(
            json!({"flow": "spark-pi-serverless", "params": {"application_id": app.as_str()},
                       "callbacks": callback(&receiver)}),
        )
        .await
        .unwrap();
    assert_eq!(submitted.status, FlowStatus::Pending);
    // WHEN the sweep runs after the grace
    w.clock.advance(chrono::Duration::minutes(4));
    sweep(&w).await;
    // THEN the flow FAILED, no run exists, the callback says so
    let record = w.record(submitted.flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    assert_eq!(
        record.failure.unwrap().code.as_deref(),
        Some(emr_flows::model::START_JOB_RUN_LOST)
    );
    assert_eq!(runs(&app).await, []);
    assert_eq!(receiver.received()[0]["body"]["status"], "FAILED");
}

#[tokio::test]
async fn a_failed_run_keeps_its_state_details_whole_and_its_driver_log_becomes_the_probable_cause() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    let (flow_id, run) = submit(&w, &app, json!({"callbacks": callback(&receiver)})).await;
    // GIVEN the run's first attempt failed and EMR Serverless retries it (the retry event), and
    // its second attempt fails with real stateDetails (published ones, joined: past 256 chars)
    let published: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("events/real/requests/get-job-run-serverless-stateDetails-FAILED.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let details = (published.as_array().unwrap().iter())
        .map(|d| d["stateDetails"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(details.len() > 256);
    on_event(&w, state_change(&app, &run, "RUNNING")).await;
    on_event(&w, retry(&app, &run, 2)).await;
    let record = w.record(flow_id).await;
    assert_eq!(
        (record.status, record.job_run.as_ref().unwrap().attempt),
        (FlowStatus::Running, 2)
    );
    proxy
        .fault_with(
            "GetJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "FAILED", "stateDetails": details, "attempt": 2}}),
        )
        .await;
    on_event(&w, state_change(&app, &run, "FAILED")).await;
    // THEN the flow FAILED with the stateDetails whole
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    let failure = record.failure.clone().unwrap();
    assert_eq!(failure.code.as_deref(), Some(JOB_RUN_FAILED));
    assert_eq!(failure.message.as_deref(), Some(details.as_str()));
    assert_eq!(failure.probable_cause, None, "the driver log is not in S3 yet");
    // WHEN the driver's stderr.gz of attempt 2 arrives under the logUri, and the sweep runs
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&MOTO.get().unwrap().sdk().await)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket("emr-flows-logs").send().await;
    let log = format!(
        "{}Exception in thread \"main\" java.io.IOException: No space left on device\n",
        "INFO noise\n".repeat(5000)
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, log.as_bytes()).unwrap();
    let key = format!("serverless/applications/{app}/jobs/{run}/attempts/2/SPARK_DRIVER/stderr.gz");
    s3.put_object()
        .bucket("emr-flows-logs")
        .key(&key)
        .body(gz.finish().unwrap().into())
        .send()
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    // THEN the record names the probable cause, the end of that log, and where it was read
    let failure = w.record(flow_id).await.failure.unwrap();
    let cause = failure.probable_cause.unwrap();
    assert!(cause.ends_with("No space left on device\n"), "{cause:.80}");
    assert!(cause.len() <= MAX_PROBABLE_CAUSE_BYTES);
    assert_eq!(failure.log_location, Some(format!("s3://emr-flows-logs/{key}")));
    // AND one callback told the failure, with the stateDetails
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["failure"]["message"], details.as_str());
}

#[tokio::test]
async fn terminate_cancels_the_run_and_racing_completion_decides_by_the_facts() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    // GIVEN a running flow whose CancelJobRun is refused once
    let (flow_id, run) = submit(&w, &app, json!({"callbacks": callback(&receiver)})).await;
    on_event(&w, state_change(&app, &run, "RUNNING")).await;
    // (5: the SDK's own retries of a 500 use some)
    proxy.fault("CancelJobRun", "fail_500", 5, 0.0).await;
    let refused = ops::terminate(w.svc(), json!({"flow_id": flow_id.to_string()})).await;
    assert!(refused.is_err());
    let record = w.record(flow_id).await;
    let termination = record.termination.clone().unwrap();
    assert_eq!((termination.attempts, termination.accepted_at), (1, None));
    assert!(termination.last_error.is_some());
    // WHEN the sweep tries again after the retry wait (its repair's GetJobRun says RUNNING:
    // moto's runs are born SUCCESS)
    proxy
        .fault_with(
            "GetJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "RUNNING"}}),
        )
        .await;
    w.clock.advance(emr_flows::model::TERMINATION_RETRY);
    sweep(&w).await;
    // THEN EMR Serverless accepted it, and the run was cancelled on the service
    let record = w.record(flow_id).await;
    assert!(record.termination.as_ref().unwrap().accepted_at.is_some());
    assert!(runs(&app).await.contains(&(run.to_string(), "CANCELLED".into())));
    // AND when the CANCELLED event arrives the flow is CANCELLED, told once
    on_event(&w, state_change(&app, &run, "CANCELLED")).await;
    on_event(&w, state_change(&app, &run, "CANCELLED")).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Cancelled);

    // A run that completed while its terminate was on the way SUCCEEDED: the facts decide.
    let (flow_id, run) = submit(&w, &app, json!({"callbacks": callback(&receiver)})).await;
    ops::terminate(w.svc(), json!({"flow_id": flow_id.to_string()}))
        .await
        .unwrap();
    on_event(&w, state_change(&app, &run, "SUCCESS")).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Succeeded);
    let statuses: Vec<_> = receiver
        .received()
        .iter()
        .map(|r| r["body"]["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("CANCELLED"), json!("SUCCEEDED")]);
}

#[tokio::test]
async fn max_runtime_cancels_the_run_and_the_services_own_timeout_is_told_apart() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let app = application().await;
    // GIVEN a running flow limited to one hour
    let (flow_id, run) = submit(&w, &app, json!({"max_runtime": "1h"})).await;
    on_event(&w, state_change(&app, &run, "RUNNING")).await;
    // WHEN the deadline passes (GetJobRun says RUNNING: moto's runs are born SUCCESS)
    proxy
        .fault_with(
            "GetJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "RUNNING"}}),
        )
        .await;
    w.clock.advance(chrono::Duration::minutes(71));
    sweep(&w).await;
    // THEN the sweep cancelled the run for it
    let record = w.record(flow_id).await;
    assert!(
        record.termination.as_ref().unwrap().accepted_at.is_some(),
        "{record:?}"
    );
    assert!(runs(&app).await.contains(&(run.to_string(), "CANCELLED".into())));
    // AND when the run's end is known (here by the sweep's GetJobRun repair) it is TIMED_OUT
    w.clock.advance(chrono::Duration::minutes(11));
    sweep(&w).await;
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::TimedOut, "{record:?}");
    assert_eq!(
        record.failure.unwrap().code.as_deref(),
        Some(MAX_RUNTIME_EXCEEDED)
    );

    // A run EMR Serverless cancelled after its executionTimeoutMinutes (60 in the definition)
    // is TIMED_OUT too: CANCELLED, 61 minutes after it was created, with no terminate of ours.
    let (flow_id, run) = submit(&w, &app, json!({})).await;
    let mut cancelled = state_change(&app, &run, "CANCELLED");
    cancelled["detail"]["createdAt"] = "2026-12-01T10:00:00.000000Z".into();
    cancelled["detail"]["updatedAt"] = "2026-12-01T11:01:00.000000Z".into();
    on_event(&w, cancelled).await;
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::TimedOut);
    assert_eq!(record.failure.unwrap().code.as_deref(), Some(EXECUTION_TIMEOUT));
    // AND one cancelled by someone else, sooner, is CANCELLED
    let (flow_id, run) = submit(&w, &app, json!({})).await;
    on_event(&w, state_change(&app, &run, "CANCELLED")).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Cancelled);
}

#[tokio::test]
async fn lost_events_are_repaired_by_the_sweep_and_unknown_states_never_end_a_flow() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    let (flow_id, run) = submit(&w, &app, json!({"callbacks": callback(&receiver)})).await;
    // GIVEN states the product does not know, or that are not ends
    for state in ["QUEUED", "CANCELLING", "SOMETHING_NEW"] {
        on_event(&w, state_change(&app, &run, state)).await;
        assert!(!w.record(flow_id).await.status.is_terminal(), "{state}");
    }
    // WHEN every other event is lost and the sweep runs before the run is quiet long enough
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    assert!(!w.record(flow_id).await.status.is_terminal());
    // THEN after ten quiet minutes the sweep asks GetJobRun (moto: SUCCESS) and ends the flow
    w.clock.advance(chrono::Duration::minutes(6));
    sweep(&w).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Succeeded);
    // AND a late event after that changes nothing, and the callback went once
    on_event(&w, state_change(&app, &run, "FAILED")).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Succeeded);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn the_billed_resources_are_recorded_and_the_final_update_is_final() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    let (flow_id, run) = submit(&w, &app, json!({"callbacks": callback(&receiver)})).await;
    // GIVEN half-hourly updates, then the final one, then a late earlier one
    on_event(&w, utilization(&app, &run, false, [0.05, 0.25, 0.0])).await;
    on_event(&w, utilization(&app, &run, true, [0.106, 0.531, 0.0])).await;
    on_event(&w, utilization(&app, &run, false, [0.05, 0.25, 0.0])).await;
    let billed = w.record(flow_id).await.job_run.unwrap();
    assert!(billed.billed_final);
    let figures = billed.billed.unwrap();
    assert_eq!(
        (figures.vcpu_hour, figures.memory_gb_hour, figures.storage_gb_hour),
        (0.106, 0.531, 0.0)
    );
    // WHEN the run ends THEN the callback carries them
    on_event(&w, state_change(&app, &run, "SUCCESS")).await;
    let received = receiver.received();
    assert_eq!(received[0]["body"]["job_run"]["billed"]["vCPUHour"], 0.106);
    assert_eq!(received[0]["body"]["job_run"]["billed"]["memoryGBHour"], 0.531);
}

#[tokio::test]
async fn a_refused_start_job_run_fails_the_flow_names_the_call_and_calls_back() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    // GIVEN EMR Serverless refuses StartJobRun
    let refusal = json!({"__type": "ValidationException", "message": "Job run execution role is not valid"});
    proxy.fault_with("StartJobRun", "answer", 1, 400, refusal).await;
    // WHEN a flow is submitted THEN the caller is told which service and call refused, and why
    let err = w
        .submit(
            json!({"flow": "spark-pi-serverless", "params": {"application_id": app.as_str()},
                       "callbacks": callback(&receiver)}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("EMR Serverless StartJobRun"), "{err}");
    assert!(err.contains("Job run execution role is not valid"), "{err}");
    // AND nothing runs, it was sent once, and the callback says FAILED with the cause
    assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1));
    assert_eq!(runs(&app).await, []);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["body"]["status"], "FAILED");
    assert_eq!(
        received[0]["body"]["failure"]["code"],
        emr_flows::model::START_JOB_RUN_FAILED
    );
}

#[tokio::test]
async fn a_run_whose_start_was_never_recorded_is_adopted_by_its_event_and_a_pending_terminate_carried_out() {
    let w = world().await;
    let receiver = Receiver::start(TEST_SECRET);
    let app = application().await;
    // GIVEN a flow whose submit died after StartJobRun was applied (PENDING, no run recorded),
    // and a terminate asked meanwhile
    let (flow_id, run) = submit(&w, &app, json!({"callbacks": callback(&receiver)})).await;
    w.svc()
        .store
        .update(flow_id, |r| {
            r.status = FlowStatus::Pending;
            r.job_run.as_mut().unwrap().job_run_id = None;
            true
        })
        .await
        .unwrap();
    let asked = ops::terminate(w.svc(), json!({"flow_id": flow_id.to_string()}))
        .await
        .unwrap();
    assert_eq!(asked.termination_accepted_at, None, "no run known yet");
    // WHEN the run's first event arrives
    let outcome = on_event(&w, state_change(&app, &run, "RUNNING")).await;
    // THEN the flow adopted the run by its tag, and the terminate was carried out on it
    assert!(
        matches!(outcome, StateChangeOutcome::Applied { .. }),
        "{outcome:?}"
    );
    let record = w.record(flow_id).await;
    assert_eq!(record.job_run_id(), Some(&run));
    assert!(record.termination.as_ref().unwrap().accepted_at.is_some());
    assert!(runs(&app).await.contains(&(run.to_string(), "CANCELLED".into())));
    // AND its end is CANCELLED, told once
    on_event(&w, state_change(&app, &run, "CANCELLED")).await;
    assert_eq!(w.record(flow_id).await.status, FlowStatus::Cancelled);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_dry_run_answers_the_start_job_run_request_and_an_idempotency_key_starts_one_run() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let app = application().await;
    let request = json!({"flow": "spark-pi-serverless", "params": {"application_id": app.as_str()}});
    // GIVEN a dry run THEN it answers the StartJobRun request, token and tags included, and
    // starts nothing
    let mut dry = request.clone();
    dry["dry_run"] = true.into();
    let ops::SubmitAnswer::DryRun(answer) = ops::submit(&w.submitter, dry).await.unwrap() else {
        panic!("a dry run")
    };
    assert_eq!(answer.request["applicationId"], app.as_str());
    assert_eq!(
        answer.request["clientToken"],
        format!("emr-flows-{}", answer.flow_id)
    );
    assert_eq!(
        answer.request["tags"]["emr-flows:flow-id"],
        answer.flow_id.to_string()
    );
    assert_eq!(proxy.counts().await.get("StartJobRun"), None);
    // WHEN the same request is submitted twice with one idempotency key
    let mut keyed = request.clone();
    keyed["idempotency_key"] = "job-run-1".into();
    let first = w.submit(keyed.clone()).await.unwrap();
    let again = w.submit(keyed).await.unwrap();
    // THEN both answers name the one flow and its one run
    assert_eq!(first, again);
    assert!(first.job_run_id.is_some());
    assert_eq!(proxy.counts().await.get("StartJobRun"), Some(&1));
    assert_eq!(runs(&app).await.len(), 1);
}

#[tokio::test]
async fn state_details_getjobrun_lacked_at_the_end_are_read_by_the_sweep() {
    let w = world_behind_proxy().await;
    let proxy = w.proxy.as_ref().unwrap();
    let app = application().await;
    let (flow_id, run) = submit(&w, &app, json!({})).await;
    // GIVEN a run that FAILED while GetJobRun had no stateDetails (moto never has them)
    on_event(&w, state_change(&app, &run, "FAILED")).await;
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Failed);
    assert_eq!(
        record.failure.unwrap().message.as_deref(),
        Some(emr_flows::model::NO_STATE_DETAILS)
    );
    // WHEN GetJobRun has them, and the sweep runs
    let details = "Job failed, please check complete logs in configured logging destination. ExitCode: 1.";
    proxy
        .fault_with(
            "GetJobRun",
            "patch",
            1,
            200,
            json!({"jobRun": {"state": "FAILED", "stateDetails": details}}),
        )
        .await;
    w.clock.advance(chrono::Duration::minutes(5));
    sweep(&w).await;
    // THEN the record has them, and where the driver log was looked for
    let failure = w.record(flow_id).await.failure.unwrap();
    assert_eq!(failure.message.as_deref(), Some(details));
    assert!(failure.log_location.unwrap().ends_with("/SPARK_DRIVER/stderr.gz"));
}

#[tokio::test]
async fn a_run_of_another_stack_or_of_no_flow_here_is_ignored_and_left_alone() {
    let w = world().await;
    let app = application().await;
    let (flow_id, _) = submit(&w, &app, json!({})).await;
    // GIVEN a run carrying this flow's id, but another stack's name (another deployment's)
    let other = serverless()
        .await
        .start_job_run()
        .application_id(app.as_str())
        .execution_role_arn("arn:aws:iam::123456789012:role/EMRServerlessS3RuntimeRole")
        .client_token("other-stack")
        .name(format!("spark-pi {flow_id}"))
        .tags("emr-flows:flow-id", flow_id.to_string())
        .tags("emr-flows:stack", "another-stack")
        .send()
        .await
        .unwrap();
    let other = JobRunId::parse(other.job_run_id()).unwrap();
    // WHEN its event arrives THEN it is ignored: not adopted, not cancelled, not noted
    let outcome = on_event(&w, state_change(&app, &other, "FAILED")).await;
    assert!(
        matches!(outcome, StateChangeOutcome::Ignored { .. }),
        "{outcome:?}"
    );
    let record = w.record(flow_id).await;
    assert_eq!(record.status, FlowStatus::Starting);
    assert!(record.job_run.unwrap().extra_runs.is_empty());
    assert!(runs(&app).await.contains(&(other.to_string(), "SUCCESS".into())));
}
