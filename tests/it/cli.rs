//! The `emr-flows` command line through its real binary, against the real functions under
//! `cargo lambda watch` on moto: every command, `--wait` and `watch` through whole lifecycles
//! driven by EMR's events, the exit statuses, `--json` parsed; the HTTP API through a stand-in
//! that checks each SigV4 signature with botocore (`dev/standins/api_gateway.py`); a stack's functions
//! found by its outputs (moto's CloudFormation); colour only on a terminal.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use integration_tests::functions::Functions;
use integration_tests::{
    Moto, Receiver, Service, TEST_PUBLIC_KEY, TEST_SECRET, create_table, free_port, root, unique_table,
    venv_bin,
};
use serde_json::{Value, json};

/// The stand-ins every test here shares (started once; they stop with the test process).
struct Stand {
    moto: String,
    table: String,
    /// `cargo lambda watch`: the four functions.
    functions: String,
    /// The HTTP API stand-in.
    api: String,
    receiver_url: String,
    bin: PathBuf,
    _services: (Moto, Receiver, Functions, Service),
}

static STAND: OnceLock<Stand> = OnceLock::new();

fn stand() -> &'static Stand {
    STAND.get_or_init(|| {
        // The binary under test, built as a user builds it.
        let bin = build_cli();
        let moto = Moto::start();
        let table = unique_table("cli");
        // The table and the functions, on a runtime of its own on a thread of its own: the first
        // caller may be inside one.
        let (endpoint, name) = (moto.endpoint.clone(), table.clone());
        let watch = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                create_table(
                    &aws_sdk_dynamodb::Client::new(&integration_tests::sdk_for(&endpoint).await),
                    &name,
                )
                .await;
                Functions::start(&endpoint, &name, &[]).await
            })
        })
        .join()
        .unwrap();
        let receiver = Receiver::trusting(free_port(), Some(TEST_SECRET), Some(TEST_PUBLIC_KEY));
        let functions = watch.endpoint.clone();
        let api_port = free_port();
        let api = Service::start(
            &venv_bin("python"),
            &[
                root().join("dev/standins/api_gateway.py").to_str().unwrap(),
                "--port",
                &api_port.to_string(),
                "--lambda-url",
                &functions,
            ],
            &[
                ("AWS_ACCESS_KEY_ID", "testing".into()),
                ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ],
            &std::env::temp_dir().join(format!("emr-flows-cli-api-{api_port}.log")),
        );
        integration_tests::wait_for_port(api_port, "the API stand-in", Duration::from_secs(30));
        Stand {
            moto: moto.endpoint.clone(),
            table,
            functions,
            api: format!("http://127.0.0.1:{api_port}"),
            receiver_url: receiver.url.clone(),
            bin,
            _services: (moto, receiver, watch, api),
        }
    })
}

/// The binary under test: the one `cargo test --workspace` built beside this test (the cli
/// package's own integration test makes cargo build it, with the same features, so nothing
/// is built twice). When it is missing or older than the cli's sources (this test run alone),
/// `cargo build -p emr-flows-cli` first.
fn build_cli() -> PathBuf {
    let here = std::env::current_exe().unwrap();
    let beside = here
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("emr-flows");
    let built = std::fs::metadata(&beside).and_then(|m| m.modified()).ok();
    if built.is_some_and(|b| newest(&root().join("cli")).is_none_or(|s| s <= b)) {
        return beside;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "-p",
            "emr-flows-cli",
            "--message-format=json",
        ])
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "building emr-flows failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "emr-flows")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the emr-flows executable")
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            if meta.is_dir() {
                newest(&entry.path())
            } else {
                meta.modified().ok()
            }
        })
        .max()
}

