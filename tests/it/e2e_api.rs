//! The HTTP API and the redrive through the real binaries: moto for DynamoDB, EMR and SQS,
//! `cargo lambda watch` serving the functions, each invoked with the API Gateway samples of
//! `events/api/` exactly as API Gateway invokes them, and `dev/admin/redrive.py` moving a queue of
//! Lambda destination records back through on-state-change.

use integration_tests::functions::Functions;
use integration_tests::{
    Moto, TEST_PUBLIC_KEY, TEST_SIGNING_KEY, create_table, event, root, unique_table, venv_bin,
};
use serde_json::{Value, json};

const EXAMPLE_FLOW_ID: &str = "01JDQ3V4X8M6Z0B1C2D3E4F5G6";

/// Starts the functions configured for `moto` and `table`: `v1` signed with the harness's
/// secret, `v1a` with [`TEST_SIGNING_KEY`] read from a Secrets Manager secret
/// (`CALLBACK_SIGNING_KEY_ARN`, the key itself unset), as a deployed stack reads it.
async fn start(moto: &Moto, table: &str) -> Functions {
    let key_arn = aws_sdk_secretsmanager::Client::new(&moto.sdk().await)
        .create_secret()
        .name(unique_table("emr-flows/signing-key"))
        .secret_string(TEST_SIGNING_KEY)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    Functions::start(
        &moto.endpoint,
        table,
        &[
            ("CALLBACK_SIGNING_KEY_ARN", &key_arn),
            ("CALLBACK_SIGNING_KEY", ""),
        ],
    )
    .await
}

/// The functions as API Gateway reaches them.
trait Routes {
    async fn answer(&self, function: &str, payload: &Value) -> Value;
    async fn route(&self, function: &str, name: &str, flow_id: &str) -> (u64, Value);
}

impl Routes for Functions {
    /// Invokes `function` with `payload` and answers what it returned (for an API event, the
    /// HTTP response API Gateway would send); a function error fails the test.
    async fn answer(&self, function: &str, payload: &Value) -> Value {
        (self.invoke(function, payload).await).unwrap_or_else(|e| panic!("{function} failed: {e}"))
    }

    /// Invokes `function` with the API Gateway sample `name` (its example flow id replaced):
    /// `(status, document)`.
    async fn route(&self, function: &str, name: &str, flow_id: &str) -> (u64, Value) {
        let text = std::fs::read_to_string(root().join("events/api").join(name)).unwrap();
        let event: Value = serde_json::from_str(&text.replace(EXAMPLE_FLOW_ID, flow_id)).unwrap();
        let response = self.answer(function, &event).await;
        let status = response["statusCode"]
            .as_u64()
            .unwrap_or_else(|| panic!("{response}"));
        (
            status,
            serde_json::from_str(response["body"].as_str().unwrap()).unwrap(),
        )
    }
}

