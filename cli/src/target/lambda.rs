//! Direct invoke (Lambda `Invoke`, synchronous): a deployed stack's functions, named by its
//! outputs `SubmitFunctionName`, `ListFunctionName` and `TerminateFunctionName`, or `make up`'s
//! `cargo lambda watch`, which serves them under their folder names.

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;

use super::{Call, Function, sdk_config};
use crate::args::Global;
use crate::error::Failure;

pub struct Direct {
    client: aws_sdk_lambda::Client,
    submit: String,
    list: String,
    terminate: String,
}

impl Direct {
    /// The functions of `stack`, by the names its outputs give.
    pub async fn stack(global: &Global, stack: &str) -> Result<Self, Failure> {
        let sdk = sdk_config(global).await;
        if sdk.region().is_none() {
            return Err(Failure::NoAnswer(format!(
                "no AWS region for the stack {stack}: pass --region or set AWS_REGION (or the profile's region)"
            )));
        }
        let described = aws_sdk_cloudformation::Client::new(&sdk)
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| {
                Failure::NoAnswer(format!(
                    "reading the outputs of the stack {stack}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                ))
            })?;
        let outputs = described
            .stacks()
            .first()
            .map(|s| s.outputs())
            .unwrap_or_default();
        let output = |key: &str| {
            (outputs.iter())
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .map(str::to_owned)
                .ok_or_else(|| {
                    Failure::NoAnswer(format!(
                        "the stack {stack} has no output {key}: is it an emr-flows stack? (--api URL \
                         reaches one through its HTTP API)"
                    ))
                })
        };
        Ok(Self {
            client: aws_sdk_lambda::Client::new(&sdk),
            submit: output("SubmitFunctionName")?,
            list: output("ListFunctionName")?,
            terminate: output("TerminateFunctionName")?,
        })
    }

    /// `make up`'s functions at `endpoint`: its dummy credentials and region unless given, and
    /// one attempt per call (`cargo lambda watch` answers a function error with HTTP 500,
    /// which the SDK would otherwise retry).
    pub async fn local(global: &Global, endpoint: &str) -> Self {
        let sdk = sdk_config(global).await;
        let mut config = aws_sdk_lambda::config::Builder::from(&sdk)
            .endpoint_url(endpoint)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if global.profile.is_none() {
            config = config.credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "testing", "testing", None, None, "local",
            ));
        }
        if global.region.is_none() {
            config = config.region(aws_config::Region::new("us-east-1"));
        }
        Self {
            client: aws_sdk_lambda::Client::from_conf(config.build()),
            submit: "submit".into(),
            list: "list".into(),
            terminate: "terminate".into(),
        }
    }

    pub async fn call(&self, call: &Call) -> Result<Value, Failure> {
        let name = match call.function() {
            Function::Submit => &self.submit,
            Function::List => &self.list,
            Function::Terminate => &self.terminate,
        };
        let payload = serde_json::to_vec(&call.payload()).expect("a JSON value serializes");
        let result = self
            .client
            .invoke()
            .function_name(name)
            .payload(Blob::new(payload))
            .send()
            .await;
        match result {
            Ok(output) => {
                let bytes = output.payload().map_or(&b"null"[..], |b| b.as_ref());
                let answer: Value = serde_json::from_slice(bytes).map_err(|e| {
                    Failure::NoAnswer(format!("{name} answered something that is not JSON: {e}"))
                })?;
                if let Some(kind) = output.function_error() {
                    return Err(Failure::from_document(&answer)
                        .unwrap_or_else(|| Failure::NoAnswer(format!("{name} failed ({kind}): {answer}"))));
                }
                Ok(answer)
            }
            Err(error) => {
                // cargo lambda watch answers a function error with HTTP 500 and the document.
                let document = (error.raw_response())
                    .and_then(|r| r.body().bytes())
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok());
                if let Some(failure) = document.as_ref().and_then(Failure::from_document) {
                    return Err(failure);
                }
                Err(Failure::NoAnswer(format!(
                    "invoking {name}: {}",
                    DisplayErrorContext(&error)
                )))
            }
        }
    }
}