impl Stand {
    /// `emr-flows ARGS` with the local stack's environment (as `.local/env` exports it).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .current_dir(root())
            .env_remove("AWS_PROFILE")
            .env_remove("NO_COLOR")
            .env_remove("EMR_FLOWS_API")
            .env_remove("EMR_FLOWS_STACK")
            .env("EMR_FLOWS_LAMBDA_URL", &self.functions)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().unwrap(), args)
    }

    /// `--json` output parsed, asserting the exit status.
    fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert_eq!(run.code, code, "{run}");
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"))
    }

    /// Invokes a function directly (the test's own hand, as EMR's events arrive).
    async fn invoke(&self, function: &str, payload: &Value) -> Value {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.functions)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "testing", "testing", None, None, "cli",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let output = aws_sdk_lambda::Client::new(&sdk)
            .invoke()
            .function_name(function)
            .payload(Blob::new(serde_json::to_vec(payload).unwrap()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{function}: {}", aws_sdk_lambda::error::DisplayErrorContext(e)));
        serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap()
    }

    /// Sends on-state-change one EMR event for `cluster_id` (and `step`: `(id, name)`).
    async fn emr(&self, cluster_id: &str, step: Option<(&str, &str)>, state: &str, code: &str) {
        let (detail_type, detail) = match step {
            Some((id, name)) => (
                "EMR Step Status Change",
                json!({"severity": "INFO", "actionOnFailure": "TERMINATE_CLUSTER", "stepId": id, "name": name,
                       "clusterId": cluster_id, "state": state, "message": format!("Step {id} is {state}.")}),
            ),
            None => (
                "EMR Cluster State Change",
                json!({"severity": "INFO", "stateChangeReason": json!({"code": code}).to_string(),
                       "name": "spark-pi", "clusterId": cluster_id, "state": state,
                       "message": format!("Amazon EMR cluster {cluster_id} is {state}.")}),
            ),
        };
        let event = json!({
            "version": "0", "id": ulid::Ulid::generate().to_string(), "detail-type": detail_type,
            "source": "aws.emr", "account": "123456789012", "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": "us-east-1", "resources": [], "detail": detail
        });
        let answer = self.invoke("on-state-change", &event).await;
        assert!(answer.get("applied").is_some(), "{state}: {answer}");
    }
}

/// A finished run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    args: String,
}

impl Run {
    fn of(output: Output, args: &[&str]) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            args: args.join(" "),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "emr-flows {} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

/// A run in the background whose output lines can be waited for.
struct Background {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    args: String,
}

impl Background {
    fn start(mut command: Command, args: &[&str]) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if send.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: vec![],
            args: args.join(" "),
        }
    }

    /// Waits for a line containing `text`; answers it.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no line with {text:?} from emr-flows {}: {:?}",
                    self.args, self.seen
                ),
            }
        }
    }

    /// Waits for the run to end (2 minutes at most).
    fn finish(mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("emr-flows {} did not end: {:?}", self.args, self.seen);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = self.child.wait_with_output().unwrap();
        let mut run = Run::of(output, &[]);
        run.args = self.args;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        run.stdout = self.seen.join("\n");
        run
    }
}

fn flow_id_in(line: &str) -> String {
    let at = line.find("flow 01").expect("a flow id") + "flow ".len();
    line[at..at + 26].to_owned()
}

