//! Callbacks: who is told when a flow ends, what they are sent, and how it is signed and
//! delivered. Targets are checked against a [`CallbackPolicy`] when a flow is submitted, so a
//! target that could never be called is refused up front, not discovered at the end.
//!
//! HTTP targets get a `POST` signed per the Standard Webhooks spec
//! (<https://www.standardwebhooks.com/>, headers `webhook-id`, `webhook-timestamp`,
//! `webhook-signature`), using the spec authors' `standardwebhooks` crate. Lambda targets get an
//! asynchronous `Invoke` (`InvocationType=Event`) with the same document as payload.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Problem};
use crate::model::{AttemptOutcome, FailureCause, FlowId, FlowRecord, FlowStatus};
pub use crate::model::{CallbackTarget, HttpTarget};

/// Headers that emr-flows sets itself; a target may not override them.
const RESERVED_HEADERS: [&str; 6] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
];

/// Which callback targets may be called.
#[derive(Debug, Clone, Default)]
pub struct CallbackPolicy {
    /// Allow plain `http://` to loopback and HTTPS to loopback, private and link-local
    /// addresses. For local development only.
    pub allow_local: bool,
    /// Lambda targets must match one of these patterns (`*` and `?` wildcards), e.g.
    /// `arn:aws:lambda:eu-west-1:123456789012:function:processor-*`. Empty: none may be called.
    pub lambda_allow: Vec<String>,
}

/// At most this many callbacks per flow (the definition's and the caller's together).
pub const MAX_CALLBACKS: usize = 10;
/// The longest callback URL or function name, in bytes.
pub const MAX_TARGET_LENGTH: usize = 2048;
/// At most this many extra headers per HTTP target, each value at most [`MAX_TARGET_LENGTH`].
pub const MAX_HEADERS: usize = 20;

impl CallbackPolicy {
    /// Every problem with `targets`, each with its path under `field` (`callbacks[0].http.url`).
    /// `others` is how many callbacks the flow has besides these (its definition's).
    pub fn check(&self, field: &str, targets: &[CallbackTarget], others: usize) -> Vec<Problem> {
        let mut problems = Vec::new();
        if targets.len() + others > MAX_CALLBACKS {
            problems.push(Problem::new(
                field,
                format!(
                    "{} callbacks (with the definition's {others}); at most {MAX_CALLBACKS}",
                    targets.len() + others
                ),
            ));
        }
        for (i, target) in targets.iter().enumerate() {
            match target {
                CallbackTarget::Lambda(function) => {
                    let path = format!("{field}[{i}].lambda");
                    if let Err(message) = self.check_lambda(function) {
                        problems.push(Problem::new(path, message));
                    }
                }
                CallbackTarget::Http(http) => {
                    if http.headers.len() > MAX_HEADERS {
                        problems.push(Problem::new(
                            format!("{field}[{i}].http.headers"),
                            format!("has {} headers; at most {MAX_HEADERS}", http.headers.len()),
                        ));
                    }
                    if let Err(message) = self.check_url(&http.url) {
                        problems.push(Problem::new(format!("{field}[{i}].http.url"), message));
                    }
                    for name in http.headers.keys() {
                        let lower = name.to_ascii_lowercase();
                        let path = format!("{field}[{i}].http.headers.{name}");
                        if RESERVED_HEADERS.contains(&lower.as_str()) {
                            problems.push(Problem::new(path, "is set by emr-flows itself"));
                        } else if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                            problems.push(Problem::new(path, "is not a valid header name"));
                        } else if http.headers[name].len() > MAX_TARGET_LENGTH {
                            problems.push(Problem::new(
                                path,
                                format!("is longer than {MAX_TARGET_LENGTH} bytes"),
                            ));
                        } else if reqwest::header::HeaderValue::from_str(&http.headers[name]).is_err() {
                            problems.push(Problem::new(path, "has a value that is not a valid header value"));
                        }
                    }
                }
            }
        }
        problems
    }

    fn check_lambda(&self, function: &str) -> Result<(), String> {
        if function.trim().is_empty() {
            return Err("is empty; give a function name or ARN".into());
        }
        if function.len() > MAX_TARGET_LENGTH {
            return Err(format!("is longer than {MAX_TARGET_LENGTH} bytes"));
        }
        if self.lambda_allow.is_empty() {
            return Err("Lambda callbacks are not allowed here (CALLBACK_LAMBDA_ALLOW is empty)".into());
        }
        if self
            .lambda_allow
            .iter()
            .any(|p| wildmatch::WildMatch::new(p).matches(function))
        {
            Ok(())
        } else {
            Err(format!(
                "`{function}` matches none of the allowed functions ({})",
                self.lambda_allow.join(", ")
            ))
        }
    }

    fn check_url(&self, url: &str) -> Result<(), String> {
        if url.len() > MAX_TARGET_LENGTH {
            return Err(format!("is longer than {MAX_TARGET_LENGTH} bytes"));
        }
        let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let local = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => is_local(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => is_local(IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.');
                d == "localhost" || d.ends_with(".localhost")
            }
            None => return Err(format!("`{url}` has no host")),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not carry credentials; use `headers`".into());
        }
        match parsed.scheme() {
            "https" if !local || self.allow_local => Ok(()),
            "https" => Err(format!(
                "`{url}` is a loopback, private or link-local address; such targets are refused"
            )),
            "http" if local && self.allow_local => Ok(()),
            "http" => Err(format!("`{url}` is plain http; callbacks must use https")),
            other => Err(format!("scheme `{other}` is not allowed; use https")),
        }
    }
}

