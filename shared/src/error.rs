//! The one error type every operation returns, and its mapping to what callers see: a Lambda
//! function error whose `errorType` is [`Error::code`] on direct invoke, and
//! `{"error": {"code", "message", "details"?}}` with [`Error::http_status`] on API Gateway.

use std::fmt;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

/// One problem in a caller's input: where (a path such as `params.partitions` or
/// `callbacks[0].http.url`) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl Problem {
    /// The problem a path-tracking deserializer found, its path under `prefix` (`""` for the
    /// request itself, `detail`, `steps[0]`).
    pub fn from_serde(prefix: &str, error: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = error.path().to_string();
        let path = match (prefix, path.as_str()) {
            (_, ".") => prefix.to_owned(),
            ("", path) => path.to_owned(),
            (prefix, path) => format!("{prefix}.{path}"),
        };
        Self::new(path, plain_words(&error.into_inner().to_string()))
    }
}

/// A deserializer's message in the caller's words: serde names Rust types (`expected u64`,
/// `expected struct HttpTarget`, `untagged enum CallbackTarget`); callers know JSON.
fn plain_words(message: &str) -> String {
    if message.starts_with("data did not match any variant of untagged enum") {
        return "matches none of the allowed forms".to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut words = message.split(' ');
    while let Some(word) = words.next() {
        let (core, trail) = word.split_at(word.trim_end_matches([',', '.', ';', ')']).len());
        let plain = match core {
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
            | "usize" => Some("an integer".to_owned()),
            "f32" | "f64" => Some("a number".to_owned()),
            "struct" | "enum" => {
                // `struct Name` / `enum Name` / `untagged enum Name`: the type's name goes too.
                let name = words.next().unwrap_or_default();
                let trail = &name[name.trim_end_matches([',', '.', ';', ')']).len()..];
                Some(format!(
                    "{}{trail}",
                    if core == "struct" {
                        "an object"
                    } else {
                        "one of the allowed forms"
                    }
                ))
            }
            _ => None,
        };
        if !out.is_empty() {
            out.push(' ');
        }
        match plain {
            Some(p) if matches!(core, "struct" | "enum") => out.push_str(&p),
            Some(p) => {
                out.push_str(&p);
                out.push_str(trail);
            }
            None => out.push_str(word),
        }
    }
    out
}

/// `; did you mean `X`?` for the candidate nearest to `word` (Damerau-Levenshtein distance,
/// from `strsim`; see [`nearest`]), or `""` when none is near.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(word, candidates, 1)
        .first()
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Up to `n` of `candidates` nearest to `word`, nearest first: at most a third of its letters
/// (at least one) changed, swapped, added or dropped, ignoring case, or one a prefix of the
/// other.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let lower = word.to_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let other = c.to_lowercase();
            let edits = strsim::damerau_levenshtein(&lower, &other);
            let near = edits <= (lower.chars().count() / 3).max(1)
                || (!lower.is_empty() && (other.starts_with(&lower) || lower.starts_with(&other)));
            (strsim::normalized_damerau_levenshtein(&lower, &other), c, near)
        })
        .filter(|(_, _, near)| *near)
        .map(|(score, c, _)| (score, c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// What went wrong, by who must act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is wrong; every problem found is listed. Nothing was written.
    #[error("invalid request: {}", join(.0))]
    Validation(Vec<Problem>),
    /// No flow definition has that name; `suggestions` are the nearest names (maybe none).
    #[error(
        "no flow definition is named `{name}`{}; list with {{\"definitions\": true}} names every definition",
        suggest(.suggestions)
    )]
    UnknownFlowDefinition { name: String, suggestions: Vec<String> },
    /// No flow has that id.
    #[error("no flow has id `{0}`")]
    FlowNotFound(String),
    /// The request conflicts with the flow's current state.
    #[error("{0}")]
    Conflict(String),
    /// A flow definition in the catalog is broken (a bug in the deployment, not the caller's).
    #[error("flow definition `{name}` is invalid: {}", join(.problems))]
    Definition { name: String, problems: Vec<Problem> },
    /// The request is larger than the named limit (an HTTP body, in bytes).
    #[error("{0}")]
    TooLarge(String),
    /// An AWS service (EMR, DynamoDB, Lambda) refused or failed a call.
    #[error("{service} {operation} failed: {message}")]
    Upstream {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// A bug or broken environment.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What an AWS SDK error says: the service's code and message when it answered one
/// (`ValidationException: …`), else the chain of causes; never the raw HTTP response.
pub fn sdk_message<E>(error: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(error).to_string(),
    }
}

