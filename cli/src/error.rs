//! What can go wrong, and the exit status each kind maps to (the table is `args::EXIT_CODES`).

use std::fmt;

use serde_json::{Value, json};

/// Exit statuses (documented in `--help` and the README).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CANCELLED: u8 = 3;
    pub const TIMED_OUT: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const NO_ANSWER: u8 = 6;
    pub const INTERRUPTED: u8 = 130;
}

/// The error codes the functions give a caller's mistakes (README, "Errors"); any other code is
/// the service's.
const CALLERS: [&str; 5] = [
    "ValidationError",
    "UnknownFlowDefinition",
    "FlowNotFound",
    "Conflict",
    "PayloadTooLarge",
];

#[derive(Debug)]
pub enum Failure {
    /// A bad option or argument that clap could not see (a `-p` without `=`, a params file).
    Usage(String),
    /// The functions answered an error document: `code` (`errorType`, or the API's
    /// `error.code`), the message naming each problem with its path, and `details` if any.
    Product {
        code: String,
        message: String,
        details: Option<Value>,
    },
    /// No answer from the functions: unreachable, credentials, the stack, an HTTP error without
    /// an error document, an answer that is not JSON.
    NoAnswer(String),
    /// Ctrl-C while following this flow (which goes on).
    Interrupted(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Product { code, .. } if CALLERS.contains(&code.as_str()) => exit::REFUSED,
            Self::Product { .. } | Self::NoAnswer(_) => exit::NO_ANSWER,
            Self::Interrupted(_) => exit::INTERRUPTED,
        }
    }

    /// The error as `--json` prints it: the HTTP API's error document, with our own codes
    /// `Usage` and `NoAnswer` for errors that are not the functions'.
    pub fn to_document(&self) -> Value {
        match self {
            Self::Usage(message) => json!({"error": {"code": "Usage", "message": message}}),
            Self::NoAnswer(message) => json!({"error": {"code": "NoAnswer", "message": message}}),
            Self::Interrupted(_) => json!({"error": {"code": "Interrupted", "message": self.to_string()}}),
            Self::Product {
                code,
                message,
                details,
            } => {
                let mut error = json!({"code": code, "message": message});
                if let Some(details) = details {
                    error["details"] = details.clone();
                }
                json!({ "error": error })
            }
        }
    }

    /// The product's error from a function error document (`{"errorType", "errorMessage"}`) or
    /// the HTTP API's (`{"error": {"code", "message", "details"?}}`); `None` for anything else.
    pub fn from_document(document: &Value) -> Option<Self> {
        if let Some(code) = document.get("errorType").and_then(Value::as_str) {
            let message = document["errorMessage"].as_str().unwrap_or_default();
            return Some(Self::Product {
                code: code.to_owned(),
                message: message.to_owned(),
                details: None,
            });
        }
        let error = document.get("error")?;
        Some(Self::Product {
            code: error.get("code")?.as_str()?.to_owned(),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
            details: error.get("details").filter(|d| !d.is_null()).cloned(),
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) | Self::NoAnswer(message) => f.write_str(message),
            Self::Interrupted(flow_id) => write!(
                f,
                "stopped following; the flow goes on (`emr-flows watch {flow_id}` follows it again)"
            ),
            Self::Product {
                code,
                message,
                details,
            } => {
                write!(f, "{code}: {message}")?;
                if let Some(details) = details {
                    write!(f, " ({details})")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_errors_are_refusals_and_the_rest_no_answer() {
        let error = |document: Value| Failure::from_document(&document).unwrap();
        let direct = error(
            json!({"errorType": "ValidationError", "errorMessage": "invalid request: params.partitions: …"}),
        );
        assert_eq!(direct.exit_code(), exit::REFUSED);
        assert_eq!(
            direct.to_string(),
            "ValidationError: invalid request: params.partitions: …"
        );
        let api = error(json!({"error": {"code": "FlowNotFound", "message": "no flow x"}}));
        assert_eq!(api.exit_code(), exit::REFUSED);
        let upstream = error(json!({"error": {"code": "UpstreamError", "message": "EMR refused"}}));
        assert_eq!(upstream.exit_code(), exit::NO_ANSWER);
        assert!(Failure::from_document(&json!({"message": "Forbidden"})).is_none());
        assert_eq!(Failure::Usage("x".into()).exit_code(), exit::USAGE);
        assert_eq!(
            api.to_document(),
            json!({"error": {"code": "FlowNotFound", "message": "no flow x"}})
        );
    }
}
