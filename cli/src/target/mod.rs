//! Where the functions are and how a request reaches them: direct invoke (`lambda`: a deployed
//! stack's functions by the names its outputs give, or `make up`'s `cargo lambda watch`) or the
//! stack's HTTP API (`api`: SigV4-signed HTTPS). Either way a [`Call`] is the same JSON request
//! and the answer the same JSON document; an error is [`Failure::Product`] with the functions'
//! code and message, or [`Failure::NoAnswer`].

mod api;
mod lambda;

use serde_json::{Value, json};

use crate::args::Global;
use crate::error::Failure;

/// The stack `sam deploy` creates unless told otherwise (samconfig.toml's `stack_name`).
pub const DEFAULT_STACK: &str = "emr-flows";
/// `make up`'s functions port (`EMR_FLOWS_LAMBDA_PORT`).
const DEFAULT_LOCAL_PORT: &str = "9050";

/// One request to the functions (README, "Calling it").
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// submit's request as it is.
    Submit(Value),
    /// list `{"flow_id"}`: the whole flow record.
    Flow(String),
    /// list `{"status": "active"}`.
    Active { limit: u32, next_token: Option<String> },
    /// list `{"flow"}`: one definition's history.
    History {
        flow: String,
        limit: u32,
        next_token: Option<String>,
    },
    /// list `{"definitions": true}`.
    Definitions,
    /// list `{"signing_keys": true}`.
    SigningKeys,
    /// terminate `{"flow_id", "reason"?}`.
    Terminate { flow_id: String, reason: Option<String> },
}

/// The function a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Submit,
    List,
    Terminate,
}

impl Call {
    pub fn function(&self) -> Function {
        match self {
            Self::Submit(_) => Function::Submit,
            Self::Terminate { .. } => Function::Terminate,
            _ => Function::List,
        }
    }

    /// The direct-invoke request.
    pub fn payload(&self) -> Value {
        let page = |mut request: Value, limit: &u32, next_token: &Option<String>| {
            request["limit"] = json!(limit);
            if let Some(token) = next_token {
                request["next_token"] = json!(token);
            }
            request
        };
        match self {
            Self::Submit(request) => request.clone(),
            Self::Flow(flow_id) => json!({ "flow_id": flow_id }),
            Self::Active { limit, next_token } => page(json!({"status": "active"}), limit, next_token),
            Self::History {
                flow,
                limit,
                next_token,
            } => page(json!({ "flow": flow }), limit, next_token),
            Self::Definitions => json!({"definitions": true}),
            Self::SigningKeys => json!({"signing_keys": true}),
            Self::Terminate { flow_id, reason } => {
                let mut request = json!({ "flow_id": flow_id });
                if let Some(reason) = reason {
                    request["reason"] = json!(reason);
                }
                request
            }
        }
    }

