//! Start-up configuration: environment variables read once per cold start, failing fast with a
//! message that names the variable, and the AWS clients built from one shared SDK config.
//!
//! | variable | used by | meaning |
//! | --- | --- | --- |
//! | `TABLE_NAME` | all | the flow record table |
//! | `CALLBACK_SIGNING_SECRET_ARN` | submit, on-state-change, terminate, list | the Secrets Manager secret holding the `v1` signing secrets (the deployed stack); read once per container, again after [`crate::aws::secrets::MAX_AGE`]; unset: no `v1` signatures (list only reports whether it is set) |
//! | `CALLBACK_SIGNING_SECRET` | submit, on-state-change, terminate, list | without `CALLBACK_SIGNING_SECRET_ARN` (local use): Standard Webhooks secrets, `whsec_` + base64, comma-separated (each signs: rotation) |
//! | `CALLBACK_SIGNING_KEY_ARN` | submit, on-state-change, terminate, list | the Secrets Manager secret holding the `v1a` ed25519 signing keys (`whsk_` + base64 of the 32-byte seed; comma-separated: each signs); list answers their public keys; unset: no `v1a` signatures |
//! | `CALLBACK_SIGNING_KEY` | submit, on-state-change, terminate, list | without `CALLBACK_SIGNING_KEY_ARN` (local use): the signing keys themselves, same form |
//! | `CALLBACK_HEADER_SECRETS` | submit, on-state-change, terminate | comma-separated ARN patterns (`*` wildcards within a segment) of the Secrets Manager secrets a callback header may name; empty: none |
//! | `CALLBACK_LAMBDA_ALLOW` | submit | comma-separated function name/ARN patterns (`*` and `?` within a segment; each checked against Lambda's grammar at start-up: [`crate::model::lambda_function::check_pattern`]) |
//! | `CALLBACK_ALLOW_LOCAL` | submit, on-state-change | `true` allows loopback/private callback URLs and plain `http://` to loopback (local development only) |
//! | `FLOW_EVENT_BUS` | submit, on-state-change, terminate | the EventBridge bus (name or ARN) flows submitted now publish their status changes to (`Flow Status Change`); unset or empty: no flow events |
//! | `STACK_NAME` | all | the CloudFormation stack's name: the `emr-flows:stack` tag of every cluster launched and the metrics' `stack` dimension; `local` when unset |
//! | `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>` | all | read by the SDK: local stand-ins |

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

use crate::aws::emr::Emr;
use crate::aws::emr_containers::EmrContainers;
use crate::aws::emr_serverless::EmrServerless;
use crate::aws::eventbridge::EventBridge;
use crate::aws::secrets::{CachedSecret, TaggedSecrets};
use crate::aws::step_logs::StepLogs;
use crate::callback::{CallbackPolicy, Dispatcher, SigningKeys};
use crate::error::Error;
use crate::services::{Clock, Services};
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
pub use crate::catalog::job_flow::LOCAL_STACK;

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
/// `INFO`, `WARN`, `ERROR`, `FATAL`), else `RUST_LOG` (a level, or `target=level` directives
/// separated by commas, e.g. `info,emr_flows::store=debug`; tracing-subscriber's `Targets` syntax:
/// no span or field filters), else `info`; targets no directive names log at `info`. Directives
/// that do not parse are ignored.
/// The runtime's `lambda_runtime::layers::panic` target is off: it logs every returned error at
/// ERROR with its Rust debug form; [`crate::api`] logs errors itself, callers' at WARN.
pub fn log_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .finish()
        .with(filter)
}

/// The filter [`log_subscriber`] applies, from `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG` (see there).
fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let directives = match lambda_level.map(str::trim) {
        Some(level) if !level.is_empty() => match level.to_ascii_lowercase().as_str() {
            "fatal" => "error".to_owned(),
            level => level.to_owned(),
        },
        _ => rust_log.unwrap_or("info").to_owned(),
    };
    let valid: Vec<&str> = directives
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty() && directive.parse::<Targets>().is_ok())
        .collect();
    let mut filter = valid.join(",").parse::<Targets>().unwrap_or_default();
    if filter.default_level().is_none() {
        filter = filter.with_default(LevelFilter::INFO);
    }
    filter.with_target("lambda_runtime::layers::panic", LevelFilter::OFF)
}

