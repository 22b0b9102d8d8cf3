//! The fault proxy of `dev/standins/fault_proxy.py`, between the functions' AWS SDK and moto: it
//! forwards every request, one at a time (so that moto's conditional writes are atomic, as
//! DynamoDB's are), counts requests by operation and injects faults on demand through its
//! control API under `/__proxy/`. It also stands in for what moto lacks of steps on a
//! long-running cluster: CancelSteps, and a step's own log location (see the script's doc);
//! the log keeps AddJobFlowSteps' and CancelSteps' request bodies (`request`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Service, free_port, root, venv_bin, wait_for_port};

/// `dev/standins/fault_proxy.py` in front of an upstream endpoint (moto); it stops when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`: give it to the SDK (`AWS_ENDPOINT_URL`, `endpoint_url`) in
    /// place of the upstream's.
    pub endpoint: String,
    /// The proxy's output: one line per proxied request (`METHOD Operation fault=…`).
    pub log: PathBuf,
    client: reqwest::Client,
    _service: Service,
}

impl FaultProxy {
    /// Starts the proxy on a free port in front of `upstream` (`http://127.0.0.1:PORT`, e.g.
    /// `Moto::endpoint`), serializing the calls it forwards, with no fault rules.
    pub fn start(upstream: &str) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("emr-flows-proxy-{port}.log"));
        let script = root().join("dev/standins/fault_proxy.py");
        let port_arg = port.to_string();
        let args = [
            script.to_str().unwrap(),
            "--port",
            &port_arg,
            "--upstream",
            upstream,
        ];
        let service = Service::start(&venv_bin("python"), &args, &[], &log);
        let what = format!("the fault proxy (log: {})", log.display());
        wait_for_port(port, &what, Duration::from_secs(30));
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
            _service: service,
        }
    }

    /// Calls the control API at `/__proxy/{path}` and answers its JSON answer; panics when
    /// the call fails.
    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/__proxy/{path}", self.endpoint);
        let mut request = self.client.request(method.clone(), url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("fault proxy {method} /__proxy/{path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "fault proxy {method} /__proxy/{path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap()
    }

    /// Adds a fault rule: the next `times` requests for `operation` get `action`, then the rule
    /// is used up. Rules apply in the order added; a request gets at most one fault.
    ///
    /// `operation` is the operation name exactly as the proxy records it (`"PutItem"`,
    /// `"RunJobFlow"`, `"CreateRole"`; the job-run calls of EMR Serverless and EMR on EKS by
    /// their API names, `"StartJobRun"`, `"GetJobRun"`, `"DescribeJobRun"`…; or
    /// `"GET /2015-03-31/functions"` for other REST calls), or `"*"` for any. `action` is one of:
    /// - `"drop_after"`: forwarded (applied), then the connection closes without an answer;
    /// - `"error_500"`: forwarded (applied), then answered 500 `InternalFailure` (retryable);
    /// - `"fail_500"`: not forwarded, answered 500 `InternalFailure`;
    /// - `"throttle"`: not forwarded, answered 400 `ThrottlingException`;
    /// - `"delay"`: forwarded after `seconds` seconds (other requests go on meanwhile).
    /// - `"refuse_cancel"`: CancelSteps only (which the proxy answers itself, moto lacking it:
    ///   every step `SUBMITTED`), every step answered `FAILED` with a reason.
    ///
    /// `seconds` matters to `"delay"` only.
    pub async fn fault(&self, operation: &str, action: &str, times: u32, seconds: f64) {
        let rule = json!({"operation": operation, "action": action, "times": times, "seconds": seconds});
        self.control(Method::POST, "faults", Some(rule)).await;
    }

    /// Makes the next `times` requests of `operation` get `body`: with `"answer"`, answered
    /// `status` with `body` (not forwarded); with `"patch"`, forwarded and answered with `body`
    /// merged into the upstream's JSON answer, objects member by member and an object into
    /// each item of a list (what moto leaves out: EMR Serverless GetJobRun's `stateDetails`,
    /// EMR on EKS DescribeJobRun's `failureReason` and `stateDetails`, a run's state; with
    /// `{"jobRuns": {…}}`, every run ListJobRuns lists).
    pub async fn fault_with(&self, operation: &str, action: &str, times: u32, status: u16, body: Value) {
        let rule =
            json!({"operation": operation, "action": action, "times": times, "status": status, "body": body});
        self.control(Method::POST, "faults", Some(rule)).await;
    }

    /// With `on`, a request repeating a `clientToken` (a JSON body's member) on the same path is
    /// answered with the first one's answer and not forwarded, as EMR Serverless and EMR on
    /// EKS deduplicate StartJobRun (moto does not); off, every request is forwarded. Forgets the
    /// tokens seen.
    pub async fn dedupe_tokens(&self, on: bool) {
        self.control(Method::POST, "tokens", Some(json!({"dedupe": on})))
            .await;
    }

    /// Removes every fault rule not used up yet.
    pub async fn clear_faults(&self) {
        self.control(Method::DELETE, "faults", None).await;
    }

    /// How many requests the proxy received per operation since it started or since
    /// [`Self::clear_requests`], faulted ones included (e.g. `{"PutItem": 3, "RunJobFlow": 1}`).
    pub async fn counts(&self) -> BTreeMap<String, u64> {
        let record = self.requests().await;
        let counts = record["counts"].as_object().expect("counts is an object");
        (counts.iter())
            .map(|(op, n)| (op.clone(), n.as_u64().expect("counts are integers")))
            .collect()
    }

    /// The whole record: `{"counts": {op: requests}, "bytes": {op: request body bytes},
    /// "log": [{"op", "service", "method", "path", "bytes", "fault", "status",
    /// "upstream_status"}]}`, the log in arrival order. `fault` is the action applied or null;
    /// `status` is what the client got (null when dropped or still pending); `upstream_status`
    /// is what the upstream answered (null when not forwarded).
    pub async fn requests(&self) -> Value {
        self.control(Method::GET, "requests", None).await
    }

    /// Forgets the requests recorded so far.
    pub async fn clear_requests(&self) {
        self.control(Method::DELETE, "requests", None).await;
    }

    /// Holds every request to be forwarded (as if moto hung) until [`Self::resume`]; faults
    /// that answer without forwarding (`fail_500`, `throttle`) still answer at once.
    pub async fn pause(&self) {
        self.control(Method::POST, "pause", None).await;
    }

    /// Lets held and further requests through again.
    pub async fn resume(&self) {
        self.control(Method::POST, "resume", None).await;
    }
}
