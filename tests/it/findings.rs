//! Issue 18's five findings, each as it was found: through the real functions under `cargo
//! lambda watch`, against moto (behind the serializing fault proxy where the finding needs it),
//! invoked with the AWS SDK's Lambda client as a caller would.
//!
//! 1. A receiver's `Retry-After` pushes the next attempt (bounded, recorded).
//! 2. Lambda callback names are judged by Lambda's grammar; versions and aliases are allowed.
//! 3. An event that changes nothing writes nothing (every kind, replays and redrives too).
//! 4. An attempt whose worker died is in the delivery's history, as unknown.
//! 5. What the tests start does not depend on the caller's shell (`AWS_MAX_ATTEMPTS=1`, a
//!    foreign region and profile, an endpoint variable).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use integration_tests::functions::Functions;
use integration_tests::proxy::FaultProxy;
use integration_tests::{
    Moto, Receiver, TEST_PUBLIC_KEY, TEST_SECRET, create_table, event, free_port, unique_table,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// moto with a fresh flow table: the stand-in, the table's name and a DynamoDB client that
/// reaches moto directly (never through a proxy, so never counted).
async fn stand_in(prefix: &str) -> (Moto, String, aws_sdk_dynamodb::Client) {
    let moto = Moto::start();
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk().await);
    let table = unique_table(prefix);
    create_table(&dynamodb, &table).await;
    (moto, table, dynamodb)
}

/// What a local callback endpoint got: `(path, webhook-id)` per request, in arrival order.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// A callback endpoint on 127.0.0.1 answering by path: `/429-90` (429, `Retry-After: 90`),
/// `/503-date` (503, `Retry-After:` an HTTP date two hours on), `/503-hostile` (503,
/// `Retry-After: 99999999999`), `/400-90` (400, `Retry-After: 90`), `/503-soon` (503,
/// `Retry-After: soon`), `/hang` (no answer at all while `hang` is set, else 204).
struct Endpoint {
    url: String,
    requests: Requests,
    hang: Arc<AtomicBool>,
}

impl Endpoint {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let requests: Requests = Arc::default();
        let hang = Arc::new(AtomicBool::new(true));
        let (seen, hanging) = (requests.clone(), hang.clone());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let (seen, hanging) = (seen.clone(), hanging.clone());
                tokio::spawn(async move {
                    let Some((path, webhook_id)) = read_request(&mut socket).await else {
                        return;
                    };
                    seen.lock().unwrap().push((path.clone(), webhook_id));
                    let in_two_hours = (Utc::now() + chrono::Duration::hours(2))
                        .format("%a, %d %b %Y %H:%M:%S GMT")
                        .to_string();
                    let (status, retry_after) = match path.as_str() {
                        "/429-90" => ("429 Too Many Requests", Some("90".to_owned())),
                        "/503-date" => ("503 Service Unavailable", Some(in_two_hours)),
                        "/503-hostile" => ("503 Service Unavailable", Some("99999999999".to_owned())),
                        "/400-90" => ("400 Bad Request", Some("90".to_owned())),
                        "/503-soon" => ("503 Service Unavailable", Some("soon".to_owned())),
                        "/hang" if hanging.load(Ordering::SeqCst) => {
                            // Hold the connection open, answering nothing, until the test ends.
                            tokio::time::sleep(Duration::from_secs(600)).await;
                            return;
                        }
                        _ => ("204 No Content", None),
                    };
                    let header = retry_after
                        .map(|v| format!("retry-after: {v}\r\n"))
                        .unwrap_or_default();
                    let answer = format!(
                        "HTTP/1.1 {status}\r\n{header}content-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { url, requests, hang }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads one HTTP request: its path and `webhook-id` (None when the peer went away).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let n = socket.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&request).to_string();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let header = |name: &str| {
            (text[..end].lines())
                .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v.trim().to_owned())
        };
        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
        if request.len() >= end + 4 + length {
            let path = text.split_whitespace().nth(1).unwrap_or_default().to_owned();
            return Some((path, header("webhook-id").unwrap_or_default()));
        }
    }
}

