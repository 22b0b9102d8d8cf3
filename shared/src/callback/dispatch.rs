//! Delivery: one attempt to call one callback target (a signed HTTPS `POST`, or an
//! asynchronous Lambda `Invoke`), with header secrets read at delivery.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{
    address::PublicOnly,
    document::CallbackDocument,
    keys::SigningKeys,
    policy::{HOST_TAG, MAX_TARGET_LENGTH, callback_host, check_header_value, check_secret_ref, tag_allows},
};
use crate::aws::secrets::{CachedSecret, TaggedSecrets};
use crate::error::Error;
use crate::model::{AttemptOutcome, CallbackTarget, HeaderValue, HttpTarget, SecretRef};

/// Delivers callback documents. Holds the HTTP client, the Lambda client, the signing keys
/// and the header secrets' cache (cheap to clone: all are shared).
#[derive(Clone)]
pub struct Dispatcher {
    http: reqwest::Client,
    lambda: aws_sdk_lambda::Client,
    signing: SigningKeys,
    header_secrets: Option<HeaderSecrets>,
}

/// What header references may name (the patterns) and where their values are read.
#[derive(Clone)]
pub(super) struct HeaderSecrets {
    patterns: Vec<String>,
    secrets: TaggedSecrets,
}

/// How long one HTTP delivery may take, connection included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to a callback endpoint may take.
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Dispatcher {
    /// `signing_secrets` holds one or more Standard Webhooks secrets (`whsec_` and base64 key
    /// bytes), separated by commas or spaces. Each callback carries one signature per secret in
    /// its `webhook-signature` header (`v1,… v1,…`, as the spec allows), and receivers accept
    /// any one they can verify: to rotate, deploy `new,old`, move receivers to the new secret,
    /// then deploy `new`; no delivery fails in between. Unless `allow_local` (local
    /// development), host names must resolve to public addresses. See [`Dispatcher::with_signing`]
    /// for `v1a` signatures too.
    ///
    /// Errors: [`Error::Internal`] when there is no secret, a secret is not `whsec_` + base64
    /// (named by its position, never shown), or the HTTP client cannot be built.
    pub fn new(
        lambda: aws_sdk_lambda::Client,
        signing_secrets: &str,
        allow_local: bool,
    ) -> Result<Self, Error> {
        Self::with_signing(
            lambda,
            SigningKeys::default().with_secrets(signing_secrets)?,
            allow_local,
        )
    }

    /// As [`Dispatcher::new`], the secrets read from Secrets Manager through `secret` (same
    /// format: see [`crate::aws::secrets`]) when a callback is signed, so a rotated value is used
    /// once the cached one is older than its bound. A secret that cannot be read or parsed
    /// fails that delivery attempt (recorded and retried), never the function's start.
    ///
    /// Errors: [`Error::Internal`] when the HTTP client cannot be built.
    pub fn with_managed_secret(
        lambda: aws_sdk_lambda::Client,
        secret: CachedSecret,
        allow_local: bool,
    ) -> Result<Self, Error> {
        Self::with_signing(
            lambda,
            SigningKeys::default().with_managed_secrets(secret),
            allow_local,
        )
    }

    /// A dispatcher signing every HTTP callback with `signing`: `v1`, `v1a` or both.
    ///
    /// Errors: [`Error::Internal`] when `signing` holds neither secrets nor keys, or the HTTP
    /// client cannot be built.
    pub fn with_signing(
        lambda: aws_sdk_lambda::Client,
        signing: SigningKeys,
        allow_local: bool,
    ) -> Result<Self, Error> {
        if signing.schemes().is_empty() {
            return Err(Error::Internal(
                "callbacks need a signing secret or key: set CALLBACK_SIGNING_SECRET_ARN or \
                 CALLBACK_SIGNING_KEY_ARN (locally CALLBACK_SIGNING_SECRET or CALLBACK_SIGNING_KEY)"
                    .into(),
            ));
        }
        // reqwest is built without a TLS provider of its own (see the workspace manifest):
        // ring's, for the process, unless one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder();
        if !allow_local {
            http = http.dns_resolver(Arc::new(PublicOnly));
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
            signing,
            header_secrets: None,
        })
    }

    /// Lets header values name Secrets Manager secrets matching `patterns` (see
    /// [`CallbackPolicy::header_secrets`]), read through `secrets` at delivery and sent only to
    /// the hosts their [`HOST_TAG`] names. Without this, such a header fails its delivery.
    pub fn with_header_secrets(mut self, patterns: Vec<String>, secrets: TaggedSecrets) -> Self {
        self.header_secrets = Some(HeaderSecrets { patterns, secrets });
        self
    }

    /// What callbacks are signed with.
    pub fn signing(&self) -> &SigningKeys {
        &self.signing
    }

    /// The value to send for the header `name` of `target` that names `reference`: checked
    /// against the patterns again (the record may predate a change), read with its tags, and
    /// given only when its [`HOST_TAG`] names the URL's host.
    ///
    /// Errors: a message for the delivery's record, naming the header and the secret's ARN,
    /// never its value.
    async fn secret_header(
        &self,
        target: &HttpTarget,
        name: &str,
        reference: &SecretRef,
    ) -> Result<String, String> {
        let refused = |message: String| format!("header `{name}`: {message}");
        let Some(header_secrets) = &self.header_secrets else {
            return Err(refused(
                "header values from Secrets Manager are not allowed here (CALLBACK_HEADER_SECRETS is empty)"
                    .into(),
            ));
        };
        let arn = reference.secret.as_str();
        check_secret_ref(&header_secrets.patterns, arn).map_err(refused)?;
        let host =
            callback_host(&target.url).ok_or_else(|| refused("the callback URL has no host".into()))?;
        let secret = (header_secrets.secrets.read(arn).await).map_err(|e| refused(e.to_string()))?;
        let allowed = (secret.tags.get(HOST_TAG)).is_some_and(|tag| tag_allows(tag, &target.url));
        if !allowed {
            return Err(refused(format!(
                "secret {arn} may not be sent to {host}: its tag {HOST_TAG} does not name that host \
                 (the secret's owner lists the hosts its value may go to)"
            )));
        }
        check_header_value(&secret.value).map_err(|_| {
            refused(format!(
                "secret {arn} holds no valid header value (at most {MAX_TARGET_LENGTH} bytes, no line breaks)"
            ))
        })?;
        Ok(secret.value.to_string())
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
        // Header values first: a refused secret sends nothing.
        let mut headers = Vec::with_capacity(target.headers.len());
        for (name, value) in &target.headers {
            let value = match value {
                HeaderValue::Literal(value) => value.clone(),
                HeaderValue::Secret(reference) => match self.secret_header(target, name, reference).await {
                    Ok(value) => value,
                    Err(error) => return failed(None, error),
                },
            };
            headers.push((name, value));
        }
        // The wire time, also under a test clock: receivers check it against their own.
        let timestamp = Utc::now().timestamp();
        let signature = match self.signing.signature(webhook_id, timestamp, &body).await {
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
        for (name, value) in headers {
            let mut value = match reqwest::header::HeaderValue::from_str(&value) {
                Ok(value) => value,
                Err(_) => {
                    return failed(
                        None,
                        format!("header `{name}` has a value that is not a valid header value"),
                    );
                }
            };
            // Kept out of any debug output of the request.
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            // reqwest's message names the URL, query and all: never recorded or logged.
            Err(e) => return failed(None, with_causes(&e.without_url())),
        };
        let status = response.status();
        if status.is_success() {
            AttemptOutcome::Delivered {
                http_status: Some(status.as_u16()),
            }
        } else if status == reqwest::StatusCode::GONE {
            AttemptOutcome::Gone
        } else {
            // 429, 3xx and 5xx may say when to come back (RFC 9110 §10.2.3, RFC 6585 §4).
            let retry_after = response.headers().get(reqwest::header::RETRY_AFTER);
            crate::model::AttemptOutcome::refused(
                status.as_u16(),
                &status.to_string(),
                retry_after.map(|v| v.as_bytes()),
            )
        }
    }

    async fn invoke(&self, function: &str, body: Vec<u8>) -> Result<(), String> {
        // Checked at submit; a record from before that check is refused here, never sent.
        crate::model::lambda_function::FunctionRef::parse(function)?;
        self.lambda
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                crate::aws::metrics::aws_api_error("Lambda");
                crate::error::sdk_message(&e)
            })
    }
}

/// An error and the chain of its causes, `error: cause: cause` (reqwest's own message omits
/// them: "error sending request" but not "connection refused").
pub(super) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