/// Whether `ip` is not a public unicast address: loopback, private, link-local, site-local,
/// shared (CGNAT), "this network", benchmarking, documentation, reserved, multicast or
/// broadcast, also when an IPv6 address embeds an IPv4 one (mapped, compatible, translated,
/// NAT64, 6to4).
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || a == 0 // 0.0.0.0/8, "this network"
                || (a == 100 && b & 0xc0 == 64) // 100.64.0.0/10, shared address space
                || (a == 192 && b == 0 && ip.octets()[2] == 0) // 192.0.0.0/24, protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15, benchmarking
                || matches!((a, b, ip.octets()[2]), (192, 0, 2) | (198, 51, 100) | (203, 0, 113)) // documentation
                || a >= 240 // 240.0.0.0/4, reserved
        }
        IpAddr::V6(ip) => {
            let segments = ip.segments();
            let v4 = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                ))
            };
            let [s0, s1, s2, s3, s4, s5, s6, s7] = segments;
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || ip.is_unique_local()
                || ip.is_unicast_link_local()
                || ip.to_ipv4_mapped().is_some_and(|v4| is_local(IpAddr::V4(v4)))
                || (s0 & 0xffc0) == 0xfec0 // fec0::/10, site-local (deprecated)
                || (s0 == 0x2001 && s1 == 0x0db8) // 2001:db8::/32, documentation
                // IPv4 inside IPv6: ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (translated),
                // 64:ff9b::a.b.c.d (NAT64), 2002:AABB:CCDD:: (6to4).
                || ([s0, s1, s2, s3, s4, s5] == [0; 6] && is_local(v4(s6, s7)))
                || ([s0, s1, s2, s3, s4, s5] == [0, 0, 0, 0, 0xffff, 0] && is_local(v4(s6, s7)))
                || ([s0, s1, s2, s3, s4, s5] == [0x64, 0xff9b, 0, 0, 0, 0] && is_local(v4(s6, s7)))
                || (s0 == 0x2002 && is_local(v4(s1, s2)))
        }
    }
}

/// Resolves callback host names and keeps only public addresses, so a name that points at a
/// private address (or is re-pointed there after submit) is refused at delivery.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<_> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_local(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// One step as a callback reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// What a callback receives when a flow ends (the HTTP body, or the Lambda payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackDocument {
    /// Always `"flow.ended"`: the Standard Webhooks event type.
    #[serde(rename = "type")]
    pub kind: String,
    pub flow_id: FlowId,
    pub flow: String,
    pub definition_version: String,
    pub status: FlowStatus,
    pub params: Value,
    pub cluster_id: Option<String>,
    pub steps: Vec<StepSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureCause>,
    pub artifacts: BTreeMap<String, String>,
    /// The cluster's `NormalizedInstanceHours` when EMR reported it by the time of sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_instance_hours: Option<i32>,
    pub submitted_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl CallbackDocument {
    /// The document for a flow record (normally one that just reached a terminal status).
    pub fn for_record(record: &FlowRecord) -> Self {
        Self {
            kind: "flow.ended".into(),
            flow_id: record.flow_id,
            flow: record.flow.clone(),
            definition_version: record.definition_version.clone(),
            status: record.status,
            params: record.params.clone(),
            cluster_id: record.cluster_id.as_ref().map(ToString::to_string),
            steps: record
                .ordered_steps()
                .into_iter()
                .map(|(id, s)| StepSummary {
                    id: id.to_string(),
                    name: s.name.clone(),
                    state: s.state.as_str().to_owned(),
                })
                .collect(),
            failure: record.failure.clone(),
            artifacts: record.artifacts.clone(),
            normalized_instance_hours: record.normalized_instance_hours,
            submitted_at: record.submitted_at,
            ended_at: record.ended_at,
        }
    }

    /// The `webhook-id`: the same for every delivery of one flow's outcome, so a receiver can
    /// drop duplicates.
    pub fn webhook_id(&self) -> String {
        format!(
            "flow_{}_{}",
            self.flow_id,
            self.status.as_str().to_ascii_lowercase()
        )
    }
}