#[tokio::test]
async fn submit_wait_follows_a_whole_lifecycle_driven_by_events() {
    let stand = stand();
    // GIVEN a submit that waits, with a typed parameter and a callback
    let args = [
        "submit",
        "spark-pi",
        "-p",
        "partitions=100",
        "--callback",
        &stand.receiver_url,
        "--wait",
        "--interval",
        "150ms",
    ];
    let mut run = Background::start(stand.command(&args), &args);
    let flow_id = flow_id_in(&run.wait_for("submitted spark-pi: flow "));
    run.wait_for("STARTING");
    let record = stand.json(&["show", &flow_id], 0);
    assert_eq!(
        record["params"]["partitions"],
        json!(100),
        "typed by the schema: {record}"
    );
    let cluster_id = record["cluster_id"].as_str().unwrap().to_owned();
    let (step_id, step) = record["steps"].as_object().unwrap().iter().next().unwrap();
    let step = (step_id.as_str(), step["name"].as_str().unwrap());

    // WHEN EMR's events arrive, a moment apart
    stand.emr(&cluster_id, None, "STARTING", "").await;
    stand.emr(&cluster_id, None, "RUNNING", "").await;
    run.wait_for("RUNNING (cluster RUNNING)");
    stand.emr(&cluster_id, Some(step), "RUNNING", "").await;
    run.wait_for("step 1/1 SparkPi RUNNING");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stand.emr(&cluster_id, Some(step), "COMPLETED", "").await;
    stand
        .emr(&cluster_id, None, "TERMINATED", "ALL_STEPS_COMPLETED")
        .await;

    // THEN it told each change and ended 0 with the outcome
    let run = run.finish();
    assert_eq!(run.code, 0, "{run}");
    let completed = (run.stdout.lines())
        .find(|l| l.contains("step 1/1 SparkPi COMPLETED after "))
        .unwrap_or_else(|| panic!("{run}"));
    assert!(completed.ends_with('s'), "{completed}");
    assert!(
        run.stdout.lines().last().unwrap().starts_with("SUCCEEDED after "),
        "{run}"
    );
    assert!(!run.stdout.contains('\u{1b}'), "no colour off a terminal: {run}");

    // AND the record, the listings and the callback agree
    let record = stand.json(&["show", &flow_id], 0);
    assert_eq!(record["status"], "SUCCEEDED");
    assert_eq!(record["deliveries"]["0"]["status"], "DELIVERED", "{record}");
    assert!(
        record["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("emr-flows-cli-")
    );
    let history = stand.json(&["ls", "--flow", "spark-pi", "--limit", "100"], 0);
    assert!(
        (history["flows"].as_array().unwrap().iter()).any(|f| f["flow_id"] == flow_id.as_str()),
        "{history}"
    );
    let active = stand.json(&["ls"], 0);
    assert!(
        !(active["flows"].as_array().unwrap().iter()).any(|f| f["flow_id"] == flow_id.as_str()),
        "{active}"
    );
    let show = stand.run(&["show", &flow_id]);
    assert_eq!(show.code, 0, "{show}");
    for expected in [
        "SUCCEEDED (cluster ",
        "SparkPi",
        "COMPLETED",
        "DELIVERED of SUCCEEDED",
        "HTTP 20",
    ] {
        assert!(show.stdout.contains(expected), "{expected}: {show}");
    }
}

#[tokio::test]
async fn a_failed_flow_exits_1_with_its_cause_while_drive_plays_emr() {
    let stand = stand();
    // GIVEN a flow submitted without waiting
    let submitted = stand.json(&["--local", "submit", "spark-pi"], 0);
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    assert_eq!(submitted["status"], "STARTING", "{submitted}");
    // WHEN it is watched while dev/standins/drive.py fails its step
    let args = ["watch", &flow_id, "--interval", "200ms"];
    let mut watch = Background::start(stand.command(&args), &args);
    watch.wait_for("following flow");
    let drive = Command::new(venv_bin("python"))
        .arg(root().join("dev/standins/drive.py"))
        .args([&flow_id, "--fail-step", "1", "--endpoint-url", &stand.functions])
        .output()
        .unwrap();
    assert!(
        drive.status.success(),
        "{}",
        String::from_utf8_lossy(&drive.stderr)
    );
    // THEN it exits 1 naming the cause and the failed step
    let run = watch.finish();
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("FAILED after "), "{run}");
    assert!(
        run.stdout.contains("STEP_FAILURE: Shut down as step failed"),
        "{run}"
    );
    assert!(run.stdout.contains("step SparkPi (s-"), "{run}");
    // AND watching an ended flow answers at once, with the same status
    let again = stand.run(&["watch", &flow_id]);
    assert_eq!(again.code, 1, "{again}");
    let record = stand.json(&["watch", &flow_id], 1);
    assert_eq!(record["failure"]["code"], "STEP_FAILURE");
}