/// The SDK config as a Lambda function's environment gives it, with the timeouts above and an
/// HTTPS client on rustls with ring (see the workspace manifest):
///
/// - region: `AWS_REGION` (Lambda sets it), else `AWS_DEFAULT_REGION`;
/// - credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (Lambda sets
///   them from the execution role), cached by the SDK's lazy identity cache;
/// - endpoints: `AWS_ENDPOINT_URL_<SERVICE>` (the SDK's names: `AWS_ENDPOINT_URL_DYNAMODB`,
///   `_EMR`, `_EMR_SERVERLESS`, `_LAMBDA`, `_S3`, `_SECRETS_MANAGER`), else `AWS_ENDPOINT_URL`, else AWS's;
/// - retries: the standard mode, `AWS_MAX_ATTEMPTS` attempts (default 3).
///
/// Not `aws_config::from_env()`'s default chains: profile files, SSO, web identity, container
/// and instance metadata do not exist in Lambda, and leaving them out leaves STS, the profile
/// parser and the IMDS client out of the binaries (see README, "Benchmark").
pub async fn aws() -> aws_config::SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::{BehaviorVersion, Region, identity::IdentityCache, retry::RetryConfig};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let attempts = optional("AWS_MAX_ATTEMPTS")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(3);
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https)
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .service_config(EndpointsFromEnvironment);
    sdk.set_region(
        optional("AWS_REGION")
            .or_else(|| optional("AWS_DEFAULT_REGION"))
            .map(Region::new),
    );
    sdk.build()
}

/// The SDK's endpoint variables: `AWS_ENDPOINT_URL_<SERVICE ID>` (upper case, spaces as `_`),
/// else `AWS_ENDPOINT_URL`. Other keys (none today) get only their variable.
#[derive(Debug)]
struct EndpointsFromEnvironment;

impl aws_types::service_config::LoadServiceConfig for EndpointsFromEnvironment {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        optional(&format!("{}_{service}", key.env())).or_else(|| optional(key.env()))
    }
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

/// The EMR client for the stack `STACK_NAME` ([`stack_name`]), adding steps only to clusters
/// carrying the tags `STEP_CLUSTER_TAGS` names (`key=value,key=value`; unset or empty: any).
///
/// Errors: [`Error::Internal`] naming `STEP_CLUSTER_TAGS` when an entry is not `key=value`.
pub fn emr(sdk: &aws_config::SdkConfig) -> Result<Emr, Error> {
    let tags = step_cluster_tags(&std::env::var("STEP_CLUSTER_TAGS").unwrap_or_default())?;
    Ok(Emr::for_stack(aws_sdk_emr::Client::new(sdk), stack_name()).with_step_cluster_tags(tags))
}

/// Parses `STEP_CLUSTER_TAGS`: `key=value` entries separated by commas, blanks trimmed.
fn step_cluster_tags(text: &str) -> Result<std::collections::BTreeMap<String, String>, Error> {
    (text.split(',').map(str::trim).filter(|e| !e.is_empty()))
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(Error::Internal(format!(
                "STEP_CLUSTER_TAGS: `{entry}` is not key=value (entries separated by commas)"
            ))),
        })
        .collect()
}

/// The EMR Serverless client for the stack `STACK_NAME` ([`stack_name`]).
pub fn emr_serverless(sdk: &aws_config::SdkConfig) -> EmrServerless {
    EmrServerless::for_stack(aws_sdk_emrserverless::Client::new(sdk), stack_name())
}

/// The EMR on EKS client for the stack `STACK_NAME` ([`stack_name`]).
pub fn emr_containers(sdk: &aws_config::SdkConfig) -> EmrContainers {
    EmrContainers::for_stack(aws_sdk_emrcontainers::Client::new(sdk), stack_name())
}