/// Submits spark-pi with `callbacks`, completes its step and terminates its cluster: the flow
/// id and on-state-change's answer to the end.
async fn run_to_end(functions: &Functions, callbacks: Value) -> (String, Result<Value, Value>) {
    let submitted = functions
        .invoke("submit", &json!({"flow": "spark-pi", "callbacks": callbacks}))
        .await
        .unwrap_or_else(|e| panic!("submit: {e}"));
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let (cluster_id, step_id) = ids(functions, &flow_id).await;
    let completed = event("lifecycle-success/04-step-COMPLETED.json", &cluster_id, &step_id);
    functions.invoke("on-state-change", &completed).await.unwrap();
    let terminated = event(
        "lifecycle-success/05-cluster-TERMINATED.json",
        &cluster_id,
        &step_id,
    );
    let end = functions.invoke("on-state-change", &terminated).await;
    (flow_id, end)
}

/// The flow's cluster id and its (first) step's id, from `list`.
async fn ids(functions: &Functions, flow_id: &str) -> (String, String) {
    let record = functions.record(flow_id).await;
    let step_id = record["steps"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .expect("a step")
        .clone();
    (record["cluster_id"].as_str().unwrap().to_owned(), step_id)
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap()
}

// --- 1. Retry-After -------------------------------------------------------------------------

#[tokio::test]
async fn a_receivers_retry_after_pushes_the_next_attempt_bounded_and_recorded() {
    let (moto, table, _) = stand_in("retry-after").await;
    let functions = Functions::start(&moto.endpoint, &table, &[]).await;
    let endpoint = Endpoint::start().await;
    let mut flows = BTreeMap::new();
    for path in ["/429-90", "/503-date", "/503-hostile", "/400-90", "/503-soon"] {
        let callbacks = json!([{"http": {"url": format!("{}{path}", endpoint.url)}}]);
        let (flow_id, end) = run_to_end(&functions, callbacks).await;
        assert_eq!(end.unwrap()["applied"]["status"], "SUCCEEDED", "{path}");
        flows.insert(path, functions.record(&flow_id).await["deliveries"]["0"].clone());
    }
    let wait = |d: &Value| (time(&d["next_attempt_at"]) - time(&d["history"][0]["at"])).num_seconds();

    // GIVEN the answer, 429 with Retry-After: 90, THEN the next attempt waits 90 s (not
    // the schedule's minute), the value is in the attempt's history, one attempt is counted
    let d = &flows["/429-90"];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_u64()),
        (Some("PENDING"), Some(1)),
        "{d}"
    );
    let attempt = &d["history"][0];
    assert_eq!(attempt["result"], "FAILED", "{d}");
    assert_eq!(attempt["http_status"], 429, "{d}");
    assert_eq!(attempt["retry_after"], "90", "{d}");
    assert!((90..=100).contains(&wait(d)), "waits {} s: {d}", wait(d));

    // AND a 503 with an HTTP date waits until that date
    let d = &flows["/503-date"];
    let asked = DateTime::parse_from_rfc2822(d["history"][0]["retry_after"].as_str().unwrap()).unwrap();
    assert_eq!(time(&d["next_attempt_at"]), asked, "{d}");
    assert!((7190..=7210).contains(&wait(d)), "waits {} s: {d}", wait(d));

    // AND a hostile value is capped at the schedule's longest wait, 10 hours
    let d = &flows["/503-hostile"];
    assert_eq!(d["history"][0]["retry_after"], "99999999999", "{d}");
    assert!((36_000..=36_010).contains(&wait(d)), "waits {} s: {d}", wait(d));

    // AND a 400 (the request itself is wrong) keeps the schedule, with no value recorded
    let d = &flows["/400-90"];
    assert_eq!(wait(d), 60, "{d}");
    assert!(d["history"][0].get("retry_after").is_none(), "{d}");

    // AND a value that is neither seconds nor a date is ignored, and said so
    let d = &flows["/503-soon"];
    assert_eq!(wait(d), 60, "{d}");
    let error = d["history"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("Retry-After was ignored") && error.contains("`soon`"),
        "{d}"
    );
    assert_eq!(
        endpoint.requests().len(),
        5,
        "one attempt each: {:?}",
        endpoint.requests()
    );
}