#[tokio::test]
async fn every_route_through_the_real_binaries_and_a_redrive_of_failed_events() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let table = unique_table("e2e-api");
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let functions = start(&moto, &table).await;

    // Every route, as API Gateway invokes the functions
    let (status, submitted) = functions.route("submit", "submit.json", "").await;
    assert_eq!(status, 200, "{submitted}");
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let (status, record) = functions.route("list", "get-flow.json", &flow_id).await;
    assert_eq!(
        (status, record["status"].as_str()),
        (200, Some("STARTING")),
        "{record}"
    );
    for sample in ["list-active.json", "list-history.json"] {
        let (status, page) = functions.route("list", sample, "").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["flows"][0]["flow_id"], json!(flow_id), "{sample}: {page}");
    }
    let (status, catalog) = functions.route("list", "list-definitions.json", "").await;
    assert_eq!(status, 200);
    assert!(catalog["definitions"].as_array().unwrap().len() >= 2, "{catalog}");
    let (status, keys) = functions.route("list", "signing-keys.json", "").await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(
        keys,
        json!({"signatures": ["v1", "v1a"], "public_keys": [TEST_PUBLIC_KEY]})
    );
    let (status, terminated) = functions.route("terminate", "terminate.json", &flow_id).await;
    assert_eq!(status, 200, "{terminated}");
    assert!(terminated["termination_requested_at"].is_string());
    // AND an error is its status and error document, not a function error
    let (status, error) = functions
        .route("list", "get-flow.json", "01JDQ3V4X8M6Z0B1C2D3E4F5G7")
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("FlowNotFound"))
    );

    // The lifecycle driver of `make up` plays a failure with the flow's real ids
    let submitted = functions.answer("submit", &json!({"flow": "spark-pi"})).await;
    let driven = submitted["flow_id"].as_str().unwrap().to_owned();
    let drive = integration_tests::command(venv_bin("python"))
        .arg(root().join("dev/standins/drive.py"))
        .args([&driven, "--fail-step", "1", "--endpoint-url", &functions.endpoint])
        .output()
        .unwrap();
    let played = String::from_utf8_lossy(&drive.stdout);
    assert!(
        drive.status.success(),
        "{played}{}",
        String::from_utf8_lossy(&drive.stderr)
    );
    assert!(
        played.contains("TERMINATED_WITH_ERRORS -> flow FAILED"),
        "{played}"
    );
    let record = functions.answer("list", &json!({ "flow_id": driven })).await;
    assert_eq!(record["failure"]["code"], "STEP_FAILURE", "{record}");

    // GIVEN a flow whose end failed every retry: FailedEventsQueue holds its events as Lambda
    // destination records
    let submitted = functions.answer("submit", &json!({"flow": "spark-pi"})).await;
    let flow_id = submitted["flow_id"].as_str().unwrap().to_owned();
    let cluster_id = submitted["cluster_id"].as_str().unwrap().to_owned();
    let record = functions.answer("list", &json!({ "flow_id": flow_id })).await;
    let step_id = record["steps"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let records: Vec<Value> = ["04-step-COMPLETED.json", "05-cluster-TERMINATED.json"]
        .iter()
        .map(|file| {
            json!({
                "version": "1.0", "timestamp": "2026-11-29T10:00:00.000Z",
                "requestContext": {"requestId": file, "condition": "RetriesExhausted", "approximateInvokeCount": 3,
                                   "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:on-state-change:$LATEST"},
                "requestPayload": event(&format!("lifecycle-success/{file}"), &cluster_id, &step_id),
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": {"errorType": "UpstreamError", "errorMessage": "DynamoDB PutItem failed"}
            })
        })
        .collect();
    let python = venv_bin("python");
    let setup = integration_tests::command(&python)
        .args([
            "-c",
            "import boto3, json, sys\n\
             sqs = boto3.client('sqs')\n\
             url = sqs.create_queue(QueueName=sys.argv[1])['QueueUrl']\n\
             for body in json.loads(sys.argv[2]): sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))\n\
             print(url)",
            &unique_table("failed-events"),
            &serde_json::to_string(&records).unwrap(),
        ])
        .envs(aws_env(&moto.endpoint, &functions.endpoint))
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let queue_url = String::from_utf8(setup.stdout).unwrap().trim().to_owned();

    // WHEN the queue is redriven
    let redrive = integration_tests::command(&python)
        .arg(root().join("dev/admin/redrive.py"))
        .args(["--queue-url", &queue_url, "--function", "on-state-change"])
        .envs(aws_env(&moto.endpoint, &functions.endpoint))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&redrive.stdout);
    // THEN both applied, in order, the flow ended, and the report says so
    assert!(
        redrive.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&redrive.stderr)
    );
    assert!(
        report.contains(&format!("applied {flow_id} SUCCEEDED")),
        "{report}"
    );
    assert!(report.trim_end().ends_with("2 applied, 0 kept"), "{report}");
    let record = functions.answer("list", &json!({ "flow_id": flow_id })).await;
    assert_eq!(record["status"], "SUCCEEDED");
}

/// The environment dev/ scripts get: SQS on moto, Lambda on `cargo lambda watch`.
fn aws_env(moto: &str, lambda: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_SQS", moto.to_owned()),
        ("AWS_ENDPOINT_URL_LAMBDA", lambda.to_owned()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
}