/// Delivers callback documents. Holds the HTTP client, the Lambda client and the signing key
/// (cheap to clone: all three are shared).
#[derive(Clone)]
pub struct Dispatcher {
    http: reqwest::Client,
    lambda: aws_sdk_lambda::Client,
    signer: std::sync::Arc<standardwebhooks::Webhook>,
}

/// How long one HTTP delivery may take, connection included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to a callback endpoint may take.
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Dispatcher {
    /// `signing_secret` is a Standard Webhooks secret: `whsec_` and base64 key bytes. Unless
    /// `allow_local` (local development), host names must resolve to public addresses.
    ///
    /// Errors: [`Error::Internal`] when the secret is not base64 or the HTTP client cannot be
    /// built.
    pub fn new(
        lambda: aws_sdk_lambda::Client,
        signing_secret: &str,
        allow_local: bool,
    ) -> Result<Self, Error> {
        let signer = standardwebhooks::Webhook::new(signing_secret)
            .map_err(|e| Error::Internal(format!("CALLBACK_SIGNING_SECRET: {e}")))?;
        // reqwest is built without a TLS provider of its own (see the workspace manifest):
        // ring's, for the process, unless one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder();
        if !allow_local {
            http = http.dns_resolver(std::sync::Arc::new(PublicOnly));
        }
        let http = http
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_CONNECT_TIMEOUT)
            .user_agent(concat!("emr-flows/", env!("CARGO_PKG_VERSION")))
            // A callback target is checked once; never follow it somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            lambda,
            signer: std::sync::Arc::new(signer),
        })
    }

    /// Sends `document` to `target` once, signed now. Only HTTP 2xx (or a queued Lambda
    /// invocation) is delivered; `410 Gone` asks for no more attempts; anything else (another
    /// status, a timeout, a refused connection, a Lambda error) is a failed attempt with its
    /// message, to be recorded on the delivery.
    pub async fn deliver(&self, target: &CallbackTarget, document: &CallbackDocument) -> AttemptOutcome {
        let body = match serde_json::to_vec(document) {
            Ok(body) => body,
            Err(e) => {
                return AttemptOutcome::Failed {
                    http_status: None,
                    error: e.to_string(),
                };
            }
        };
        match target {
            CallbackTarget::Http(http) => self.post(http, &document.webhook_id(), body).await,
            CallbackTarget::Lambda(function) => match self.invoke(function, body).await {
                Ok(()) => AttemptOutcome::Delivered { http_status: None },
                Err(error) => AttemptOutcome::Failed {
                    http_status: None,
                    error,
                },
            },
        }
    }

    async fn post(&self, target: &HttpTarget, webhook_id: &str, body: Vec<u8>) -> AttemptOutcome {
        let failed = |http_status, error| AttemptOutcome::Failed { http_status, error };
        // The wire time, also under a test clock: receivers check it against their own.
        let timestamp = Utc::now().timestamp();
        let signature = match self.signer.sign(webhook_id, timestamp, &body) {
            Ok(signature) => signature,
            Err(e) => return failed(None, format!("signing: {e}")),
        };
        let mut request = self
            .http
            .post(&target.url)
            .header("content-type", "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        for (name, value) in &target.headers {
            request = request.header(name, value);
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            Err(e) => return failed(None, with_causes(&e)),
        };
        let status = response.status();
        if status.is_success() {
            AttemptOutcome::Delivered {
                http_status: Some(status.as_u16()),
            }
        } else if status == reqwest::StatusCode::GONE {
            AttemptOutcome::Gone
        } else {
            failed(
                Some(status.as_u16()),
                format!("the endpoint answered HTTP {status}"),
            )
        }
    }

    async fn invoke(&self, function: &str, body: Vec<u8>) -> Result<(), String> {
        self.lambda
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::error::sdk_message(&e))
    }
}