// --- 2. Lambda function names ---------------------------------------------------------------

#[tokio::test]
async fn lambda_callbacks_are_judged_by_lambdas_grammar_and_versions_and_aliases_are_allowed() {
    let (moto, table, _) = stand_in("lambda-names").await;
    let allow = "arn:aws:lambda:us-east-1:123456789012:function:processor-*";
    let functions = Functions::start(&moto.endpoint, &table, &[("CALLBACK_LAMBDA_ALLOW", allow)]).await;
    let base = "arn:aws:lambda:us-east-1:123456789012:function:";
    let dry_run =
        |function: String| json!({"flow": "spark-pi", "dry_run": true, "callbacks": [{"lambda": function}]});

    // GIVEN an alias and a version of an allowed function THEN submit takes them
    for qualified in ["processor-a:prod", "processor-a:$LATEST", "processor-a:7"] {
        let answer = functions
            .invoke("submit", &dry_run(format!("{base}{qualified}")))
            .await;
        assert_eq!(
            answer.unwrap_or_else(|e| panic!("{qualified}: {e}"))["dry_run"],
            true
        );
    }

    // GIVEN names no Lambda function can have THEN submit refuses each, naming the path and
    // what is wrong, and nothing is written
    for (name, wrong) in [
        ("processor-*", "holds `*`"),
        ("processor-a/../other", "holds `/`"),
        ("processor-\0", "U+0000"),
        ("processor-a\n", "U+000A"),
    ] {
        let error = functions
            .invoke("submit", &dry_run(format!("{base}{name}")))
            .await
            .expect_err(name);
        assert_eq!(error["errorType"], "ValidationError", "{name:?}: {error}");
        let message = error["errorMessage"].as_str().unwrap();
        assert!(message.contains("callbacks[0].lambda"), "{name:?}: {message}");
        assert!(message.contains(wrong), "{name:?}: {message}");
        assert!(!message.contains('\0') && !message.contains('\n'), "{message:?}");
    }
    // AND a qualifier of a function the patterns do not allow is refused like the function
    let error = functions
        .invoke("submit", &dry_run(format!("{base}billing:prod")))
        .await
        .unwrap_err();
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("matches none of the allowed"),
        "{error}"
    );

    // AND an alias is invoked as such: the callback reaches it
    let name = format!("processor-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let arn = moto.create_function(&name).await;
    let lambda = aws_sdk_lambda::Client::new(&moto.sdk().await);
    lambda
        .create_alias()
        .function_name(&name)
        .name("prod")
        .function_version("$LATEST")
        .send()
        .await
        .unwrap_or_else(|e| panic!("alias: {}", aws_sdk_lambda::error::DisplayErrorContext(e)));
    let (flow_id, end) = run_to_end(&functions, json!([{"lambda": format!("{arn}:prod")}])).await;
    end.unwrap();
    let delivery = &functions.record(&flow_id).await["deliveries"]["0"];
    assert_eq!(delivery["status"], "DELIVERED", "{delivery}");
}

// --- 3. Duplicate events --------------------------------------------------------------------

/// The flow item's `version` and the step item, as DynamoDB holds them.
async fn stored(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    flow_id: &str,
    step_id: &str,
) -> (u64, Value) {
    let get = |item: String| {
        dynamodb
            .get_item()
            .table_name(table)
            .key("flow_id", AttributeValue::S(flow_id.to_owned()))
            .key("item", AttributeValue::S(item))
            .consistent_read(true)
            .send()
    };
    let flow = get("flow".into()).await.unwrap().item.expect("the flow item");
    let version = flow["version"].as_n().unwrap().parse().unwrap();
    let step = get(format!("step#{step_id}"))
        .await
        .unwrap()
        .item
        .expect("the step item");
    let step: BTreeMap<_, _> = step.iter().map(|(k, v)| (k.clone(), format!("{v:?}"))).collect();
    (version, json!(step))
}