#[tokio::test]
async fn terminate_ends_cancelled_with_3_and_a_timed_out_flow_exits_4() {
    let stand = stand();
    // GIVEN a running flow, terminated with a reason
    let submitted = stand.json(
        &[
            "submit",
            "spark-pi",
            "--idempotency-key",
            &unique_table("cli-key"),
        ],
        0,
    );
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let cluster_id = submitted["cluster_id"].as_str().unwrap().to_owned();
    let answer = stand.json(&["terminate", &flow_id, "--reason", "not needed"], 0);
    assert_eq!(answer["flow_id"], flow_id.as_str(), "{answer}");
    assert!(answer["termination_accepted_at"].is_string(), "{answer}");
    // WHEN EMR reports the cluster terminated
    stand.emr(&cluster_id, None, "TERMINATED", "USER_REQUEST").await;
    // THEN following it exits 3, and show tells the termination
    let run = stand.run(&["watch", &flow_id]);
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stdout.contains("CANCELLED"), "{run}");
    let show = stand.run(&["show", &flow_id]);
    assert!(show.stdout.contains("(CANCEL): not needed"), "{show}");
    assert!(show.stdout.contains("accepted by EMR"), "{show}");

    // GIVEN a flow past its max_runtime (its deadline moved into the past)
    let submitted = stand.json(&["submit", "spark-pi", "--max-runtime", "1h"], 0);
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let cluster_id = submitted["cluster_id"].as_str().unwrap().to_owned();
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let dynamodb = aws_sdk_dynamodb::Client::new(&integration_tests::sdk_for(&stand.moto).await);
    dynamodb
        .update_item()
        .table_name(&stand.table)
        .key(
            "flow_id",
            aws_sdk_dynamodb::types::AttributeValue::S(flow_id.clone()),
        )
        .key("item", aws_sdk_dynamodb::types::AttributeValue::S("flow".into()))
        .update_expression("SET deadline_at = :past, sweep_at = :past")
        .expression_attribute_values(":past", aws_sdk_dynamodb::types::AttributeValue::S(past))
        .send()
        .await
        .unwrap();
    // WHEN the sweep terminates it and EMR reports the cluster terminated
    let swept = stand.invoke("on-state-change", &json!({"reconcile": true})).await;
    assert!(swept.get("reconciled").is_some(), "{swept}");
    stand.emr(&cluster_id, None, "TERMINATED", "USER_REQUEST").await;
    // THEN following it exits 4
    let run = stand.run(&["--local", "watch", &flow_id]);
    assert_eq!(run.code, 4, "{run}");
    assert!(run.stdout.contains("TIMED_OUT"), "{run}");
}

#[test]
fn refusals_usage_errors_and_no_answer_have_their_exit_statuses() {
    let stand = stand();
    // Refused by the functions (5), with their message and path
    let run = stand.run(&["submit", "spark-pi", "-p", "partitions=0"]);
    assert_eq!(run.code, 5, "{run}");
    assert!(
        run.stderr.contains("ValidationError") && run.stderr.contains("params.partitions"),
        "{run}"
    );
    let run = stand.run(&["submit", "spark-pi", "-p", "partitions=many"]);
    assert_eq!(run.code, 5, "{run}");
    assert!(run.stderr.contains("params.partitions"), "{run}");
    let error = stand.json(&["submit", "spark-pj"], 5);
    assert_eq!(error["error"]["code"], "UnknownFlowDefinition", "{error}");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("spark-pi"),
        "{error}"
    );
    let error = stand.json(&["show", "01JDQ3V4X8M6Z0B1C2D3E4F5G6"], 5);
    assert_eq!(error["error"]["code"], "FlowNotFound", "{error}");
    let error = stand.json(&["watch", "01JDQ3V4X8M6Z0B1C2D3E4F5G6"], 5);
    assert_eq!(error["error"]["code"], "FlowNotFound", "{error}");
    let error = stand.json(&["definitions", "no-such"], 5);
    assert_eq!(error["error"]["code"], "UnknownFlowDefinition", "{error}");
    let run = stand.run(&[
        "submit",
        "spark-pi",
        "--override",
        "/Instances/InstanceGroups/1/InstanceCount=99",
        "--dry-run",
    ]);
    assert_eq!(run.code, 5, "{run}");
    assert!(run.stderr.contains("InstanceCount"), "{run}");

    // Usage (2): clap's, and words it cannot check
    for args in [
        &["submit"][..],
        &["submit", "spark-pi", "-p", "partitions"],
        &["submit", "spark-pi", "--override", "Instances=1"],
        &["submit", "spark-pi", "--params-file", "/nonexistent.json"],
        &["--local", "--stack", "x", "ls"],
        &["ls", "--limit", "0"],
    ] {
        let run = stand.run(args);
        assert_eq!(run.code, 2, "{run}");
    }

    // No answer (6): nothing listens, or a stack without the outputs
    let run = Run::of(
        stand
            .command(&["--local", "ls"])
            .env("EMR_FLOWS_LAMBDA_URL", "http://127.0.0.1:1")
            .output()
            .unwrap(),
        &["--local", "ls"],
    );
    assert_eq!(run.code, 6, "{run}");
    assert!(run.stderr.contains("invoking list"), "{run}");
}

