//! Submit-time callback policy: which targets may be called (addresses, schemes, Lambda
//! allow patterns, header names and values, secret references) and where a referenced secret's
//! value may go (its host tag). Every problem is named with its path.

use std::net::IpAddr;

use reqwest::Url;

use super::{address::is_local, mask::mask_url};
use crate::error::Problem;
use crate::model::{CallbackTarget, HeaderValue};

/// The tag a Secrets Manager secret named by a callback header must carry: where its value may
/// be sent, space-separated entries, each a host name or IP address (`hooks.team-a.example.com`),
/// optionally with a path prefix for hosts shared by several tenants
/// (`hooks.example.net/team-a`). A callback URL no entry allows is refused at delivery (see
/// [`tag_allows`]).
pub const HOST_TAG: &str = "emr-flows:callback-host";

/// Headers that emr-flows sets itself; a target may not override them.
pub(super) const RESERVED_HEADERS: [&str; 6] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
];

/// Headers that change how the body is framed or how the connection behaves (RFC 9110 §7.6.1,
/// RFC 9112 §6-§9): a target that sets one would make the receiver read another body than the
/// one signed. Refused at submit; `proxy-*` too.
pub(super) const FRAMING_HEADERS: [&str; 8] = [
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "expect",
    "content-encoding",
    "keep-alive",
    "trailer",
];

/// Which callback targets may be called.
#[derive(Debug, Clone, Default)]
pub struct CallbackPolicy {
    /// Allow plain `http://` and HTTPS to every non-public address (loopback, private,
    /// link-local, including the instance metadata address): for local development only, never
    /// in a deployed stack.
    pub allow_local: bool,
    /// Lambda targets must match one of these patterns (`*` and `?` wildcards), e.g.
    /// `arn:aws:lambda:eu-west-1:123456789012:function:processor-*`. Empty: none may be called.
    pub lambda_allow: Vec<String>,
    /// Secrets a header may name (`{"secret": ARN}`) must match one of these ARN patterns
    /// (`*` and `?` within one `:`-separated segment), e.g.
    /// `arn:aws:secretsmanager:eu-west-1:123456789012:secret:emr-flows/callbacks/*`. Empty:
    /// no header may name a secret.
    pub header_secrets: Vec<String>,
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
                    let mut seen = std::collections::BTreeSet::new();
                    for (name, value) in &http.headers {
                        let lower = name.to_ascii_lowercase();
                        let path = format!("{field}[{i}].http.headers.{name}");
                        if !seen.insert(lower.clone()) {
                            problems.push(Problem::new(
                                path,
                                "is given twice (header names are case-insensitive)",
                            ));
                        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
                            problems.push(Problem::new(path, "is set by emr-flows itself"));
                        } else if FRAMING_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
                            problems.push(Problem::new(
                                path,
                                "is a framing or hop-by-hop header; it would change what the receiver reads",
                            ));
                        } else if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                            problems.push(Problem::new(path, "is not a valid header name"));
                        } else {
                            match value {
                                HeaderValue::Literal(value) => {
                                    if let Err(message) = check_header_value(value) {
                                        problems.push(Problem::new(path, message));
                                    }
                                }
                                HeaderValue::Secret(reference) => {
                                    if let Err(message) =
                                        check_secret_ref(&self.header_secrets, &reference.secret)
                                    {
                                        problems.push(Problem::new(format!("{path}.secret"), message));
                                    }
                                }
                            }
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
        // Lambda's own grammar first: a name no function can have never reaches a delivery.
        let reference = crate::model::lambda_function::FunctionRef::parse(function)?;
        if self.lambda_allow.is_empty() {
            return Err("Lambda callbacks are not allowed here (CALLBACK_LAMBDA_ALLOW is empty)".into());
        }
        // A version or alias of an allowed function is allowed; a pattern may also name one.
        let matches = |p: &String| arn_matches(p, function) || arn_matches(p, reference.function);
        if self.lambda_allow.iter().any(matches) {
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
        // Messages name the URL without its query or credentials: they reach logs and callers.
        let shown = mask_url(url);
        let parsed = Url::parse(url).map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
        let local = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => is_local(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => is_local(IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.');
                d == "localhost" || d.ends_with(".localhost")
            }
            None => return Err(format!("`{shown}` has no host")),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not carry credentials; use `headers`".into());
        }
        if parsed.port() == Some(0) {
            return Err(format!("`{shown}` names port 0, which no server listens on"));
        }
        match parsed.scheme() {
            "https" if !local || self.allow_local => Ok(()),
            "https" => Err(format!(
                "`{shown}` is not a globally reachable address (IANA special-purpose registries); \
                 such targets are refused"
            )),
            "http" if local && self.allow_local => Ok(()),
            "http" => Err(format!("`{shown}` is plain http; callbacks must use https")),
            other => Err(format!("scheme `{other}` is not allowed; use https")),
        }
    }
}