/// An error and the chain of its causes, `error: cause: cause` (reqwest's own message omits
/// them: "error sending request" but not "connection refused").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> CallbackTarget {
        CallbackTarget::Http(HttpTarget {
            url: url.into(),
            headers: BTreeMap::new(),
        })
    }

    #[test]
    fn targets_parse_from_the_documented_shapes() {
        let targets: Vec<CallbackTarget> = serde_json::from_str(
            r#"[{"lambda": "processor"}, {"http": {"url": "https://example.com/h", "headers": {"x-api-key": "k"}}}]"#,
        )
        .unwrap();
        assert_eq!(targets[0], CallbackTarget::Lambda("processor".into()));
        assert!(serde_json::from_str::<CallbackTarget>(r#"{"sqs": "q"}"#).is_err());
    }

    #[test]
    fn plain_http_and_private_addresses_are_refused_by_default() {
        let policy = CallbackPolicy::default();
        let targets = [
            http("https://hooks.example.com/emr"),
            http("http://hooks.example.com/emr"),
            http("https://127.0.0.1/x"),
            http("https://10.1.2.3/x"),
            http("https://169.254.169.254/latest"),
            http("https://[::1]/x"),
            http("ftp://example.com/x"),
            http("not a url"),
        ];
        let problems = policy.check("callbacks", &targets, 0);
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            (1..8)
                .map(|i| format!("callbacks[{i}].http.url"))
                .collect::<Vec<_>>()
        );
        assert!(problems[0].message.contains("plain http"));
    }

    #[test]
    fn every_non_public_address_is_refused() {
        let policy = CallbackPolicy::default();
        for url in [
            "https://localhost./x",
            "https://0.1.2.3/",
            "https://198.18.0.1/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[::127.0.0.1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://224.0.0.1/",
            "https://[fe80::1]/",
            "https://[2002:7f00:1::]/",
            "https://[::ffff:0:7f00:1]/",
            "https://[fec0::1]/",
            "https://192.0.2.10/",
            "https://[2001:db8::1]/",
        ] {
            assert_eq!(policy.check("c", &[http(url)], 0).len(), 1, "{url}");
        }
        assert!(policy.check("c", &[http("https://8.8.8.8/x")], 0).is_empty());
        assert!(
            policy
                .check("c", &[http("https://[2606:4700::1111]/x")], 0)
                .is_empty()
        );
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_at_delivery() {
        use reqwest::dns::Resolve;
        let err = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("no public address"), "{err}");
    }

    #[test]
    fn local_development_allows_loopback_only() {
        let policy = CallbackPolicy {
            allow_local: true,
            ..Default::default()
        };
        assert!(
            policy
                .check("c", &[http("http://127.0.0.1:8080/h")], 0)
                .is_empty()
        );
        assert!(
            policy
                .check("c", &[http("http://localhost:8080/h")], 0)
                .is_empty()
        );
        assert_eq!(policy.check("c", &[http("http://example.com/h")], 0).len(), 1);
    }

    #[test]
    fn lambda_targets_must_match_the_allow_list() {
        let policy = CallbackPolicy {
            allow_local: false,
            lambda_allow: vec!["arn:aws:lambda:*:123456789012:function:processor-*".into()],
        };
        let ok = CallbackTarget::Lambda("arn:aws:lambda:eu-west-1:123456789012:function:processor-a".into());
        let other =
            CallbackTarget::Lambda("arn:aws:lambda:eu-west-1:999999999999:function:processor-a".into());
        let problems = policy.check("callbacks", &[ok, other], 0);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "callbacks[1].lambda");
        let none_allowed = CallbackPolicy::default().check("c", &[CallbackTarget::Lambda("f".into())], 0);
        assert!(none_allowed[0].message.contains("CALLBACK_LAMBDA_ALLOW"));
    }

    #[test]
    fn header_values_must_be_sendable() {
        let target = CallbackTarget::Http(HttpTarget {
            url: "https://example.com".into(),
            headers: [("x-api-key".to_owned(), "a\nb".to_owned())].into(),
        });
        let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
        assert_eq!(problems[0].path, "callbacks[0].http.headers.x-api-key");
    }

    #[test]
    fn reserved_headers_cannot_be_overridden() {
        let target = CallbackTarget::Http(HttpTarget {
            url: "https://example.com".into(),
            headers: [("Webhook-Signature".to_owned(), "x".to_owned())].into(),
        });
        let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
        assert_eq!(problems[0].path, "callbacks[0].http.headers.Webhook-Signature");
    }
}