#[test]
fn definitions_signing_keys_ls_and_a_dry_run_with_typed_overrides() {
    let stand = stand();
    let catalog = stand.json(&["definitions"], 0);
    assert!(catalog["definitions"].as_array().unwrap().len() >= 2, "{catalog}");
    let run = stand.run(&["definitions"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("spark-pi") && run.stdout.contains("partitions"),
        "{run}"
    );
    let run = stand.run(&["definitions", "spark-pi"]);
    assert!(
        run.stdout.contains("runs on: cluster; max runtime: none"),
        "{run}"
    );
    let row = (run.stdout.lines())
        .find(|l| l.trim_start().starts_with("partitions"))
        .unwrap_or_else(|| panic!("{run}"));
    assert_eq!(
        row.split_whitespace().take(6).collect::<Vec<_>>(),
        ["partitions", "integer", "10", "no", "1", "to"],
        "{run}"
    );
    assert!(
        run.stdout.contains("/Instances/InstanceGroups/1/InstanceCount"),
        "{run}"
    );
    let one = stand.json(&["definitions", "spark-pi"], 0);
    assert_eq!(one["name"], "spark-pi");

    let keys = stand.json(&["signing-keys"], 0);
    assert_eq!(
        keys,
        json!({"signatures": ["v1", "v1a"], "public_keys": [TEST_PUBLIC_KEY]})
    );
    let run = stand.run(&["signing-keys"]);
    assert!(run.stdout.contains(TEST_PUBLIC_KEY), "{run}");

    // A dry run: overrides typed by their paths' schemas, parameters from a file and -p
    let file = std::env::temp_dir().join(format!("{}.json", unique_table("params")));
    std::fs::write(&file, r#"{"partitions": 7}"#).unwrap();
    let dry_run = stand.json(
        &[
            "submit",
            "spark-pi",
            "--params-file",
            file.to_str().unwrap(),
            "--override",
            "/Instances/InstanceGroups/1/InstanceCount=4",
            "--override",
            "/Instances/InstanceGroups/1/InstanceType=m5.2xlarge",
            "--dry-run",
        ],
        0,
    );
    assert_eq!(dry_run["dry_run"], true, "{dry_run}");
    assert_eq!(dry_run["params"]["partitions"], 7);
    let group = &dry_run["request"]["Instances"]["InstanceGroups"][1];
    assert_eq!(
        (&group["InstanceCount"], &group["InstanceType"]),
        (&json!(4), &json!("m5.2xlarge"))
    );
    let run = stand.run(&["submit", "spark-pi", "-p", "partitions=3", "--dry-run"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("nothing launched") && run.stdout.contains("\"ReleaseLabel\""),
        "{run}"
    );

    // ls: a table of the active flows with a next page
    let a = stand.json(&["submit", "spark-pi"], 0);
    let b = stand.json(&["submit", "spark-pi"], 0);
    let page = stand.json(&["ls", "--active", "--limit", "1"], 0);
    assert_eq!(page["flows"].as_array().unwrap().len(), 1, "{page}");
    assert!(page["next_token"].is_string(), "{page}");
    let run = stand.run(&["ls", "--limit", "100"]);
    assert_eq!(run.code, 0, "{run}");
    let header: Vec<&str> = run.stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["FLOW", "ID", "DEFINITION", "STATUS", "TARGET", "AGE", "DURATION"],
        "{run}"
    );
    for flow in [&a, &b] {
        let row = (run.stdout.lines())
            .find(|l| l.starts_with(flow["flow_id"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{flow}: {run}"));
        assert!(
            row.contains("STARTING") && row.contains(flow["cluster_id"].as_str().unwrap()),
            "{row}"
        );
    }
    let run = stand.run(&["ls", "--limit", "1"]);
    assert!(
        run.stdout
            .contains("more: emr-flows ls --active --limit 1 --next-token "),
        "{run}"
    );
}

#[test]
fn the_http_api_signed_with_sigv4_and_a_stack_found_by_its_outputs() {
    let stand = stand();
    let api = ["--api", stand.api.as_str()];
    let with = |rest: &[&str]| -> Vec<String> { api.iter().chain(rest).map(|s| (*s).to_owned()).collect() };
    let json = |rest: &[&str], code: i32| {
        let args = with(rest);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        stand.json(&args, code)
    };
    // Every route, signed: the stand-in checks each signature with botocore
    let submitted = json(&["submit", "spark-pi", "-p", "partitions=12"], 0);
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    assert_eq!(json(&["show", &flow_id], 0)["params"]["partitions"], json!(12));
    let page = json(&["ls", "--flow", "spark-pi", "--limit", "100"], 0);
    assert!(
        page["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["flow_id"] == flow_id.as_str()),
        "{page}"
    );
    assert!(json(&["ls"], 0)["flows"].is_array());
    assert!(json(&["definitions"], 0)["definitions"].is_array());
    assert_eq!(
        json(&["signing-keys"], 0)["public_keys"],
        json!([TEST_PUBLIC_KEY])
    );
    let answer = json(&["terminate", &flow_id, "--reason", "through the API"], 0);
    assert!(answer["termination_requested_at"].is_string(), "{answer}");
    // The product's errors keep their codes and exit statuses through the API
    assert_eq!(
        json(&["show", "01JDQ3V4X8M6Z0B1C2D3E4F5G6"], 5)["error"]["code"],
        "FlowNotFound"
    );
    assert_eq!(
        json(&["submit", "spark-pi", "-p", "partitions=0"], 5)["error"]["code"],
        "ValidationError"
    );
    // A wrong secret is API Gateway's 403: no answer (6)
    let args = with(&["ls"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = Run::of(
        stand
            .command(&args)
            .env("AWS_SECRET_ACCESS_KEY", "wrong")
            .output()
            .unwrap(),
        &args,
    );
    assert_eq!(run.code, 6, "{run}");
    assert!(
        run.stderr.contains("HTTP 403") && run.stderr.contains("signature"),
        "{run}"
    );

    // A stack's functions by its outputs (moto's CloudFormation; Lambda is cargo lambda watch)
    let stack = unique_table("emr-flows-cli");
    let template = json!({
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"SubmitFunctionName": {"Value": "submit"}, "ListFunctionName": {"Value": "list"},
                    "TerminateFunctionName": {"Value": "terminate"}}
    });
    let bare = unique_table("not-emr-flows");
    let created = Command::new(venv_bin("python"))
        .args([
            "-c",
            "import boto3, sys\n\
             cfn = boto3.client('cloudformation', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                                aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             cfn.create_stack(StackName=sys.argv[2], TemplateBody=sys.argv[3])\n\
             cfn.create_stack(StackName=sys.argv[4], TemplateBody='{\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\"}}}')",
            &stand.moto,
            &stack,
            &template.to_string(),
            &bare,
        ])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let on_stack = |args: &[&str]| {
        let output = stand
            .command(args)
            .env_remove("EMR_FLOWS_LAMBDA_URL")
            .env("AWS_ENDPOINT_URL_CLOUDFORMATION", &stand.moto)
            .env("AWS_ENDPOINT_URL_LAMBDA", &stand.functions)
            .output()
            .unwrap();
        Run::of(output, args)
    };
    let run = on_stack(&["--json", "--stack", &stack, "show", &flow_id]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap()["flow_id"],
        flow_id.as_str()
    );
    let run = on_stack(&["--stack", &bare, "ls"]);
    assert_eq!(run.code, 6, "{run}");
    assert!(run.stderr.contains("has no output SubmitFunctionName"), "{run}");
    let run = on_stack(&["--stack", "no-such-stack", "ls"]);
    assert_eq!(run.code, 6, "{run}");
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let stand = stand();
    // `script` gives the binary a terminal (util-linux)
    let on_terminal = |no_color: bool| {
        let line = format!("{} definitions spark-pi", stand.bin.display());
        let mut script = Command::new("script");
        script
            .args(["-qec", &line, "/dev/null"])
            .current_dir(root())
            .env("EMR_FLOWS_LAMBDA_URL", &stand.functions)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("TERM", "xterm")
            .stdin(Stdio::null());
        if no_color {
            script.env("NO_COLOR", "1");
        } else {
            script.env_remove("NO_COLOR");
        }
        let output = script.output().expect("script (util-linux) runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(on_terminal(false).contains("\u{1b}["), "colour on a terminal");
    let plain = on_terminal(true);
    assert!(
        plain.contains("spark-pi") && !plain.contains("\u{1b}["),
        "{plain:?}"
    );
}
