//! The test harness: the local AWS stand-ins (moto for DynamoDB, EMR and Secrets Manager,
//! `cargo lambda watch` for the functions, a Standard Webhooks receiver for callbacks) and the flow table, created
//! from the definition in `template.yaml` so the two cannot drift.
//!
//! Tools come from the project's `.venv` (`make venv`). A stand-in that cannot start is a test
//! failure with a message saying why, never a skip.

use std::io::BufRead;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A program in the project's virtualenv; panics with the fix when it is missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make venv` first",
        path.display()
    );
    path
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port`, or panics naming `what`.
pub fn wait_for_port(port: u16, what: &str, timeout: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not listen on port {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Variables of the caller's shell that a service never inherits, by prefix: everything that
/// configures an AWS SDK or CLI (`AWS_MAX_ATTEMPTS`, `AWS_PROFILE`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL_*`, `AWS_SESSION_TOKEN`, …; what `source .local/env` or CI export) and
/// everything the functions read (`CALLBACK_*`, `TABLE_NAME`, `STACK_NAME`, `RUST_LOG`).
pub const CALLER_VARIABLES: [&str; 6] = [
    "AWS_",
    "CALLBACK_",
    "TABLE_NAME",
    "STACK_NAME",
    "RUST_LOG",
    "MOTO_",
];

/// The environment every service starts from, whatever the caller's shell holds: moto's
/// region and dummy credentials, the SDKs' standard retries with 3 attempts (the functions'
/// default in Lambda, where nothing sets `AWS_MAX_ATTEMPTS`), no profile, no shared files, no
/// instance metadata, logs at `info`. A service's own variables come on top.
pub const SERVICE_ENV: [(&str, &str); 10] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_MAX_ATTEMPTS", "3"),
    ("AWS_RETRY_MODE", "standard"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ("RUST_LOG", "info"),
];

/// Variables cargo sets for the test binary it runs, by prefix (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_NAME`, …): a plain `cargo` run from a shell has none, and a build script that
/// reads one (ring's reads `CARGO_MANIFEST_DIR` and `CARGO_PKG_*`) would make `cargo lambda
/// watch`'s builds differ from the shell's and compile everything again.
pub const RUNNER_VARIABLES: [&str; 8] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Whether a service must not inherit the variable `name` ([`CALLER_VARIABLES`],
/// [`RUNNER_VARIABLES`]).
pub fn is_stripped(name: &str) -> bool {
    (CALLER_VARIABLES.iter().chain(&RUNNER_VARIABLES)).any(|prefix| name.starts_with(prefix))
}

/// A command for `program` whose environment the harness sets: the caller's without
/// [`CALLER_VARIABLES`] and [`RUNNER_VARIABLES`], then [`SERVICE_ENV`]; add the program's own
/// variables with `.env`.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_none_or(is_stripped) {
            command.env_remove(name);
        }
    }
    command.envs(SERVICE_ENV);
    command
}

/// A background process that ends with the test process: it runs in its own process group
/// under a shell that kills the group when our end of its stdin closes (so also when the test
/// process dies without dropping this) or when the shell itself is told to stop.
pub struct Service {
    child: Child,
}

impl Service {
    /// Starts `program args…` in the workspace root, output to `log`, with the environment
    /// set here: [`command`]'s, then `env`.
    pub fn start(program: &Path, args: &[&str], env: &[(&str, String)], log: &Path) -> Self {
        let log = std::fs::File::create(log).unwrap();
        let child = command("bash")
            .arg("-c")
            .arg(concat!(
                r#"set -m; "$@" & pid=$!; stop() { kill -TERM -- -$pid 2>/dev/null; }; "#,
                r#"trap 'stop; exit' TERM INT HUP; read -r _; stop; wait"#
            ))
            .arg("service")
            .arg(program)
            .args(args)
            .current_dir(root())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Self { child }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A moto server serving DynamoDB, EMR, Secrets Manager (and the rest of moto) on a free port.
pub struct Moto {
    pub endpoint: String,
    _service: Service,
}

impl Moto {
    pub fn start() -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("emr-flows-moto-{port}.log"));
        let service = Service::start(&venv_bin("moto_server"), &["-p", &port.to_string()], &[], &log);
        wait_for_port(port, "moto_server", Duration::from_secs(60));
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _service: service,
        }
    }

    /// An SDK config for the stand-in: see [`sdk_for`].
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        sdk_for(&self.endpoint).await
    }
}

