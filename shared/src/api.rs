//! The functions' edge: one handler takes a direct-invoke payload or an API Gateway HTTP API
//! event (payload format 2.0, `aws_lambda_events::apigw::ApiGatewayV2httpRequest`), runs the
//! operation on the same JSON request either way, and answers the same JSON document: as the
//! function's result on direct invoke (an error is a function error whose `errorType` is
//! [`Error::code`]), or as an HTTP response on API Gateway (an error is
//! `{"error": {"code", "message", "details"?}}` with [`Error::http_status`]).
//!
//! The routes (declared in `template.yaml`, `AWS_IAM` authorization; [`request_for`] maps each
//! onto its function's request) are tabled once, in the README's "Calling it" section; a test
//! holds the template's routes to [`request_for`]'s.
//!
//! Errors are logged here, once: the caller's at WARN, the service's at ERROR. Sits above the
//! operations; the operations never import it.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::Error;

/// The largest HTTP body accepted, in bytes (after base64 decoding): a flow request must fit a
/// DynamoDB item (400 KB) with its record, so anything larger could never be accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Which function is answering: decides which routes it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `POST /flows`.
    Submit,
    /// `GET /flows`, `GET /flows/{flow_id}`, `GET /definitions`, `GET /signing-keys`.
    List,
    /// `POST /flows/{flow_id}/terminate`.
    Terminate,
    /// on-state-change: EventBridge events and direct invokes only, no routes.
    OnStateChange,
}

/// Every route of the HTTP API and the function serving it, as `template.yaml` declares them
/// (a test checks both agree).
pub const ROUTES: [(Function, &str); 6] = [
    (Function::Submit, "POST /flows"),
    (Function::List, "GET /flows"),
    (Function::List, "GET /flows/{flow_id}"),
    (Function::List, "GET /definitions"),
    (Function::List, "GET /signing-keys"),
    (Function::Terminate, "POST /flows/{flow_id}/terminate"),
];

impl Function {
    /// The binary (and `functions/` folder) of this function.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::List => "list",
            Self::Terminate => "terminate",
            Self::OnStateChange => "on-state-change",
        }
    }
}

/// How a function was invoked.
#[derive(Debug)]
pub enum Invocation {
    /// A direct invoke (or an EventBridge event, a destination record): the request itself.
    Direct(Value),
    /// An API Gateway HTTP API event.
    Http(Box<ApiGatewayV2httpRequest>),
}

impl Invocation {
    /// Tells an API Gateway HTTP API event (`"version": "2.0"` with `routeKey` and
    /// `requestContext`) from a direct payload. An API event that does not parse as one is
    /// answered 400 by [`handle`].
    pub fn classify(payload: Value) -> Result<Self, (Value, serde_json::Error)> {
        let is_http = payload.get("version").and_then(Value::as_str) == Some("2.0")
            && payload.get("routeKey").is_some()
            && payload.get("requestContext").is_some();
        if !is_http {
            return Ok(Self::Direct(payload));
        }
        match serde_json::from_value::<ApiGatewayV2httpRequest>(payload.clone()) {
            Ok(event) => Ok(Self::Http(Box::new(event))),
            Err(e) => Err((payload, e)),
        }
    }
}

