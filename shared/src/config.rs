//! Start-up configuration: environment variables read once per cold start, failing fast with a
//! message that names the variable, and the AWS clients built from one shared SDK config.
//!
//! | variable | used by | meaning |
//! | --- | --- | --- |
//! | `TABLE_NAME` | all | the flow record table |
//! | `CALLBACK_SIGNING_SECRET_ARN` | submit, on-state-change, terminate, list | the Secrets Manager secret holding the `v1` signing secrets (the deployed stack); read once per container, again after [`crate::secrets::MAX_AGE`]; unset: no `v1` signatures (list only reports whether it is set) |
//! | `CALLBACK_SIGNING_SECRET` | submit, on-state-change, terminate, list | without `CALLBACK_SIGNING_SECRET_ARN` (local use): Standard Webhooks secrets, `whsec_` + base64, comma-separated (each signs: rotation) |
//! | `CALLBACK_SIGNING_KEY_ARN` | submit, on-state-change, terminate, list | the Secrets Manager secret holding the `v1a` ed25519 signing keys (`whsk_` + base64 of the 32-byte seed; comma-separated: each signs); list answers their public keys; unset: no `v1a` signatures |
//! | `CALLBACK_SIGNING_KEY` | submit, on-state-change, terminate, list | without `CALLBACK_SIGNING_KEY_ARN` (local use): the signing keys themselves, same form |
//! | `CALLBACK_HEADER_SECRETS` | submit, on-state-change, terminate | comma-separated ARN patterns (`*` wildcards within a segment) of the Secrets Manager secrets a callback header may name; empty: none |
//! | `CALLBACK_LAMBDA_ALLOW` | submit | comma-separated function name/ARN patterns (`*` wildcards) |
//! | `CALLBACK_ALLOW_LOCAL` | submit, on-state-change | `true` allows loopback/private callback URLs and plain `http://` to loopback (local development only) |
//! | `STACK_NAME` | all | the CloudFormation stack's name: the `emr-flows:stack` tag of every cluster launched and the metrics' `stack` dimension; `local` when unset |
//! | `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>` | all | read by the SDK: local stand-ins |

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

use crate::callback::{CallbackPolicy, Dispatcher, Signing};
use crate::emr::Emr;
use crate::error::Error;
use crate::logs::StepLogs;
use crate::ops::{Clock, Services};
use crate::secrets::{CachedSecret, TaggedSecrets};
use crate::store::FlowStore;

/// Every AWS call: connecting may take [`CONNECT_TIMEOUT`], one attempt
/// [`ATTEMPT_TIMEOUT`], the call with its retries [`OPERATION_TIMEOUT`]: all well below the
/// functions' timeouts (30 s, 60 s for on-state-change), so a stalled service is an error Lambda
/// can retry, never a killed invocation that leaves work half done.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

fn required(name: &str) -> Result<String, Error> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(Error::Internal(format!("environment variable {name} is not set"))),
    }
}

/// The stack name when `STACK_NAME` is unset or empty (local use).
pub use crate::job_flow::LOCAL_STACK;

/// The stack's name from `STACK_NAME` (the template sets it to `AWS::StackName`), else
/// [`LOCAL_STACK`].
pub fn stack_name() -> String {
    std::env::var("STACK_NAME")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| LOCAL_STACK.to_owned())
}

/// Logs as JSON lines to stdout: see [`log_subscriber`].
pub fn init_tracing() {
    // Only fails when a subscriber is already set (a test set its own): that one stays.
    let _ = tracing::subscriber::set_global_default(log_subscriber(std::io::stdout));
    // Panics are logged as JSON too (the runtime's own panic log is turned off, below).
    std::panic::set_hook(Box::new(|panic| tracing::error!(%panic, "panicked")));
}

/// The log subscriber the functions use, writing to `writer`: one JSON object per line with a
/// `timestamp` (RFC 3339, UTC), `level`, `target`, the event's fields flat at the top level
/// (`flow_id`, `cluster_id`, `step_id`, …) and `message`.
///
/// The level is Lambda's advanced logging control `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`,
/// `INFO`, `WARN`, `ERROR`, `FATAL`), else `RUST_LOG` (any `EnvFilter` directives), else `info`.
/// The runtime's `lambda_runtime::layers::panic` target is off: it logs every returned error at
/// ERROR with its Rust debug form; [`crate::api`] logs errors itself, callers' at WARN.
pub fn log_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let directives = match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(level) if !level.trim().is_empty() => match level.trim().to_ascii_lowercase().as_str() {
            "fatal" => "error".to_owned(),
            level => level.to_owned(),
        },
        _ => std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
    };
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse_lossy(format!("{directives},lambda_runtime::layers::panic=off"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// The SDK config, from the environment (region, credentials, endpoint overrides), with the
/// timeouts above and an HTTPS client on rustls with ring (see the workspace manifest).
pub async fn aws() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::from_env()
        .http_client(https)
        .timeout_config(timeouts())
        .load()
        .await
}

/// The timeouts every AWS call gets (see [`OPERATION_TIMEOUT`]).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The region the SDK resolved (`AWS_REGION` in Lambda). Errors when there is none.
pub fn region(sdk: &aws_config::SdkConfig) -> Result<String, Error> {
    sdk.region()
        .map(ToString::to_string)
        .ok_or_else(|| Error::Internal("no AWS region: set AWS_REGION".into()))
}

/// The flow record store on `TABLE_NAME`.
pub fn store(sdk: &aws_config::SdkConfig) -> Result<FlowStore, Error> {
    Ok(FlowStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        required("TABLE_NAME")?,
    ))
}