impl Moto {
    /// Creates a Lambda function `name` on the stand-in (with an IAM role for it, as moto wants)
    /// and answers its ARN. moto accepts asynchronous invocations of it without running code.
    pub async fn create_function(&self, name: &str) -> String {
        // IAM's query API, unsigned: moto does not check signatures, and this avoids an IAM SDK.
        let role = format!("{name}-role");
        let response = reqwest::Client::new()
            .post(&self.endpoint)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request",
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D"
            ))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "IAM CreateRole: {}",
            response.text().await.unwrap()
        );
        let lambda = aws_sdk_lambda::Client::new(&self.sdk().await);
        let created = lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Python312)
            .role(format!("arn:aws:iam::123456789012:role/{role}"))
            .handler("index.handler")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(b"stand-in".to_vec()))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "create function {name}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                )
            });
        created.function_arn.expect("CreateFunction answers the ARN")
    }
}

/// An SDK config loader that reads nothing of the caller's environment or profile files
/// (`AWS_MAX_ATTEMPTS`, `AWS_PROFILE`, `AWS_ENDPOINT_URL_<SERVICE>`, …): the test's own clients
/// are configured in code only.
pub fn hermetic_config() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).empty_test_environment()
}

/// An SDK config for a stand-in at `endpoint`: a fixed region, dummy credentials, the SDK's
/// standard retries (3 attempts, as the functions have them) and the functions' own timeouts
/// ([`emr_flows::config::timeouts`]); nothing from the caller's environment ([`hermetic_config`]).
pub async fn sdk_for(endpoint: &str) -> aws_config::SdkConfig {
    hermetic_config()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .timeout_config(emr_flows::config::timeouts())
        .load()
        .await
}

/// `Resources.FlowsTable.Properties` of `template.yaml`.
pub fn table_properties() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let template: Value = serde_saphyr::from_str(&text).expect("template.yaml parses");
    template["Resources"]["FlowsTable"]["Properties"].clone()
}

fn key_schema(keys: &Value) -> Vec<KeySchemaElement> {
    (keys.as_array().unwrap().iter())
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                .build()
                .unwrap()
        })
        .collect()
}

/// Creates the flow table `name` exactly as `template.yaml` defines it.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    let p = table_properties();
    let attributes = (p["AttributeDefinitions"].as_array().unwrap().iter())
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(a["AttributeType"].as_str().unwrap()))
                .build()
                .unwrap()
        })
        .collect();
    let indexes = (p["GlobalSecondaryIndexes"].as_array().unwrap().iter())
        .map(|i| {
            let non_key = (i["Projection"]["NonKeyAttributes"].as_array())
                .map(|names| names.iter().map(|n| n.as_str().unwrap().to_owned()).collect());
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(
                    i["Projection"]["ProjectionType"].as_str().unwrap(),
                ))
                .set_non_key_attributes(non_key)
                .build();
            GlobalSecondaryIndex::builder()
                .index_name(i["IndexName"].as_str().unwrap())
                .set_key_schema(Some(key_schema(&i["KeySchema"])))
                .projection(projection)
                .build()
                .unwrap()
        })
        .collect();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(p["BillingMode"].as_str().unwrap()))
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&p["KeySchema"])))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create table {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
}

/// A table name no other test uses.
pub fn unique_table(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::generate().to_string().to_lowercase())
}

/// An EventBridge event from `events/`, with the example cluster and step ids replaced.
pub fn event(path: &str, cluster_id: &str, step_id: &str) -> Value {
    let text = std::fs::read_to_string(root().join("events").join(path)).unwrap();
    let text = text
        .replace(EXAMPLE_CLUSTER_ID, cluster_id)
        .replace(EXAMPLE_STEP_ID, step_id);
    serde_json::from_str(&text).unwrap()
}

