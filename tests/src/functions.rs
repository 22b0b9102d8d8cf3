//! The four real functions under `cargo lambda watch`, configured for a local AWS stand-in (moto,
//! or a fault proxy in front of it) and invoked through the AWS SDK's Lambda client as a caller
//! would. Their whole environment is set here (see [`crate::Service`]): nothing of the caller's
//! shell reaches them.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};

use crate::{Service, TEST_SECRET, TEST_SIGNING_KEY, free_port, hermetic_config, venv_bin, wait_for_port};

/// The functions under one `cargo lambda watch`; it stops when dropped.
pub struct Functions {
    pub lambda: aws_sdk_lambda::Client,
    /// Where `cargo lambda watch` answers Lambda's Invoke API (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    /// What the functions printed: their JSON logs and metric (EMF) lines.
    pub log: PathBuf,
    _watch: Service,
}

impl Functions {
    /// Starts the functions for the stand-in at `endpoint` and the table `table`, signing with
    /// [`TEST_SECRET`] and [`TEST_SIGNING_KEY`], local callback targets allowed, the stack
    /// `e2e-stack`, and `extra` variables on top (e.g. `CALLBACK_LAMBDA_ALLOW`; one named like
    /// a default replaces it).
    pub async fn start(endpoint: &str, table: &str, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let env_file = std::env::temp_dir().join(format!("emr-flows-functions-{port}.env"));
        let mut env = vec![
            ("TABLE_NAME", table.to_owned()),
            ("AWS_ENDPOINT_URL", endpoint.to_owned()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_MAX_ATTEMPTS", "3".into()),
            ("RUST_LOG", "info".into()),
            ("CALLBACK_SIGNING_SECRET", format!("\"{TEST_SECRET}\"")),
            ("CALLBACK_SIGNING_KEY", format!("\"{TEST_SIGNING_KEY}\"")),
            ("CALLBACK_ALLOW_LOCAL", "true".into()),
            ("STACK_NAME", "e2e-stack".into()),
        ];
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&env_file, text).unwrap();
        let log = std::env::temp_dir().join(format!("emr-flows-functions-{port}.log"));
        let port_arg = port.to_string();
        let args = [
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port_arg,
            "--ignore-changes",
            "--env-file",
            env_file.to_str().unwrap(),
        ];
        let watch = Service::start(&venv_bin("cargo-lambda"), &args, &[], &log);
        wait_for_port(port, "cargo lambda watch", Duration::from_secs(120));
        let endpoint = format!("http://127.0.0.1:{port}");
        let sdk = hermetic_config()
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "testing", "testing", None, None, "e2e",
            ))
            // A function error comes back as HTTP 500, which the SDK would retry: invoke once.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        Self {
            lambda: aws_sdk_lambda::Client::new(&sdk),
            endpoint,
            log,
            _watch: watch,
        }
    }

    /// Invokes `function` with `payload`: `Ok(answer)`, or `Err(error document)` for a function
    /// error (`{"errorType", "errorMessage"}`).
    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, Value> {
        let result = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(serde_json::to_vec(payload).unwrap()))
            .send()
            .await;
        match result {
            Ok(output) if output.function_error().is_none() => {
                Ok(serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap())
            }
            Ok(output) => Err(serde_json::from_slice(output.payload().unwrap().as_ref()).unwrap()),
            // cargo lambda watch answers a function error with HTTP 500 and the error document.
            Err(e) => {
                let raw = e
                    .raw_response()
                    .map(|r| r.body().bytes().unwrap_or_default().to_vec());
                let raw = raw.unwrap_or_else(|| {
                    panic!(
                        "invoke {function}: {}",
                        aws_sdk_lambda::error::DisplayErrorContext(&e)
                    )
                });
                Err(serde_json::from_slice(&raw)
                    .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&raw))))
            }
        }
    }

    /// The flow record, as `list` answers it.
    pub async fn record(&self, flow_id: &str) -> Value {
        self.invoke("list", &json!({ "flow_id": flow_id }))
            .await
            .unwrap_or_else(|e| panic!("list {flow_id}: {e}"))
    }

    /// The metric documents (EMF) the functions printed so far.
    pub fn metrics(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"_aws\""))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The id of the flow's (only) step.
    pub async fn step_id(&self, flow_id: &str) -> String {
        let record = self.record(flow_id).await;
        record["steps"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .expect("a step")
            .clone()
    }

    /// Sends each event of `events/<lifecycle>/` in order, with the flow's real ids.
    pub async fn drive(&self, lifecycle: &str, cluster_id: &str, step_id: &str) {
        let mut files: Vec<_> = std::fs::read_dir(crate::root().join("events").join(lifecycle))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        for file in files {
            let event = crate::event(&format!("{lifecycle}/{file}"), cluster_id, step_id);
            let answer = self
                .invoke("on-state-change", &event)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(answer.get("applied").is_some(), "{file}: {answer}");
        }
    }
}