/// The EMR client for the stack `STACK_NAME` ([`stack_name`]).
pub fn emr(sdk: &aws_config::SdkConfig) -> Emr {
    Emr::for_stack(aws_sdk_emr::Client::new(sdk), stack_name())
}

/// Step logs in S3.
pub fn logs(sdk: &aws_config::SdkConfig) -> StepLogs {
    StepLogs::new(aws_sdk_s3::Client::new(sdk))
}

/// What on-state-change, terminate and submit work with: store, EMR, callbacks, logs, the
/// system clock.
///
/// Errors: [`Error::Internal`] naming a missing variable.
pub fn services(sdk: &aws_config::SdkConfig) -> Result<Services, Error> {
    Ok(Services {
        store: store(sdk)?,
        emr: emr(sdk),
        dispatcher: dispatcher(sdk)?,
        logs: logs(sdk),
        clock: Clock::system(),
    })
}

/// The value of `name` when it is set and not blank.
fn optional(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// What callbacks are signed with: `v1` from the Secrets Manager secret
/// `CALLBACK_SIGNING_SECRET_ARN` names, else from `CALLBACK_SIGNING_SECRET`; `v1a` from the
/// secret `CALLBACK_SIGNING_KEY_ARN` names, else from `CALLBACK_SIGNING_KEY`. Either may be
/// absent; [`dispatcher`] needs one. Managed secrets are read when first used, not here.
///
/// Errors: [`Error::Internal`] naming the local variable whose value does not parse.
pub fn signing(sdk: &aws_config::SdkConfig) -> Result<Signing, Error> {
    let managed = |arn: String| {
        CachedSecret::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            arn,
            crate::secrets::MAX_AGE,
        )
    };
    let mut signing = Signing::default();
    if let Some(arn) = optional("CALLBACK_SIGNING_SECRET_ARN") {
        signing = signing.with_managed_secrets(managed(arn));
    } else if let Some(secrets) = optional("CALLBACK_SIGNING_SECRET") {
        signing = signing.with_secrets(&secrets)?;
    }
    if let Some(arn) = optional("CALLBACK_SIGNING_KEY_ARN") {
        signing = signing.with_managed_keys(managed(arn));
    } else if let Some(keys) = optional("CALLBACK_SIGNING_KEY") {
        signing = signing.with_keys(&keys)?;
    }
    Ok(signing)
}

/// The callback dispatcher: signing with [`signing`] (at least one of `v1`, `v1a`), header
/// values from the secrets `CALLBACK_HEADER_SECRETS` allows, `CALLBACK_ALLOW_LOCAL` letting it
/// reach local addresses.
///
/// Errors: [`Error::Internal`] naming the variable that is missing or malformed.
pub fn dispatcher(sdk: &aws_config::SdkConfig) -> Result<Dispatcher, Error> {
    let policy = callback_policy()?;
    let dispatcher = Dispatcher::with_signing(
        aws_sdk_lambda::Client::new(sdk),
        signing(sdk)?,
        policy.allow_local,
    )?;
    Ok(if policy.header_secrets.is_empty() {
        dispatcher
    } else {
        dispatcher.with_header_secrets(
            policy.header_secrets,
            TaggedSecrets::new(aws_sdk_secretsmanager::Client::new(sdk), crate::secrets::MAX_AGE),
        )
    })
}

/// The comma-separated entries of the variable `name`, trimmed, blanks dropped.
fn list(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The callback policy from `CALLBACK_LAMBDA_ALLOW`, `CALLBACK_HEADER_SECRETS` and
/// `CALLBACK_ALLOW_LOCAL`.
pub fn callback_policy() -> Result<CallbackPolicy, Error> {
    let allow_local = match std::env::var("CALLBACK_ALLOW_LOCAL").as_deref() {
        Ok("true") => true,
        Ok("false" | "") | Err(_) => false,
        Ok(other) => {
            return Err(Error::Internal(format!(
                "CALLBACK_ALLOW_LOCAL must be true or false, not `{other}`"
            )));
        }
    };
    Ok(CallbackPolicy {
        allow_local,
        lambda_allow: list("CALLBACK_LAMBDA_ALLOW"),
        header_secrets: list("CALLBACK_HEADER_SECRETS"),
    })
}

/// The time an invocation has left, from the Lambda context's deadline (milliseconds since the
/// epoch); 60 s when the deadline is unknown or already past.
pub fn time_left(deadline_ms: u64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(deadline_ms)
        .checked_sub(now)
        .filter(|left| !left.is_zero())
        .unwrap_or(Duration::from_secs(60))
}