/// The cluster id the sample events in `events/lifecycle-*` carry.
pub const EXAMPLE_CLUSTER_ID: &str = "j-2AXXXXXXGAPLF";
/// The step id the sample events in `events/lifecycle-*` carry.
pub const EXAMPLE_STEP_ID: &str = "s-1XXXXXXXXSTEP";

pub mod functions;
pub mod proxy;
pub mod world;

/// The Standard Webhooks receiver of `dev/standins/callback_receiver.py`: it verifies each callback
/// independently of emr-flows (`v1` with the `standardwebhooks` package, `v1a` with
/// `cryptography`) and appends what it got to a JSON-lines file.
pub struct Receiver {
    pub url: String,
    out: PathBuf,
    _service: Service,
}

impl Receiver {
    /// A receiver verifying `v1` with `secret`.
    pub fn start(secret: &str) -> Self {
        Self::start_on(free_port(), secret)
    }

    /// A receiver on `port`, verifying `v1` with `secret`.
    pub fn start_on(port: u16, secret: &str) -> Self {
        Self::trusting(port, Some(secret), None)
    }

    /// A receiver verifying `v1a` only, with the public keys `public_keys` (`whpk_…`,
    /// comma-separated): as a receiver that other receivers must not be able to fool.
    pub fn start_public(public_keys: &str) -> Self {
        Self::trusting(free_port(), None, Some(public_keys))
    }

    /// A receiver on `port` verifying `v1` with `secret` and `v1a` with `public_keys`, each
    /// when given; every scheme given must verify.
    pub fn trusting(port: u16, secret: Option<&str>, public_keys: Option<&str>) -> Self {
        let out = std::env::temp_dir().join(format!("emr-flows-callbacks-{port}.jsonl"));
        let _ = std::fs::remove_file(&out);
        let log = std::env::temp_dir().join(format!("emr-flows-receiver-{port}.log"));
        let script = root().join("dev/standins/callback_receiver.py");
        let env: Vec<(&str, String)> = [
            secret.map(|s| ("CALLBACK_SIGNING_SECRET", s.to_owned())),
            public_keys.map(|k| ("CALLBACK_SIGNING_PUBLIC_KEY", k.to_owned())),
        ]
        .into_iter()
        .flatten()
        .collect();
        let service = Service::start(
            &venv_bin("python"),
            &[
                script.to_str().unwrap(),
                "--port",
                &port.to_string(),
                "--out",
                out.to_str().unwrap(),
            ],
            &env,
            &log,
        );
        wait_for_port(port, "the callback receiver", Duration::from_secs(30));
        Self {
            url: format!("http://127.0.0.1:{port}/callbacks"),
            out,
            _service: service,
        }
    }

    /// Every callback received so far: `{"webhook_id", "verified", "schemes", "headers",
    /// "body"}` objects (`schemes`: those that verified, `v1`, `v1a`).
    pub fn received(&self) -> Vec<Value> {
        let Ok(file) = std::fs::File::open(&self.out) else {
            return vec![];
        };
        std::io::BufReader::new(file)
            .lines()
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect()
    }
}

/// A signing secret for tests: `whsec_` + base64 of 32 bytes.
pub const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=";
/// An ed25519 signing key for tests (`v1a`): `whsk_` + base64 of the 32-byte seed.
pub const TEST_SIGNING_KEY: &str = "whsk_P34xRjNXQLwUFWPPY90eiMzRhTVxnDKC//LxqETxqMI=";
/// [`TEST_SIGNING_KEY`]'s public key, as `python dev/admin/signing_key.py public` derives it.
pub const TEST_PUBLIC_KEY: &str = "whpk_e2QvF+i9cqHd0zod4493MzUBZPMvpJRusft3/vmEP5U=";
/// Another key pair's public key: what a receiver of another deployment trusts.
pub const OTHER_PUBLIC_KEY: &str = "whpk_iEhFzScufO7R/rqIwd1uoZdmmwRyDC7/ADow+HLMhZ8=";
/// [`OTHER_PUBLIC_KEY`]'s signing key.
pub const OTHER_SIGNING_KEY: &str = "whsk_URdm8TwQrs0o5NdVZywaAclCjkqaPspoKXEtkgjxULQ=";