    /// The HTTP API route: method, path with its query (encoded), and body.
    pub fn route(&self) -> (&'static str, String, Option<Value>) {
        let page = |first: String, limit: &u32, next_token: &Option<String>| {
            let mut query = format!("{first}&limit={limit}");
            if let Some(token) = next_token {
                query.push_str(&format!("&next_token={}", encode(token)));
            }
            query
        };
        match self {
            Self::Submit(request) => ("POST", "/flows".into(), Some(request.clone())),
            Self::Flow(flow_id) => ("GET", format!("/flows/{}", encode(flow_id)), None),
            Self::Active { limit, next_token } => (
                "GET",
                format!("/flows?{}", page("status=active".into(), limit, next_token)),
                None,
            ),
            Self::History {
                flow,
                limit,
                next_token,
            } => (
                "GET",
                format!(
                    "/flows?{}",
                    page(format!("flow={}", encode(flow)), limit, next_token)
                ),
                None,
            ),
            Self::Definitions => ("GET", "/definitions".into(), None),
            Self::SigningKeys => ("GET", "/signing-keys".into(), None),
            Self::Terminate { flow_id, reason } => (
                "POST",
                format!("/flows/{}/terminate", encode(flow_id)),
                Some(
                    reason
                        .as_ref()
                        .map_or_else(|| json!({}), |r| json!({ "reason": r })),
                ),
            ),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a path segment or a query
/// value).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where the command line sends its calls, as the options and environment say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Where {
    Api(String),
    Stack(String),
    /// `make up`'s functions at this endpoint.
    Local(String),
}

impl Where {
    /// `--api`, `--stack`, `--local`; else `EMR_FLOWS_API`, `EMR_FLOWS_STACK`,
    /// `EMR_FLOWS_LAMBDA_URL`; else the stack [`DEFAULT_STACK`].
    pub fn resolve(global: &Global, env: impl Fn(&str) -> Option<String>) -> Self {
        let local = || {
            env("EMR_FLOWS_LAMBDA_URL").unwrap_or_else(|| {
                let port = env("EMR_FLOWS_LAMBDA_PORT").unwrap_or_else(|| DEFAULT_LOCAL_PORT.into());
                format!("http://127.0.0.1:{port}")
            })
        };
        if let Some(api) = &global.api {
            Self::Api(api.clone())
        } else if let Some(stack) = &global.stack {
            Self::Stack(stack.clone())
        } else if global.local {
            Self::Local(local())
        } else if let Some(api) = env("EMR_FLOWS_API") {
            Self::Api(api)
        } else if let Some(stack) = env("EMR_FLOWS_STACK") {
            Self::Stack(stack)
        } else if env("EMR_FLOWS_LAMBDA_URL").is_some() {
            Self::Local(local())
        } else {
            Self::Stack(DEFAULT_STACK.into())
        }
    }
}

/// The functions, reached one way or the other.
pub enum Functions {
    Lambda(lambda::Direct),
    Api(api::Http),
}

impl Functions {
    /// Connects as `global` says (see [`Where::resolve`]): loads the AWS configuration (region,
    /// profile, credentials) and, for a stack, reads the function names from its outputs.
    pub async fn connect(global: &Global) -> Result<Self, Failure> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match Where::resolve(global, env) {
            Where::Api(url) => Ok(Self::Api(api::Http::new(global, &url).await?)),
            Where::Stack(stack) => Ok(Self::Lambda(lambda::Direct::stack(global, &stack).await?)),
            Where::Local(endpoint) => Ok(Self::Lambda(lambda::Direct::local(global, &endpoint).await)),
        }
    }

    /// Sends `call` and answers the functions' JSON answer.
    pub async fn call(&self, call: &Call) -> Result<Value, Failure> {
        match self {
            Self::Lambda(direct) => direct.call(call).await,
            Self::Api(http) => http.call(call).await,
        }
    }
}

/// The SDK configuration as the AWS CLI would find it, with `--profile` and `--region`, and
/// HTTPS through rustls with ring.
async fn sdk_config(global: &Global) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https);
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &global.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(args: &[&str]) -> Global {
        use clap::Parser;
        let mut argv = vec!["emr-flows"];
        argv.extend_from_slice(args);
        argv.push("signing-keys");
        crate::args::Cli::parse_from(argv).global
    }

    #[test]
    fn options_then_environment_then_the_default_stack() {
        let none = |_: &str| None;
        let local_env =
            |name: &str| (name == "EMR_FLOWS_LAMBDA_URL").then(|| "http://127.0.0.1:7000".to_owned());
        assert_eq!(
            Where::resolve(&global(&[]), none),
            Where::Stack("emr-flows".into())
        );
        assert_eq!(
            Where::resolve(&global(&["--local"]), none),
            Where::Local("http://127.0.0.1:9050".into())
        );
        assert_eq!(
            Where::resolve(&global(&["--local"]), local_env),
            Where::Local("http://127.0.0.1:7000".into())
        );
        assert_eq!(
            Where::resolve(&global(&[]), local_env),
            Where::Local("http://127.0.0.1:7000".into())
        );
        assert_eq!(
            Where::resolve(&global(&["--stack", "prod"]), local_env),
            Where::Stack("prod".into())
        );
        assert_eq!(
            Where::resolve(&global(&["--api", "https://a.example"]), local_env),
            Where::Api("https://a.example".into())
        );
    }

    #[test]
    fn each_call_is_the_documented_request_and_route() {
        let history = Call::History {
            flow: "spark pi".into(),
            limit: 10,
            next_token: Some("01J".into()),
        };
        assert_eq!(
            history.payload(),
            json!({"flow": "spark pi", "limit": 10, "next_token": "01J"})
        );
        assert_eq!(
            history.route(),
            (
                "GET",
                "/flows?flow=spark%20pi&limit=10&next_token=01J".into(),
                None
            )
        );
        let terminate = Call::Terminate {
            flow_id: "01J".into(),
            reason: None,
        };
        assert_eq!(terminate.payload(), json!({"flow_id": "01J"}));
        assert_eq!(
            terminate.route(),
            ("POST", "/flows/01J/terminate".into(), Some(json!({})))
        );
        assert_eq!(terminate.function(), Function::Terminate);
        assert_eq!(Call::Flow("01J".into()).route().1, "/flows/01J");
        assert_eq!(Call::SigningKeys.payload(), json!({"signing_keys": true}));
    }
}