/// Whether `value` may be sent as a header value: at most [`MAX_TARGET_LENGTH`] bytes, visible
/// ASCII, spaces and tabs (no line breaks). The message never shows the value.
pub(super) fn check_header_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_TARGET_LENGTH {
        Err(format!("is longer than {MAX_TARGET_LENGTH} bytes"))
    } else if !value.is_ascii() || reqwest::header::HeaderValue::from_str(value).is_err() {
        // from_str takes bytes above 0x7F (RFC 9110's obsolete obs-text); receivers disagree on
        // their meaning, so only visible ASCII, spaces and tabs.
        Err("has a value that is not a valid header value (visible ASCII, spaces and tabs)".into())
    } else {
        Ok(())
    }
}

/// Whether a header may name the secret `arn`: a full Secrets Manager secret ARN
/// (`arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`, as `DescribeSecret` answers it)
/// matching one of `patterns` segment by segment (as Lambda targets do, see [`arn_matches`]).
/// The same check runs at submit and at delivery. A message names the ARN only once it is one.
pub fn check_secret_ref(patterns: &[String], arn: &str) -> Result<(), String> {
    if arn.len() > MAX_TARGET_LENGTH {
        return Err(format!("is longer than {MAX_TARGET_LENGTH} bytes"));
    }
    let segments: Vec<_> = arn.split(':').collect();
    let name_ok = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    };
    let is_arn = matches!(
        segments.as_slice(),
        ["arn", partition, "secretsmanager", region, account, "secret", name]
            if partition.starts_with("aws")
                && !region.is_empty()
                && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && name_ok(name)
    );
    if !is_arn {
        return Err(
            "is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)".into(),
        );
    }
    if patterns.is_empty() {
        return Err(
            "header values from Secrets Manager are not allowed here (CALLBACK_HEADER_SECRETS is empty)"
                .into(),
        );
    }
    if patterns.iter().any(|p| arn_matches(p, arn)) {
        Ok(())
    } else {
        Err(format!(
            "`{arn}` matches none of the secrets callback headers may name ({})",
            patterns.join(", ")
        ))
    }
}

/// The host of `url` as [`HOST_TAG`] names it: a domain in lower case without a trailing dot,
/// an IPv4 address, or an IPv6 address without brackets (tag values cannot hold `[`).
pub fn callback_host(url: &str) -> Option<String> {
    match Url::parse(url).ok()?.host()? {
        url::Host::Domain(domain) => Some(domain.trim_end_matches('.').to_ascii_lowercase()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// Whether the [`HOST_TAG`] value `tag` lets a secret's value go to `url`: one of its
/// space-separated entries is the URL's host as [`callback_host`] writes it (case ignored), or
/// that host followed by a path that is the URL's path or a prefix of it ending at a `/`
/// (`hooks.example.net/team-a` allows `/team-a` and `/team-a/emr`, never `/team-ab`, nor a path
/// that could be read as leaving the prefix: see [`may_leave_prefix`]). Ports and schemes are
/// not compared: the owner of a host owns its ports.
pub fn tag_allows(tag: &str, url: &str) -> bool {
    let (Some(host), Ok(parsed)) = (callback_host(url), Url::parse(url)) else {
        return false;
    };
    let path = parsed.path();
    tag.split_whitespace().any(|entry| {
        let (entry_host, prefix) = match entry.find('/') {
            Some(at) => entry.split_at(at),
            None => (entry, ""),
        };
        let prefix = prefix.trim_end_matches('/');
        entry_host.trim_end_matches('.').eq_ignore_ascii_case(&host)
            && (prefix.is_empty()
                || path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/') && !may_leave_prefix(rest)))
    })
}

/// Whether the rest of a URL path after a tag's prefix could lead a server or proxy out of that
/// prefix: an encoded `/`, `\` or `.` (`/team-a/..%2Fother`, decoded by many servers before
/// routing), a literal `\`, or a `.`/`..` segment with path parameters (`/team-a/..;/other`,
/// which Java servers treat as `..`). Plain `..` segments never reach here: URL parsing
/// resolves them (WHATWG URL Standard).
pub(super) fn may_leave_prefix(rest: &str) -> bool {
    let lower = rest.to_ascii_lowercase();
    ["%2f", "%5c", "%2e", "\\"].iter().any(|s| lower.contains(s))
        || rest
            .split('/')
            .any(|segment| matches!(segment.split(';').next(), Some(".") | Some("..")))
}

/// Whether `function` matches `pattern` segment by segment (ARN segments are separated by
/// `:`): `*` and `?` match within one segment only, so a region wildcard cannot take in an
/// account (`arn:aws:lambda:*:123456789012:…` never matches another account's function), and a
/// pattern without a qualifier never matches a qualified ARN (`…:processor-a:alias`) by itself
/// (a Lambda target's check also matches its function without the qualifier).
pub(super) fn arn_matches(pattern: &str, function: &str) -> bool {
    let patterns: Vec<_> = pattern.split(':').collect();
    let segments: Vec<_> = function.split(':').collect();
    patterns.len() == segments.len()
        && patterns
            .iter()
            .zip(&segments)
            .all(|(p, s)| wildmatch::WildMatch::new(p).matches(s))
}