/// Step logs in S3 (on-state-change; the other functions pass [`StepLogs::none`] to
/// [`services`] and so carry no S3 client).
pub fn logs(sdk: &aws_config::SdkConfig) -> StepLogs {
    StepLogs::new(aws_sdk_s3::Client::new(sdk))
}

/// What on-state-change, terminate and submit work with: store, EMR, callbacks, `logs`, flow
/// events (to `FLOW_EVENT_BUS`), the system clock.
///
/// Errors: [`Error::Internal`] naming a missing variable.
pub fn services(sdk: &aws_config::SdkConfig, logs: StepLogs) -> Result<Services, Error> {
    Ok(Services {
        store: store(sdk)?,
        emr: emr(sdk)?,
        emr_serverless: emr_serverless(sdk),
        emr_containers: emr_containers(sdk),
        dispatcher: dispatcher(sdk)?,
        logs,
        events: EventBridge::new(aws_sdk_eventbridge::Client::new(sdk), optional("FLOW_EVENT_BUS")),
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
pub fn signing(sdk: &aws_config::SdkConfig) -> Result<SigningKeys, Error> {
    let managed = |arn: String| {
        CachedSecret::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            arn,
            crate::aws::secrets::MAX_AGE,
        )
    };
    let mut signing = SigningKeys::default();
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
            TaggedSecrets::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                crate::aws::secrets::MAX_AGE,
            ),
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
    let lambda_allow = list("CALLBACK_LAMBDA_ALLOW");
    for pattern in &lambda_allow {
        crate::model::lambda_function::check_pattern(pattern)
            .map_err(|why| Error::Internal(format!("CALLBACK_LAMBDA_ALLOW: {why}")))?;
    }
    Ok(CallbackPolicy {
        allow_local,
        lambda_allow,
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

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn lambdas_log_level_wins_over_rust_log_and_fatal_means_error() {
        // GIVEN Lambda's log level WARN and a RUST_LOG asking for debug
        let filter = log_filter(Some("WARN"), Some("debug"));
        // THEN warnings log, info does not
        assert!(enabled(&filter, "emr_flows::ops", Level::WARN));
        assert!(!enabled(&filter, "emr_flows::ops", Level::INFO));
        // AND FATAL (which tracing lacks) keeps errors only
        let fatal = log_filter(Some("FATAL"), None);
        assert!(enabled(&fatal, "shared", Level::ERROR));
        assert!(!enabled(&fatal, "shared", Level::WARN));
    }

    #[test]
    fn rust_log_directives_apply_per_target_and_bad_ones_are_ignored() {
        // GIVEN no Lambda log level and RUST_LOG with a default, a target, and nonsense
        let filter = log_filter(None, Some("warn, emr_flows::store=debug, =bogus=x"));
        // THEN the named target logs at debug, the rest at warn
        assert!(enabled(&filter, "emr_flows::store::fast", Level::DEBUG));
        assert!(!enabled(&filter, "emr_flows::ops", Level::INFO));
        assert!(enabled(&filter, "emr_flows::ops", Level::WARN));
    }

    #[test]
    fn nothing_set_logs_info_and_the_runtimes_panic_layer_never() {
        // GIVEN neither variable, or only a target directive
        for filter in [
            log_filter(None, None),
            log_filter(Some(" "), Some("shared=debug")),
        ] {
            // THEN other targets log at info and the runtime's error echo is off
            assert!(enabled(&filter, "aws_config", Level::INFO));
            assert!(!enabled(&filter, "aws_config", Level::DEBUG));
            assert!(!enabled(&filter, "lambda_runtime::layers::panic", Level::ERROR));
        }
    }

    #[test]
    fn step_cluster_tags_are_key_value_pairs() {
        let tags = step_cluster_tags(" emr-flows:steps = shared , team=search,").unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags["emr-flows:steps"], "shared");
        assert_eq!(tags["team"], "search");
        assert!(step_cluster_tags("").unwrap().is_empty());
        let bad = step_cluster_tags("team").unwrap_err().to_string();
        assert!(bad.contains("STEP_CLUSTER_TAGS: `team`"), "{bad}");
    }
}