/// The DynamoDB writes the proxy saw applied (answered 200 by moto), by operation.
async fn applied_writes(proxy: &FaultProxy) -> Vec<String> {
    let record = proxy.requests().await;
    (record["log"].as_array().unwrap().iter())
        .filter(|e| e["service"].as_str().is_some_and(|s| s.starts_with("DynamoDB")))
        .filter(|e| {
            let op = e["op"].as_str().unwrap();
            [
                "PutItem",
                "UpdateItem",
                "DeleteItem",
                "TransactWriteItems",
                "BatchWriteItem",
            ]
            .contains(&op)
        })
        .filter(|e| e["upstream_status"] == 200)
        .map(|e| e["op"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_event_that_changes_nothing_writes_nothing_whatever_its_kind() {
    let (moto, table, dynamodb) = stand_in("duplicates").await;
    let proxy = FaultProxy::start(&moto.endpoint);
    let functions = Functions::start(&proxy.endpoint, &table, &[]).await;
    let receiver = Receiver::trusting(free_port(), Some(TEST_SECRET), Some(TEST_PUBLIC_KEY));
    let callbacks = json!([{"http": {"url": receiver.url}}]);
    let submitted = functions
        .invoke("submit", &json!({"flow": "spark-pi", "callbacks": callbacks}))
        .await
        .unwrap();
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let (cluster_id, step_id) = ids(&functions, &flow_id).await;
    let sample = |file: &str| event(&format!("lifecycle-success/{file}"), &cluster_id, &step_id);
    // (moto runs the first step at once: its RUNNING event finds it so, and changes nothing.)
    for file in [
        "01-cluster-STARTING.json",
        "02-cluster-RUNNING.json",
        "03-step-RUNNING.json",
    ] {
        let answer = functions.invoke("on-state-change", &sample(file)).await.unwrap();
        assert!(answer.get("applied").is_some(), "{file}: {answer}");
    }
    let (before, _) = stored(&dynamodb, &table, &flow_id, &step_id).await;

    // GIVEN the example: fifty identical step COMPLETED events at once
    let completed = sample("04-step-COMPLETED.json");
    let answers =
        futures_util::future::join_all((0..50).map(|_| functions.invoke("on-state-change", &completed)))
            .await;
    // THEN every one is applied, one changed the flow, and the flow item was written once
    let changed = (answers.iter())
        .map(|a| a.as_ref().unwrap_or_else(|e| panic!("{e}")))
        .filter(|a| a["applied"]["changed"] == true)
        .count();
    assert_eq!(changed, 1);
    let (after, step) = stored(&dynamodb, &table, &flow_id, &step_id).await;
    assert_eq!(after, before + 1, "the flow item's version rose by one write");

    // WHEN every kind of event comes again: cluster states, step states, replayed from an
    // archive (`replay-name`) and redriven as a Lambda destination record
    let replayed = |mut e: Value| {
        e["replay-name"] = json!("emr-flows-replay");
        e
    };
    let redriven = |e: Value| {
        json!({"version": "1.0", "requestContext": {"condition": "RetriesExhausted"},
               "requestPayload": e, "responsePayload": {"errorType": "UpstreamError"}})
    };
    let mut again = Vec::new();
    for file in [
        "01-cluster-STARTING.json",
        "02-cluster-RUNNING.json",
        "03-step-RUNNING.json",
        "04-step-COMPLETED.json",
    ] {
        again.extend([sample(file), replayed(sample(file)), redriven(sample(file))]);
    }
    proxy.clear_requests().await;
    for e in &again {
        let answer = functions.invoke("on-state-change", e).await.unwrap();
        assert_eq!(answer["applied"]["changed"], false, "{e}: {answer}");
        assert_eq!(answer["applied"]["status"], "RUNNING", "{answer}");
    }
    // THEN nothing was written: no write applied, the same version, the same step item
    assert_eq!(applied_writes(&proxy).await, Vec::<String>::new());
    assert_eq!(stored(&dynamodb, &table, &flow_id, &step_id).await, (after, step));

    // GIVEN the end, then the end again (as EventBridge may send it), replayed and redriven
    let terminated = sample("05-cluster-TERMINATED.json");
    let end = functions.invoke("on-state-change", &terminated).await.unwrap();
    assert_eq!(
        (
            end["applied"]["status"].as_str(),
            end["applied"]["changed"].as_bool()
        ),
        (Some("SUCCEEDED"), Some(true))
    );
    let (ended, step) = stored(&dynamodb, &table, &flow_id, &step_id).await;
    proxy.clear_requests().await;
    for e in [
        terminated.clone(),
        terminated.clone(),
        replayed(terminated.clone()),
        redriven(terminated),
    ] {
        let answer = functions.invoke("on-state-change", &e).await.unwrap();
        assert_eq!(answer["applied"]["changed"], false, "{answer}");
    }
    // THEN nothing was written, and the outcome was called back once
    assert_eq!(applied_writes(&proxy).await, Vec::<String>::new());
    assert_eq!(stored(&dynamodb, &table, &flow_id, &step_id).await, (ended, step));
    assert_eq!(receiver.received().len(), 1, "{:?}", receiver.received());
}

// --- 4. An attempt whose worker died --------------------------------------------------------

#[tokio::test]
async fn an_attempt_whose_worker_died_stays_in_the_history_as_unknown() {
    let (moto, table, _) = stand_in("unreported").await;
    let endpoint = Endpoint::start().await;
    let url = format!("{}/hang", endpoint.url);
    let functions = Functions::start(&moto.endpoint, &table, &[]).await;
    let submitted = functions
        .invoke(
            "submit",
            &json!({"flow": "spark-pi", "callbacks": [{"http": {"url": url}}]}),
        )
        .await
        .unwrap();
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let (cluster_id, step_id) = ids(&functions, &flow_id).await;
    let completed = event("lifecycle-success/04-step-COMPLETED.json", &cluster_id, &step_id);
    functions.invoke("on-state-change", &completed).await.unwrap();

    // GIVEN the end, whose callback hangs at the endpoint
    let terminated = event(
        "lifecycle-success/05-cluster-TERMINATED.json",
        &cluster_id,
        &step_id,
    );
    let lambda = functions.lambda.clone();
    let ending = tokio::spawn(async move {
        let payload = aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(&terminated).unwrap());
        let _ = lambda
            .invoke()
            .function_name("on-state-change")
            .payload(payload)
            .send()
            .await;
    });
    for _ in 0..300 {
        if !endpoint.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(endpoint.requests().len(), 1, "the callback was sent");
    // WHEN the function is killed while it sends
    drop(functions);
    let _ = ending.await;
    let functions = Functions::start(&moto.endpoint, &table, &[]).await;

    // THEN the claimed attempt is in the history from its claim on
    let delivery = functions.record(&flow_id).await["deliveries"]["0"].clone();
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    assert_eq!(delivery["history"].as_array().unwrap().len(), 1, "{delivery}");
    assert_eq!(delivery["history"][0]["attempt"], 1, "{delivery}");
    assert_eq!(delivery["history"][0]["result"], "SENDING", "{delivery}");

    // WHEN the endpoint answers again and the sweep finds the attempt due (after its lease)
    endpoint.hang.store(false, Ordering::SeqCst);
    let due = time(&delivery["next_attempt_at"]);
    let left = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_secs(1)).await;
    let swept = functions
        .invoke("on-state-change", &json!({"reconcile": true}))
        .await
        .unwrap();
    assert_eq!(swept["reconciled"]["errors"], json!([]), "{swept}");

    // THEN it is delivered once more, with the same webhook-id, and the history holds both
    // attempts: the first unknown, the second delivered
    let delivery = functions.record(&flow_id).await["deliveries"]["0"].clone();
    assert_eq!(delivery["status"], "DELIVERED", "{delivery}");
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    let history = delivery["history"].as_array().unwrap();
    let summary: Vec<_> = (history.iter())
        .map(|a| {
            (
                a["attempt"].clone(),
                a["result"].clone(),
                a["error"].clone(),
                a["http_status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                json!(1),
                json!("UNKNOWN"),
                json!("unknown (the attempt did not report)"),
                Value::Null
            ),
            (json!(2), json!("DELIVERED"), Value::Null, json!(204)),
        ],
        "{delivery}"
    );
    let requests = endpoint.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let webhook_id = format!("flow_{flow_id}_succeeded");
    assert!(requests.iter().all(|(_, id)| *id == webhook_id), "{requests:?}");
}

// --- 5. The caller's shell ------------------------------------------------------------------

/// What a caller's shell may hold that once changed what the tests start: one attempt per AWS
/// call (`source .local/env`), a foreign region, a profile that does not exist, and an endpoint
/// variable that would send DynamoDB's calls nowhere.
const HOSTILE_SHELL: [(&str, &str); 6] = [
    ("AWS_MAX_ATTEMPTS", "1"),
    ("AWS_REGION", "ap-southeast-2"),
    ("AWS_DEFAULT_REGION", "ap-southeast-2"),
    ("AWS_PROFILE", "nosuch"),
    ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9"),
    ("RUST_LOG", "off"),
];

#[tokio::test]
async fn throttled_writes_are_retried_by_the_functions_the_harness_starts() {
    // GIVEN what the harness starts: its environment is the harness's, not the shell's
    let env_log = std::env::temp_dir().join(format!("emr-flows-env-{}.log", free_port()));
    let printer = integration_tests::Service::start(std::path::Path::new("/usr/bin/env"), &[], &[], &env_log);
    let mut printed = String::new();
    for _ in 0..100 {
        printed = std::fs::read_to_string(&env_log).unwrap_or_default();
        if printed.contains("AWS_MAX_ATTEMPTS=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(printer);
    let variables: BTreeMap<&str, &str> = printed.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(variables.get("AWS_MAX_ATTEMPTS"), Some(&"3"), "{printed}");
    assert_eq!(variables.get("AWS_REGION"), Some(&"us-east-1"), "{printed}");
    assert_eq!(variables.get("RUST_LOG"), Some(&"info"), "{printed}");
    for (name, _) in HOSTILE_SHELL
        .iter()
        .filter(|(n, _)| !integration_tests::SERVICE_ENV.iter().any(|(s, _)| s == n))
    {
        assert!(
            !variables.contains_key(name),
            "{name} reached a service: {printed}"
        );
    }

    // AND the functions retry what DynamoDB throttles, as in Lambda: the record's first write
    // throttled twice, then written; one cluster, one flow
    let (moto, table, _) = stand_in("throttled").await;
    let proxy = FaultProxy::start(&moto.endpoint);
    let functions = Functions::start(&proxy.endpoint, &table, &[]).await;
    proxy.fault("TransactWriteItems", "throttle", 2, 0.0).await;
    let submitted = functions
        .invoke(
            "submit",
            &json!({"flow": "spark-pi", "idempotency_key": "throttled-1"}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(submitted["status"], "STARTING", "{submitted}");
    let counts = proxy.counts().await;
    assert_eq!(counts.get("TransactWriteItems"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("RunJobFlow"), Some(&1), "{counts:?}");
}

#[test]
fn the_tests_pass_whatever_aws_variables_the_callers_shell_holds() {
    // GIVEN a shell as CI's and `source .local/env` leave it
    let name = "findings::throttled_writes_are_retried_by_the_functions_the_harness_starts";
    // WHEN the throttling test runs in it (this test binary, that test alone)
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads", "1"])
        .envs(HOSTILE_SHELL)
        .output()
        .unwrap();
    // THEN it passes
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