/// The operation's JSON request for an HTTP API event, by its route key (`POST /flows`, …; see
/// the table above).
///
/// Errors: [`Error::Validation`] for a route this function does not serve (path `route`), a
/// body that is not a JSON object, a `limit` that is not an integer, a parameter given twice;
/// [`Error::TooLarge`] for a body over [`MAX_BODY_BYTES`].
pub fn request_for(function: Function, event: &ApiGatewayV2httpRequest) -> Result<Value, Error> {
    let route = event
        .route_key
        .as_deref()
        .or(event.request_context.route_key.as_deref())
        .unwrap_or_default();
    let flow_id = || {
        event
            .path_parameters
            .get("flow_id")
            .cloned()
            .ok_or_else(|| Error::invalid("flow_id", "is missing from the path"))
    };
    match (function, route) {
        (Function::Submit, "POST /flows") => body(event)?
            .ok_or_else(|| Error::invalid("body", "is empty; send the flow request as a JSON object")),
        (Function::List, "GET /flows") => query(event),
        (Function::List, "GET /flows/{flow_id}") => Ok(json!({ "flow_id": flow_id()? })),
        (Function::List, "GET /definitions") => Ok(json!({ "definitions": true })),
        (Function::List, "GET /signing-keys") => Ok(json!({ "signing_keys": true })),
        (Function::Terminate, "POST /flows/{flow_id}/terminate") => {
            let flow_id = flow_id()?;
            let mut request = body(event)?.unwrap_or_else(|| json!({}));
            match request.get("flow_id") {
                Some(Value::String(given)) if *given == flow_id => {}
                Some(_) => {
                    return Err(Error::invalid(
                        "flow_id",
                        "the body names another flow than the path; leave it out",
                    ));
                }
                None => request["flow_id"] = Value::String(flow_id),
            }
            Ok(request)
        }
        _ => Err(Error::invalid(
            "route",
            format!("`{}` is not served here", crate::model::bounded(route, 128)),
        )),
    }
}

/// The body as a JSON object; `None` when there is none.
fn body(event: &ApiGatewayV2httpRequest) -> Result<Option<Value>, Error> {
    let Some(text) = event.body.as_deref().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    if text.len() > MAX_BODY_BYTES * 4 / 3 + 4 {
        return Err(too_large(text.len()));
    }
    let bytes = if event.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| Error::invalid("body", format!("is not valid base64: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large(bytes.len()));
    }
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid("body", format!("is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::invalid("body", "must be a JSON object"));
    }
    Ok(Some(value))
}

fn too_large(bytes: usize) -> Error {
    Error::TooLarge(format!("the body is {bytes} bytes; at most {MAX_BODY_BYTES}"))
}

/// `GET /flows`'s query as list's request: every parameter a string, but `limit` an integer.
/// A parameter given twice is refused; an unknown one is passed on for list to name.
fn query(event: &ApiGatewayV2httpRequest) -> Result<Value, Error> {
    let mut request = Map::new();
    let raw = event.raw_query_string.as_deref().unwrap_or_default();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let name = name.into_owned();
        let value = if name == "limit" {
            let limit = value
                .parse::<i64>()
                .map_err(|_| Error::invalid("limit", format!("`{value}` is not an integer")))?;
            Value::from(limit)
        } else {
            Value::String(value.into_owned())
        };
        if request.insert(name.clone(), value).is_some() {
            return Err(Error::invalid(name, "is given more than once"));
        }
    }
    Ok(Value::Object(request))
}

/// An HTTP response carrying `document` as JSON with `status`. Error responses also carry
/// `x-amzn-errortype` (the error code), as AWS's own APIs do.
pub fn response(status: u16, document: &Value, error_code: Option<&str>) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(code) = error_code.and_then(|c| http::HeaderValue::from_str(c).ok()) {
        response.headers.insert("x-amzn-errortype", code);
    }
    response.body = Some(Body::Text(document.to_string()));
    response
}

/// The HTTP response for an operation's error: [`Error::http_status`] and
/// [`Error::to_document`].
pub fn error_response(error: &Error) -> ApiGatewayV2httpResponse {
    response(error.http_status(), &error.to_document(), Some(error.code()))
}

fn log_error(function: Function, route: Option<&str>, error: &Error) {
    let code = error.code();
    if error.is_callers() {
        tracing::warn!(?function, route, code, error = %error, "request refused");
    } else {
        tracing::error!(?function, route, code, error = %error, "request failed");
    }
}