fn suggest(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        more => format!(
            "; did you mean one of {}?",
            more.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A validation error with one problem.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![Problem::new(path, message)])
    }

    /// A mapper from an AWS SDK error to [`Error::Upstream`], keeping the SDK's whole context
    /// (service error code and message, or the transport failure).
    ///
    /// The message is the service's own error code and message when it answered one
    /// (`ValidationException: …`), else the whole chain of causes (a timeout, a refused
    /// connection); never the raw HTTP response.
    pub fn upstream<E>(service: &'static str, operation: &'static str) -> impl FnOnce(E) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        move |e| Self::Upstream {
            service,
            operation,
            message: sdk_message(&e),
        }
    }

    /// The stable error code: the Lambda `errorType` and the API's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationError",
            Self::UnknownFlowDefinition { .. } => "UnknownFlowDefinition",
            Self::FlowNotFound(_) => "FlowNotFound",
            Self::Conflict(_) => "Conflict",
            Self::TooLarge(_) => "PayloadTooLarge",
            Self::Definition { .. } => "DefinitionError",
            Self::Upstream { .. } => "UpstreamError",
            Self::Internal(_) => "InternalError",
        }
    }

    /// Whether the caller must act (bad input, an unknown name, a conflict, too large): logged at
    /// WARN; the others (upstream, definition, internal) are the service's and logged at ERROR.
    pub fn is_callers(&self) -> bool {
        matches!(
            self,
            Self::Validation(_)
                | Self::UnknownFlowDefinition { .. }
                | Self::FlowNotFound(_)
                | Self::Conflict(_)
                | Self::TooLarge(_)
        )
    }

    /// The HTTP status API Gateway answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Validation(_) => 400,
            Self::UnknownFlowDefinition { .. } | Self::FlowNotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::TooLarge(_) => 413,
            Self::Upstream { .. } => 502,
            Self::Definition { .. } | Self::Internal(_) => 500,
        }
    }

    /// The error document: `{"error": {"code", "message", "details"?}}`; `details` lists the
    /// problems of a validation or definition error.
    pub fn to_document(&self) -> serde_json::Value {
        let details = match self {
            Self::Validation(problems) | Self::Definition { problems, .. } => Some(problems),
            _ => None,
        };
        let mut error = serde_json::json!({"code": self.code(), "message": self.to_string()});
        if let Some(details) = details {
            error["details"] = serde_json::json!(details);
        }
        serde_json::json!({ "error": error })
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        Self {
            error_type: error.code().to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializer_paths_join_their_prefix() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            name: String,
            inner: Option<Box<Shape>>,
        }
        let problem = |prefix: &str, json: &str| {
            let de = &mut serde_json::Deserializer::from_str(json);
            Problem::from_serde(
                prefix,
                serde_path_to_error::deserialize::<_, Shape>(de).unwrap_err(),
            )
        };
        assert_eq!(problem("", "{}").path, "");
        assert_eq!(problem("detail", "{}").path, "detail");
        assert_eq!(
            problem("steps[0]", r#"{"name": "a", "inner": {}}"#).path,
            "steps[0].inner"
        );
        assert_eq!(problem("", r#"{"name": 1}"#).path, "name");
    }

    #[test]
    fn deserializer_messages_name_no_rust_types() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Request {
            limit: Option<i32>,
            target: Option<Target>,
            either: Option<Either>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Target {
            url: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum Either {
            A(u64),
            B(Target),
        }
        let message = |json: &str| {
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            Problem::from_serde(
                "",
                serde_path_to_error::deserialize::<_, Request>(value).unwrap_err(),
            )
            .message
        };
        assert_eq!(
            message(r#"{"limit": "x"}"#),
            "invalid type: string \"x\", expected an integer"
        );
        assert_eq!(
            message(r#"{"target": 5}"#),
            "invalid type: integer `5`, expected an object"
        );
        assert_eq!(message(r#"{"either": "x"}"#), "matches none of the allowed forms");
    }

    #[test]
    fn validation_errors_list_every_problem_with_its_path() {
        let err = Error::Validation(vec![
            Problem::new("params.partitions", "0 is less than the minimum of 1"),
            Problem::new("callbacks[0].http.url", "must be https"),
        ]);
        assert_eq!(err.code(), "ValidationError");
        assert_eq!(err.http_status(), 400);
        assert_eq!(
            err.to_string(),
            "invalid request: params.partitions: 0 is less than the minimum of 1; \
             callbacks[0].http.url: must be https"
        );
        let doc = err.to_document();
        assert_eq!(doc["error"]["details"][1]["path"], "callbacks[0].http.url");
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "ValidationError");
    }

    #[test]
    fn every_error_has_one_status_and_code() {
        let cases = [
            (Error::invalid("a", "b"), 400, "ValidationError", true),
            (
                Error::UnknownFlowDefinition {
                    name: "x".into(),
                    suggestions: vec![],
                },
                404,
                "UnknownFlowDefinition",
                true,
            ),
            (Error::FlowNotFound("x".into()), 404, "FlowNotFound", true),
            (Error::Conflict("x".into()), 409, "Conflict", true),
            (Error::TooLarge("x".into()), 413, "PayloadTooLarge", true),
            (
                Error::Upstream {
                    service: "EMR",
                    operation: "RunJobFlow",
                    message: "x".into(),
                },
                502,
                "UpstreamError",
                false,
            ),
            (Error::Internal("x".into()), 500, "InternalError", false),
        ];
        for (error, status, code, callers) in cases {
            assert_eq!(
                (error.http_status(), error.code(), error.is_callers()),
                (status, code, callers)
            );
            assert_eq!(error.to_document()["error"]["code"], code);
        }
    }
}
