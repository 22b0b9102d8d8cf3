//! The stack's HTTP API (API Gateway, `AWS_IAM` authorization): each request signed with SigV4
//! for the service `execute-api` with the caller's credentials from the standard chain.
//! Answers are the functions' JSON with status 200; errors `{"error": {"code", "message",
//! "details"?}}` with their status (README, "Calling it"), or API Gateway's own
//! `{"message"}` (403 for a bad signature or a missing permission).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

use super::{Call, sdk_config};
use crate::args::Global;
use crate::error::Failure;

/// API Gateway gives an integration 30 s at most; this leaves room for the connection.
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Http {
    base: String,
    client: reqwest::Client,
    credentials: SharedCredentialsProvider,
    region: String,
}

impl Http {
    /// The API at `url` (`ApiEndpoint`, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com`).
    /// The region: `--region`, else the AWS configuration's, else the URL's.
    pub async fn new(global: &Global, url: &str) -> Result<Self, Failure> {
        let base = url.trim_end_matches('/').to_owned();
        let parsed =
            reqwest::Url::parse(&base).map_err(|e| Failure::Usage(format!("--api {url}: not a URL: {e}")))?;
        let sdk = sdk_config(global).await;
        let region = (sdk.region().map(ToString::to_string))
            .or_else(|| region_of(parsed.host_str().unwrap_or_default()))
            .ok_or_else(|| {
                Failure::NoAnswer(format!(
                    "no AWS region to sign requests to {url} for: pass --region or set AWS_REGION"
                ))
            })?;
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| Failure::NoAnswer("no AWS credentials provider is configured".into()))?;
        // reqwest is built without a TLS provider of its own (see the workspace manifest).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("emr-flows-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::NoAnswer(format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            client,
            credentials,
            region,
        })
    }

    pub async fn call(&self, call: &Call) -> Result<Value, Failure> {
        let (method, path, body) = call.route();
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| serde_json::to_vec(&b).expect("a JSON value serializes"));
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            Failure::NoAnswer(format!(
                "no AWS credentials to sign with: {}",
                aws_sdk_lambda::error::DisplayErrorContext(&e)
            ))
        })?;
        let headers = sign_headers(
            &credentials,
            &self.region,
            method,
            &url,
            body.as_deref(),
            SystemTime::now(),
        )?;
        let mut request = self.client.request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("a method"),
            &url,
        );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::NoAnswer(format!("{method} {url}: {}", error_chain(&e))))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::NoAnswer(format!("{method} {url}: {}", error_chain(&e))))?;
        let document: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return document.ok_or_else(|| {
                Failure::NoAnswer(format!("{method} {url} answered something that is not JSON"))
            });
        }
        if let Some(failure) = document.as_ref().and_then(Failure::from_document) {
            return Err(failure);
        }
        // API Gateway's own answer: {"message": "Forbidden"}, a signature mismatch, a throttle.
        let message = (document.as_ref())
            .and_then(|d| d.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
        Err(Failure::NoAnswer(format!(
            "{method} {url}: HTTP {status}: {message}"
        )))
    }
}

/// The SigV4 headers (`authorization`, `x-amz-date`, and `x-amz-security-token` with temporary
/// credentials) for a request to API Gateway (`execute-api`) in `region` at `time`. A body is
/// sent with `content-type: application/json`, which is signed too; the host is signed from
/// `url`.
pub fn sign_headers(
    credentials: &Credentials,
    region: &str,
    method: &str,
    url: &str,
    body: Option<&[u8]>,
    time: SystemTime,
) -> Result<Vec<(String, String)>, Failure> {
    let failed = |e: &dyn std::fmt::Display| Failure::NoAnswer(format!("signing {method} {url}: {e}"));
    let identity = credentials.clone().into();
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let content_type = [("content-type", "application/json")];
    let headers = if body.is_some() { &content_type[..] } else { &[] };
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.unwrap_or_default()),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| failed(&e))?.into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// The region of an API Gateway host: `{api}.execute-api.{region}.amazonaws.com`.
fn region_of(host: &str) -> Option<String> {
    let mut labels = host.split('.');
    labels.find(|l| *l == "execute-api")?;
    labels.next().filter(|r| !r.is_empty()).map(str::to_owned)
}

/// An error with its sources (reqwest's own message alone says only "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_api_gateway_host() {
        assert_eq!(
            region_of("abc123.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("127.0.0.1"), None);
        assert_eq!(region_of("api.example.com"), None);
    }

    #[test]
    fn requests_are_signed_for_execute_api_with_the_body_type() {
        // GIVEN fixed credentials and time
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_946_400); // 2026-11-29T10:00:00Z
        // WHEN a POST is signed
        let headers = sign_headers(
            &credentials,
            "eu-west-1",
            "POST",
            "https://abc.execute-api.eu-west-1.amazonaws.com/flows",
            Some(b"{}"),
            time,
        )
        .unwrap();
        let header = |name: &str| {
            (headers.iter())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        };
        // THEN the scope names the service and region, and host, content type and token are signed
        let authorization = header("authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/eu-west-1/execute-api/aws4_request"
            ),
            "{authorization}"
        );
        assert!(
            authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{authorization}"
        );
        assert_eq!(header("x-amz-date"), "20261129T100000Z");
        assert_eq!(header("x-amz-security-token"), "token");
    }
}