/// Runs `operation` for one invocation of `function`: `payload` is a direct request or an API
/// Gateway HTTP API event. `budget` is the time the invocation has left, passed on.
///
/// Returns, for a direct invoke, the operation's answer or its error (a function error); for an
/// HTTP event, always `Ok` with the serialized [`ApiGatewayV2httpResponse`]: the answer with
/// 200, or the error document with its status.
pub async fn handle<F, Fut, T>(
    function: Function,
    payload: Value,
    budget: Duration,
    operation: F,
) -> Result<Value, Error>
where
    F: FnOnce(Value, Duration) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
    T: Serialize,
{
    let invocation = if function == Function::OnStateChange {
        Invocation::Direct(redriven(payload))
    } else {
        match Invocation::classify(payload) {
            Ok(invocation) => invocation,
            Err((_, e)) => {
                // serde's message names Rust types; the line and column say enough.
                let error = Error::invalid(
                    "",
                    format!(
                        "not an API Gateway HTTP API event (payload format 2.0): malformed at line {} column {}",
                        e.line(),
                        e.column()
                    ),
                );
                log_error(function, None, &error);
                return to_value(error_response(&error));
            }
        }
    };
    match invocation {
        Invocation::Direct(request) => {
            let answer = operation(request, budget).await.and_then(to_value);
            if let Err(error) = &answer {
                log_error(function, None, error);
            }
            answer
        }
        Invocation::Http(event) => {
            let route = event.route_key.clone();
            let answer = match request_for(function, &event) {
                Ok(request) => operation(request, budget).await.and_then(to_value),
                Err(error) => Err(error),
            };
            let http = match answer {
                Ok(document) => response(200, &document, None),
                Err(error) => {
                    log_error(function, route.as_deref(), &error);
                    error_response(&error)
                }
            };
            to_value(http)
        }
    }
}

/// The event inside a redriven payload: a Lambda destination record (what `FailedEventsQueue`
/// holds: `{"version": "1.0", "requestContext": {"functionArn", "condition", …},
/// "requestPayload": EVENT, "responseContext", "responsePayload"}`, AWS Lambda developer guide,
/// "Capturing records of asynchronous invocations") is its `requestPayload`; anything else
/// (an EventBridge event, also one replayed from an archive, which only adds `replay-name`) is
/// itself.
pub fn redriven(payload: Value) -> Value {
    let is_record = payload.get("requestPayload").is_some()
        && payload
            .get("requestContext")
            .is_some_and(|c| c.get("functionArn").is_some() || c.get("condition").is_some());
    match payload {
        Value::Object(mut record) if is_record => record.remove("requestPayload").unwrap_or_default(),
        other => other,
    }
}

fn to_value<T: Serialize>(value: T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("answer not serialized: {e}")))
}

/// Runs the Lambda runtime, answering every invocation with [`handle`]. Returns only when the
/// runtime stops (never, in Lambda) or fails to reach the Runtime API. Installs the metrics
/// recorder ([`crate::aws::metrics::init`]) and writes each invocation's metrics before its answer.
///
/// Errors: [`Startup`] with the runtime's message.
pub async fn serve<F, Fut, T>(function: Function, operation: F) -> Result<(), Startup>
where
    F: Fn(Value, Duration) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
    T: Serialize,
{
    let operation = &operation;
    crate::aws::metrics::init(&crate::config::stack_name());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            let budget = crate::config::time_left(event.context.deadline);
            let answer = handle(function, event.payload, budget, operation).await;
            // Before the answer: Lambda may freeze the container as soon as it has it.
            crate::aws::metrics::flush();
            answer
        },
    ))
    .await
    .map_err(|e| Startup::new(format!("the Lambda runtime stopped: {e}")))
}

/// Why a function could not start (a missing environment variable, a broken definition, an
/// unreachable runtime API). `main` returns it: it is logged at ERROR as it is made, and its
/// `Debug` is its message, so the process prints `Error: <message>`, never a Rust value.
pub struct Startup(String);

impl Startup {
    /// Logs `message` and keeps it.
    pub fn new(message: String) -> Self {
        tracing::error!(error = %message, "start-up failed");
        Self(message)
    }
}

impl From<Error> for Startup {
    fn from(error: Error) -> Self {
        Self::new(error.to_string())
    }
}

impl std::fmt::Debug for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests;
