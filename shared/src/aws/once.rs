//! Calls that start a run and carry no idempotency the service honours for us (RunJobFlow,
//! AddJobFlowSteps; StartJobRun, whose token the caller still must not lean on blindly): sent
//! as checked, byte for byte, and sent again only when the service throttled them (nothing ran);
//! after any unclear failure the caller searches instead of sending again.

use std::future::Future;
use std::time::Duration;

use aws_sdk_emr::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_emr::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_emr::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_smithy_types::body::SdkBody;

/// How many times a throttled call is sent in all.
pub const TRIES: usize = 4;

/// What came of a call [`send_once`] sent.
#[derive(Debug)]
pub enum Sent<T> {
    /// The service answered.
    Answered(T),
    /// The service refused it (an answer below 500 other than throttling, or a request that
    /// was never sent): nothing runs. EMR's `code: message`.
    Refused(String),
    /// It may or may not have been applied (a 5xx, a timeout, a lost answer): only a search
    /// tells.
    Unknown(String),
}

/// What a StartJobRun came to (EMR Serverless, EMR on EKS): `Id` is the service's job run id.
#[derive(Debug, Clone, PartialEq)]
pub enum Start<Id> {
    /// The service started the job run.
    Started(Id),
    /// The service refused the request (`ValidationException: …`): nothing runs.
    Refused(String),
    /// The answer was lost (timeout, dropped connection, server error): the run may exist.
    Unknown(String),
}

/// Sends the call `send` makes, again after a jittered wait (200 ms to 2 s) only while the
/// service answers with a throttling code, at most [`TRIES`] times in all. `service` names it
/// in the AWS API error metric, `operation` in the log. `send` must build the request afresh
/// with the SDK's own retries off.
pub async fn send_once<T, E, F, Fut>(service: &'static str, operation: &'static str, mut send: F) -> Sent<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut waits = backon::BackoffBuilder::build(
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(TRIES - 1)
            .with_jitter(),
    );
    loop {
        let error = match send().await {
            Ok(answer) => return Sent::Answered(answer),
            Err(e) => e,
        };
        let message = crate::error::sdk_message(&error);
        crate::aws::metrics::aws_api_error(service);
        match &error {
            SdkError::ServiceError(e) if e.raw().status().as_u16() < 500 => {
                if is_throttling(e.err().code())
                    && let Some(wait) = waits.next()
                {
                    tracing::warn!(?wait, operation, "throttled; sending it again");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Sent::Refused(message);
            }
            // Never sent: nothing can run.
            SdkError::ConstructionFailure(_) => return Sent::Refused(message),
            _ => return Sent::Unknown(message),
        }
    }
}

/// Whether an error code is one of the AWS throttling codes (the request was not applied).
pub(crate) fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded")
    )
}

/// Replaces the serialized request body with the checked API-shape document (RunJobFlow,
/// AddJobFlowSteps, EMR Serverless' StartJobRun: the interceptor trait is the smithy
/// runtime's, shared by the SDKs).
#[derive(Debug)]
pub(crate) struct ExactBody(pub(crate) Vec<u8>);

impl Intercept for ExactBody {
    fn name(&self) -> &'static str {
        "ExactRequestBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        request
            .headers_mut()
            .insert("content-length", self.0.len().to_string());
        *request.body_mut() = SdkBody::from(self.0.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_codes_are_sent_again() {
        for code in [
            "ThrottlingException",
            "Throttling",
            "TooManyRequestsException",
            "RequestLimitExceeded",
        ] {
            assert!(is_throttling(Some(code)), "{code}");
        }
        for code in [
            None,
            Some("ValidationException"),
            Some("InternalServerError"),
            Some(""),
        ] {
            assert!(!is_throttling(code), "{code:?}");
        }
    }
}
