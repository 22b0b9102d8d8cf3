//! Callbacks: who is told when a flow ends, what they are sent, and how it is signed and
//! delivered. Targets are checked against a [`CallbackPolicy`] when a flow is submitted, so a
//! target that could never be called is refused up front, not discovered at the end.
//!
//! HTTP targets get a `POST` signed per the Standard Webhooks spec
//! (<https://www.standardwebhooks.com/>, headers `webhook-id`, `webhook-timestamp`,
//! `webhook-signature`): `v1` (HMAC-SHA256, with the deployment's `whsec_` secrets) and `v1a`
//! (ed25519, with its `whsk_` signing keys), whichever are configured (see [`Signing`] and
//! [`crate::signing`]). Lambda targets get an asynchronous `Invoke` (`InvocationType=Event`)
//! with the same document as payload.
//!
//! A header value may name a Secrets Manager secret instead of holding the value
//! (`{"secret": "<ARN>"}`), read at delivery. So that a caller cannot have emr-flows send
//! someone else's secret to the caller's own endpoint (a confused deputy), such a secret must
//! (1) match one of the deployment's patterns (`CALLBACK_HEADER_SECRETS`, the same resources
//! its IAM policy allows; checked at submit and again at delivery), and (2) carry the tag
//! [`HOST_TAG`] naming the callback URL's host (checked at delivery, on the secret's tags as
//! read with its value): the secret's owner, not the caller, decides where its value may go.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Problem};
use crate::model::{AttemptOutcome, FailureCause, FlowId, FlowRecord, FlowStatus};
pub use crate::model::{CallbackTarget, HeaderValue, HttpTarget, SecretRef};
use crate::secrets::{CachedSecret, TaggedSecrets};
use crate::signing::SigningKey;

/// The tag a Secrets Manager secret named by a callback header must carry: where its value may
/// be sent, space-separated entries, each a host name or IP address (`hooks.team-a.example.com`),
/// optionally with a path prefix for hosts shared by several tenants
/// (`hooks.example.net/team-a`). A callback URL no entry allows is refused at delivery (see
/// [`tag_allows`]).
pub const HOST_TAG: &str = "emr-flows:callback-host";

/// Headers that emr-flows sets itself; a target may not override them.
const RESERVED_HEADERS: [&str; 6] = [
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
const FRAMING_HEADERS: [&str; 8] = [
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "expect",
    "content-encoding",
    "keep-alive",
    "trailer",
];

/// What replaces a secret (a header value, a URL's query) in answers, logs and messages.
pub const MASK: &str = "***";

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
fn check_header_value(value: &str) -> Result<(), String> {
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
fn may_leave_prefix(rest: &str) -> bool {
    let lower = rest.to_ascii_lowercase();
    ["%2f", "%5c", "%2e", "\\"].iter().any(|s| lower.contains(s))
        || rest
            .split('/')
            .any(|segment| matches!(segment.split(';').next(), Some(".") | Some("..")))
}

/// `url` as it may be shown: user info and query replaced by [`MASK`], fragment dropped
/// (`https://h.example/p?token=s` → `https://h.example/p?***`). Text that is not a URL is cut
/// at its first `?` or `#` and at an `@` before the path.
pub fn mask_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.has_host() => {
            let had_query = parsed.query().is_some();
            let had_user = !parsed.username().is_empty() || parsed.password().is_some();
            parsed.set_query(None);
            parsed.set_fragment(None);
            if had_user {
                let _ = parsed.set_username(MASK);
                let _ = parsed.set_password(None);
            }
            let mut shown = parsed.to_string();
            if had_query {
                shown.push('?');
                shown.push_str(MASK);
            }
            shown
        }
        _ => {
            let end = url.find(['?', '#']).unwrap_or(url.len());
            let mut shown = url[..end].to_owned();
            if let Some(at) = shown.find('@') {
                shown.replace_range(..=at, &format!("{MASK}@"));
            }
            if end < url.len() {
                shown.push('?');
                shown.push_str(MASK);
            }
            shown
        }
    }
}

/// `target` as answers and logs may show it: header values and the URL's query replaced by
/// [`MASK`], header references to Secrets Manager kept (an ARN is no secret; the value is
/// never in the record); a Lambda target unchanged (a function name is no secret).
pub fn masked(target: &CallbackTarget) -> CallbackTarget {
    match target {
        CallbackTarget::Lambda(function) => CallbackTarget::Lambda(function.clone()),
        CallbackTarget::Http(http) => CallbackTarget::Http(HttpTarget {
            url: mask_url(&http.url),
            headers: (http.headers.iter())
                .map(|(name, value)| {
                    let shown = match value {
                        HeaderValue::Literal(_) => HeaderValue::from(MASK),
                        HeaderValue::Secret(reference) => HeaderValue::Secret(reference.clone()),
                    };
                    (name.clone(), shown)
                })
                .collect(),
        }),
    }
}

/// Displays a callback target masked (see [`masked`]): `https://h.example/p?***` or
/// `lambda:NAME`. For log fields.
pub struct Shown<'a>(pub &'a CallbackTarget);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            CallbackTarget::Lambda(function) => write!(f, "lambda:{function}"),
            CallbackTarget::Http(http) => f.write_str(&mask_url(&http.url)),
        }
    }
}

/// How a special-purpose block is reachable, as IANA's registries say.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reach {
    /// "Globally Reachable: True".
    Global,
    /// "Globally Reachable: False".
    NotGlobal,
    /// The block carries an IPv4 address in bits 96..128 (NAT64, RFC 6052) or 16..48 (6to4,
    /// RFC 3056): reachable as that address is.
    Embeds { at_bit: u32 },
}

/// One registry entry: the block's first address (as an integer), its prefix length, its reach.
type Block<T> = (T, u32, Reach);

const fn v4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

const fn v6(segments: [u16; 8]) -> u128 {
    let mut n = 0u128;
    let mut i = 0;
    while i < 8 {
        n = (n << 16) | segments[i] as u128;
        i += 1;
    }
    n
}

/// The IANA IPv4 Special-Purpose Address Registry
/// (<https://www.iana.org/assignments/iana-ipv4-special-registry/>, as updated 2025), every
/// entry, with multicast (224.0.0.0/4, the IPv4 multicast registry) added: no webhook target.
/// The longest matching prefix decides; an address no entry covers is global.
///
/// Kept as this one table because no maintained crate encodes the current registries (std's
/// `is_global` is unstable; `iprfc` encodes RFC 6890 of 2013).
const IPV4_SPECIAL: [Block<u32>; 26] = {
    use Reach::*;
    [
        (v4(0, 0, 0, 0), 8, NotGlobal),          // "this network", RFC 791
        (v4(0, 0, 0, 0), 32, NotGlobal),         // "this host", RFC 1122
        (v4(10, 0, 0, 0), 8, NotGlobal),         // private-use, RFC 1918
        (v4(100, 64, 0, 0), 10, NotGlobal),      // shared address space, RFC 6598
        (v4(127, 0, 0, 0), 8, NotGlobal),        // loopback, RFC 1122
        (v4(169, 254, 0, 0), 16, NotGlobal),     // link local, RFC 3927
        (v4(172, 16, 0, 0), 12, NotGlobal),      // private-use, RFC 1918
        (v4(192, 0, 0, 0), 24, NotGlobal),       // IETF protocol assignments, RFC 6890
        (v4(192, 0, 0, 0), 29, NotGlobal),       // IPv4 service continuity prefix, RFC 7335
        (v4(192, 0, 0, 8), 32, NotGlobal),       // IPv4 dummy address, RFC 7600
        (v4(192, 0, 0, 9), 32, Global),          // port control protocol anycast, RFC 7723
        (v4(192, 0, 0, 10), 32, Global),         // TURN anycast, RFC 8155
        (v4(192, 0, 0, 170), 32, NotGlobal),     // NAT64/DNS64 discovery, RFC 8880
        (v4(192, 0, 0, 171), 32, NotGlobal),     // NAT64/DNS64 discovery, RFC 8880
        (v4(192, 0, 2, 0), 24, NotGlobal),       // documentation (TEST-NET-1), RFC 5737
        (v4(192, 31, 196, 0), 24, Global),       // AS112-v4, RFC 7535
        (v4(192, 52, 193, 0), 24, Global),       // AMT, RFC 7450
        (v4(192, 88, 99, 0), 24, NotGlobal),     // deprecated 6to4 relay anycast, RFC 7526 (N/A)
        (v4(192, 168, 0, 0), 16, NotGlobal),     // private-use, RFC 1918
        (v4(192, 175, 48, 0), 24, Global),       // direct delegation AS112 service, RFC 7534
        (v4(198, 18, 0, 0), 15, NotGlobal),      // benchmarking, RFC 2544
        (v4(198, 51, 100, 0), 24, NotGlobal),    // documentation (TEST-NET-2), RFC 5737
        (v4(203, 0, 113, 0), 24, NotGlobal),     // documentation (TEST-NET-3), RFC 5737
        (v4(224, 0, 0, 0), 4, NotGlobal),        // multicast, RFC 5771 (not in the registry)
        (v4(240, 0, 0, 0), 4, NotGlobal),        // reserved, RFC 1112
        (v4(255, 255, 255, 255), 32, NotGlobal), // limited broadcast, RFC 919
    ]
};

/// The IANA IPv6 Special-Purpose Address Registry
/// (<https://www.iana.org/assignments/iana-ipv6-special-registry/>, as updated 2025), every
/// entry. Addresses outside 2000::/3, the only block the IANA IPv6 Address Space registry
/// allocates to global unicast, are not global unless an entry says so (this covers multicast
/// ff00::/8, deprecated site-local fec0::/10 and IPv4-compatible ::/96). Entries marked "N/A"
/// that embed an IPv4 address (6to4) are as reachable as the address they embed; the others
/// ("N/A" Teredo, inside 2001::/23) are not global.
const IPV6_SPECIAL: [Block<u128>; 25] = {
    use Reach::*;
    [
        (v6([0, 0, 0, 0, 0, 0, 0, 1]), 128, NotGlobal), // loopback, RFC 4291
        (v6([0; 8]), 128, NotGlobal),                   // unspecified, RFC 4291
        (v6([0, 0, 0, 0, 0, 0xffff, 0, 0]), 96, NotGlobal), // IPv4-mapped, RFC 4291
        (v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96, Embeds { at_bit: 96 }), // IPv4-IPv6 translation, RFC 6052 (True)
        (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48, NotGlobal), // local-use IPv4/IPv6 translation, RFC 8215
        (v6([0x100, 0, 0, 0, 0, 0, 0, 0]), 64, NotGlobal),     // discard-only, RFC 6666
        (v6([0x100, 0, 0, 1, 0, 0, 0, 0]), 64, NotGlobal),     // dummy IPv6 prefix, RFC 9780
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 23, NotGlobal),    // IETF protocol assignments, RFC 2928
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32, NotGlobal),    // TEREDO, RFC 4380 (N/A)
        (v6([0x2001, 1, 0, 0, 0, 0, 0, 1]), 128, Global),      // PCP anycast, RFC 7723
        (v6([0x2001, 1, 0, 0, 0, 0, 0, 2]), 128, Global),      // TURN anycast, RFC 8155
        (v6([0x2001, 1, 0, 0, 0, 0, 0, 3]), 128, Global),      // DNS-SD SRP anycast, RFC 9665
        (v6([0x2001, 2, 0, 0, 0, 0, 0, 0]), 48, NotGlobal),    // benchmarking, RFC 5180
        (v6([0x2001, 3, 0, 0, 0, 0, 0, 0]), 32, Global),       // AMT, RFC 7450
        (v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0]), 48, Global),   // AS112-v6, RFC 7535
        (v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0]), 28, NotGlobal), // deprecated ORCHID, RFC 4843
        (v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0]), 28, Global),    // ORCHIDv2, RFC 7343
        (v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0]), 28, Global),    // drone remote ID, RFC 9374
        (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32, NotGlobal), // documentation, RFC 3849
        (v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16, Embeds { at_bit: 16 }), // 6to4, RFC 3056 (N/A)
        (v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0]), 48, Global), // direct delegation AS112, RFC 7534
        (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]), 20, NotGlobal),    // documentation, RFC 9637
        (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0]), 16, NotGlobal),    // segment routing SIDs, RFC 9602
        (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7, NotGlobal),     // unique-local, RFC 4193
        (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10, NotGlobal),    // link-local unicast, RFC 4291
    ]
};

/// The reach of the longest-prefix entry of `table` covering `address` (`bits` wide), if any.
fn lookup<T>(table: &[Block<T>], address: T, bits: u32) -> Option<Reach>
where
    T: Copy + PartialEq + std::ops::Shr<u32, Output = T>,
{
    table
        .iter()
        .filter(|(network, len, _)| *len == 0 || (address >> (bits - len)) == (*network >> (bits - len)))
        .max_by_key(|(_, len, _)| *len)
        .map(|(_, _, reach)| *reach)
}

/// Whether `function` matches `pattern` segment by segment (ARN segments are separated by
/// `:`): `*` and `?` match within one segment only, so a region wildcard cannot take in an
/// account (`arn:aws:lambda:*:123456789012:…` never matches another account's function), and a
/// pattern without a qualifier never matches a qualified ARN (`…:processor-a:alias`) by itself
/// (a Lambda target's check also matches its function without the qualifier).
fn arn_matches(pattern: &str, function: &str) -> bool {
    let patterns: Vec<_> = pattern.split(':').collect();
    let segments: Vec<_> = function.split(':').collect();
    patterns.len() == segments.len()
        && patterns
            .iter()
            .zip(&segments)
            .all(|(p, s)| wildmatch::WildMatch::new(p).matches(s))
}

/// Whether `ip` is not a globally reachable unicast address: every block IANA's IPv4 and IPv6
/// special-purpose registries mark not globally reachable ([`IPV4_SPECIAL`], [`IPV6_SPECIAL`]),
/// multicast, IPv6 outside global unicast 2000::/3, and an IPv4 address embedded in IPv6 (NAT64
/// 64:ff9b::/96, 6to4 2002::/16) judged as itself.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => lookup(&IPV4_SPECIAL, u32::from(ip), 32) == Some(Reach::NotGlobal),
        IpAddr::V6(ip) => {
            let n = u128::from(ip);
            match lookup(&IPV6_SPECIAL, n, 128) {
                Some(Reach::Global) => false,
                Some(Reach::NotGlobal) => true,
                Some(Reach::Embeds { at_bit }) => {
                    let embedded = (n >> (128 - at_bit - 32)) as u32;
                    is_local(IpAddr::V4(std::net::Ipv4Addr::from(embedded)))
                }
                // Outside 2000::/3: reserved by the IETF, multicast, site-local, compatible.
                None => (n >> 125) != 0b001,
            }
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

/// Delivers callback documents. Holds the HTTP client, the Lambda client, the signing keys
/// and the header secrets' cache (cheap to clone: all are shared).
#[derive(Clone)]
pub struct Dispatcher {
    http: reqwest::Client,
    lambda: aws_sdk_lambda::Client,
    signing: Signing,
    header_secrets: Option<HeaderSecrets>,
}

/// What header references may name (the patterns) and where their values are read.
#[derive(Clone)]
struct HeaderSecrets {
    patterns: Vec<String>,
    secrets: TaggedSecrets,
}

/// Where a list of secrets or keys comes from.
enum Source<T> {
    /// Given once (`CALLBACK_SIGNING_SECRET`, `CALLBACK_SIGNING_KEY`: local use), parsed at
    /// start-up.
    Fixed(Arc<T>),
    /// A Secrets Manager secret, read again when its cached value is older than its bound, and
    /// parsed when used.
    Managed(CachedSecret),
}

impl<T> Clone for Source<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Fixed(parsed) => Self::Fixed(parsed.clone()),
            Self::Managed(secret) => Self::Managed(secret.clone()),
        }
    }
}

/// The deployment's signing material: Standard Webhooks secrets (`v1`, HMAC-SHA256; every
/// receiver holds the secret) and ed25519 signing keys (`v1a`; receivers hold only the public
/// key, so none can sign what another receiver would accept). Each callback carries one
/// signature per secret and per key (see [`crate::signing::signature_header`]); either list
/// may be absent, not both (see [`Dispatcher::with_signing`]). Cheap to clone.
#[derive(Clone, Default)]
pub struct Signing {
    secrets: Option<Source<Vec<standardwebhooks::Webhook>>>,
    keys: Option<Source<Vec<SigningKey>>>,
}

impl Signing {
    /// Signs `v1` with `secrets`: one or more `whsec_` secrets (the prefix may be left out),
    /// separated by commas or spaces (`CALLBACK_SIGNING_SECRET`'s form).
    ///
    /// Errors: [`Error::Internal`] when there is none or one is not base64 (named by its
    /// position, never shown).
    pub fn with_secrets(mut self, secrets: &str) -> Result<Self, Error> {
        let parsed = crate::signing::parse_secrets(secrets, "CALLBACK_SIGNING_SECRET")?;
        self.secrets = Some(Source::Fixed(Arc::new(parsed)));
        Ok(self)
    }

    /// Signs `v1` with the secrets `secret` holds (same form), read when a callback is signed.
    pub fn with_managed_secrets(mut self, secret: CachedSecret) -> Self {
        self.secrets = Some(Source::Managed(secret));
        self
    }

    /// Signs `v1a` with `keys`: one or more `whsk_` ed25519 signing keys (see
    /// [`SigningKey::parse`]), separated by commas or spaces (`CALLBACK_SIGNING_KEY`'s form).
    ///
    /// Errors: [`Error::Internal`] when there is none or one does not parse (named by its
    /// position, never shown).
    pub fn with_keys(mut self, keys: &str) -> Result<Self, Error> {
        let parsed = crate::signing::parse_keys(keys, "CALLBACK_SIGNING_KEY")?;
        self.keys = Some(Source::Fixed(Arc::new(parsed)));
        Ok(self)
    }

    /// Signs `v1a` with the keys `secret` holds (same form), read when a callback is signed.
    pub fn with_managed_keys(mut self, secret: CachedSecret) -> Self {
        self.keys = Some(Source::Managed(secret));
        self
    }

    /// The signature schemes every callback carries: `v1`, `v1a`, or both (in that order).
    pub fn schemes(&self) -> Vec<&'static str> {
        let mut schemes = Vec::new();
        if self.secrets.is_some() {
            schemes.push(crate::signing::SYMMETRIC);
        }
        if self.keys.is_some() {
            schemes.push(crate::signing::ASYMMETRIC);
        }
        schemes
    }

    /// The signing secrets to use now (none when `v1` is not configured).
    ///
    /// Errors: [`Error::Upstream`] or [`Error::Internal`] from a managed secret that cannot be
    /// read or parsed.
    async fn secrets(&self) -> Result<Arc<Vec<standardwebhooks::Webhook>>, Error> {
        match &self.secrets {
            None => Ok(Arc::default()),
            Some(Source::Fixed(secrets)) => Ok(secrets.clone()),
            Some(Source::Managed(secret)) => {
                let text = secret.get().await?;
                let origin = format!("secret {}", secret.secret_id());
                Ok(Arc::new(crate::signing::parse_secrets(&text, &origin)?))
            }
        }
    }

    /// The signing keys to use now (none when `v1a` is not configured).
    ///
    /// Errors: as [`Signing::secrets`].
    async fn keys(&self) -> Result<Arc<Vec<SigningKey>>, Error> {
        match &self.keys {
            None => Ok(Arc::default()),
            Some(Source::Fixed(keys)) => Ok(keys.clone()),
            Some(Source::Managed(secret)) => {
                let text = secret.get().await?;
                let origin = format!("secret {}", secret.secret_id());
                Ok(Arc::new(crate::signing::parse_keys(&text, &origin)?))
            }
        }
    }

    /// The public keys receivers verify `v1a` with (`whpk_` + base64), one per signing key, in
    /// the order they sign; empty when `v1a` is not configured.
    ///
    /// Errors: as [`Signing::secrets`].
    pub async fn public_keys(&self) -> Result<Vec<String>, Error> {
        Ok(self.keys().await?.iter().map(SigningKey::public_key).collect())
    }

    /// The `webhook-signature` value for one callback (see
    /// [`crate::signing::signature_header`]).
    ///
    /// Errors: as [`Signing::secrets`]; [`Error::Internal`] when nothing is configured.
    pub async fn signature(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, Error> {
        let (secrets, keys) = (self.secrets().await?, self.keys().await?);
        crate::signing::signature_header(&secrets, &keys, msg_id, timestamp, body)
    }
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
            Signing::default().with_secrets(signing_secrets)?,
            allow_local,
        )
    }

    /// As [`Dispatcher::new`], the secrets read from Secrets Manager through `secret` (same
    /// format: see [`crate::secrets`]) when a callback is signed, so a rotated value is used
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
            Signing::default().with_managed_secrets(secret),
            allow_local,
        )
    }

    /// A dispatcher signing every HTTP callback with `signing`: `v1`, `v1a` or both.
    ///
    /// Errors: [`Error::Internal`] when `signing` holds neither secrets nor keys, or the HTTP
    /// client cannot be built.
    pub fn with_signing(
        lambda: aws_sdk_lambda::Client,
        signing: Signing,
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
    pub fn signing(&self) -> &Signing {
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
            crate::model::retry_after::refused(
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
                crate::metrics::aws_api_error("Lambda");
                crate::error::sdk_message(&e)
            })
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
            lambda_allow: vec!["arn:aws:lambda:*:123456789012:function:processor-*".into()],
            ..Default::default()
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
            headers: [("x-api-key".to_owned(), HeaderValue::from("a\nb"))].into(),
        });
        let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
        assert_eq!(problems[0].path, "callbacks[0].http.headers.x-api-key");
    }

    #[test]
    fn reserved_headers_cannot_be_overridden() {
        let target = CallbackTarget::Http(HttpTarget {
            url: "https://example.com".into(),
            headers: [("Webhook-Signature".to_owned(), HeaderValue::from("x"))].into(),
        });
        let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
        assert_eq!(problems[0].path, "callbacks[0].http.headers.Webhook-Signature");
    }

    #[test]
    fn every_range_iana_marks_not_globally_reachable_is_refused_and_public_neighbours_are_not() {
        // GIVEN an address in each not-globally-reachable block of both registries (first and
        // last address where it matters), and a public neighbour just outside it
        let refused = [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.0",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.0.171",
            "192.0.0.255",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:8.8.8.8",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::8.8.8.8",
            "100::1",
            "100:0:0:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "2001:1ff::1",
            "2002:7f00:1::",
            "2002:a00:1::",
            "2002:c0a8:101::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ];
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.1.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.167.255.255",
            "192.169.0.0",
            "192.175.48.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:1::1",
            "2001:1::2",
            "2001:1::3",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:30::1",
            "2001:200::1",
            "2001:db9::1",
            "2620:4f:8000::1",
            "2a00:1450::1",
        ];
        // WHEN each is judged THEN only the non-public ones are local
        for ip in refused {
            assert!(is_local(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in public {
            assert!(!is_local(ip.parse().unwrap()), "{ip} must be accepted");
        }
        // AND a URL naming one is refused at submit, while its neighbour is accepted
        let policy = CallbackPolicy::default();
        assert_eq!(
            policy.check("c", &[http("https://[64:ff9b::a00:1]/h")], 0).len(),
            1
        );
        assert!(
            policy
                .check("c", &[http("https://[64:ff9b::808:808]/h")], 0)
                .is_empty()
        );
    }

    #[test]
    fn port_zero_is_refused() {
        let problems = CallbackPolicy::default().check("c", &[http("https://example.com:0/h")], 0);
        assert!(problems[0].message.contains("port 0"), "{problems:?}");
        assert!(
            CallbackPolicy::default()
                .check("c", &[http("https://example.com:8443/h")], 0)
                .is_empty()
        );
    }

    #[test]
    fn framing_and_hop_by_hop_headers_are_refused() {
        // GIVEN a target setting each header that changes framing or the connection
        for name in [
            "Transfer-Encoding",
            "connection",
            "TE",
            "Upgrade",
            "Expect",
            "Content-Encoding",
            "Keep-Alive",
            "Proxy-Authorization",
            "proxy-connection",
            "Trailer",
        ] {
            let target = CallbackTarget::Http(HttpTarget {
                url: "https://example.com/h".into(),
                headers: [(name.to_owned(), HeaderValue::from("chunked"))].into(),
            });
            // WHEN it is checked THEN the header is refused with its path
            let problems = CallbackPolicy::default().check("callbacks", &[target], 0);
            assert_eq!(problems.len(), 1, "{name}");
            assert_eq!(problems[0].path, format!("callbacks[0].http.headers.{name}"));
        }
        // AND an ordinary header passes
        let target = CallbackTarget::Http(HttpTarget {
            url: "https://example.com/h".into(),
            headers: [("x-api-key".to_owned(), HeaderValue::from("k"))].into(),
        });
        assert!(
            CallbackPolicy::default()
                .check("callbacks", &[target], 0)
                .is_empty()
        );
    }

    #[test]
    fn masking_hides_header_values_queries_and_credentials() {
        let secret = "s3cr3t-value";
        let target = CallbackTarget::Http(HttpTarget {
            url: format!("https://u:{secret}@hooks.example.com/emr?token={secret}#frag"),
            headers: [("x-api-key".to_owned(), HeaderValue::from(secret))].into(),
        });
        let shown = serde_json::to_string(&masked(&target)).unwrap();
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("https://***@hooks.example.com/emr?***"), "{shown}");
        assert!(shown.contains(r#""x-api-key":"***""#), "{shown}");
        assert_eq!(
            Shown(&target).to_string(),
            "https://***@hooks.example.com/emr?***"
        );
        assert_eq!(mask_url(&format!("not a url?token={secret}")), "not a url?***");
        assert_eq!(mask_url("https://h.example/p"), "https://h.example/p");
        let lambda = CallbackTarget::Lambda("processor".into());
        assert_eq!(masked(&lambda), lambda);
    }

    #[test]
    fn refusal_messages_never_carry_the_query() {
        let secret = "tok-123";
        for url in [
            format!("http://hooks.example.com/emr?token={secret}"),
            format!("https://10.0.0.1/emr?token={secret}"),
            format!("https://example.com:0/?token={secret}"),
            format!("bad url?token={secret}"),
        ] {
            let problems = CallbackPolicy::default().check("c", &[http(&url)], 0);
            assert_eq!(problems.len(), 1, "{url}");
            assert!(!problems[0].message.contains(secret), "{}", problems[0].message);
        }
    }

    #[tokio::test]
    async fn a_failed_delivery_records_no_url_query_and_no_header_value() {
        // GIVEN a target on a closed local port whose URL and header carry secrets
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = CallbackTarget::Http(HttpTarget {
            url: format!("http://127.0.0.1:{port}/h?token=q-secret"),
            headers: [("x-api-key".to_owned(), HeaderValue::from("h-secret"))].into(),
        });
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let dispatcher = Dispatcher::new(
            aws_sdk_lambda::Client::new(&sdk),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=",
            true,
        )
        .unwrap();
        let document: CallbackDocument = serde_json::from_value(serde_json::json!({
            "type": "flow.ended", "flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6", "flow": "spark-pi",
            "definition_version": "1", "status": "FAILED", "params": {}, "cluster_id": null,
            "steps": [], "artifacts": {}, "submitted_at": "2026-11-29T00:00:00Z", "ended_at": null
        }))
        .unwrap();
        // WHEN it is delivered
        let outcome = dispatcher.deliver(&target, &document).await;
        // THEN the attempt failed, and its error names neither secret
        let AttemptOutcome::Failed { error, .. } = outcome else {
            panic!("a closed port cannot accept: {outcome:?}")
        };
        assert!(
            !error.contains("q-secret") && !error.contains("h-secret"),
            "{error}"
        );
        assert!(!error.is_empty());
    }

    #[tokio::test]
    async fn every_secret_of_a_rotation_signs_and_each_receiver_verifies_its_own() {
        // GIVEN a dispatcher with the new and the old secret, and a receiver of each
        let (new, old) = (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2rOPbKzpCTg=",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        );
        let (port, server) = super::secrets_tests::one_request().await;
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let dispatcher =
            Dispatcher::new(aws_sdk_lambda::Client::new(&sdk), &format!("{new}, {old}"), true).unwrap();
        let document: CallbackDocument = serde_json::from_value(serde_json::json!({
            "type": "flow.ended", "flow_id": "01JDQ3V4X8M6Z0B1C2D3E4F5G6", "flow": "spark-pi",
            "definition_version": "1", "status": "SUCCEEDED", "params": {}, "cluster_id": null,
            "steps": [], "artifacts": {}, "submitted_at": "2026-11-29T00:00:00Z", "ended_at": null
        }))
        .unwrap();
        // WHEN a callback is delivered
        let target = http(&format!("http://127.0.0.1:{port}/h"));
        let outcome = dispatcher.deliver(&target, &document).await;
        assert!(matches!(outcome, AttemptOutcome::Delivered { .. }), "{outcome:?}");
        // THEN it carries two signatures, and a receiver holding either secret verifies it
        let request = server.await.unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        let headers = super::secrets_tests::header_map(head);
        assert_eq!(
            headers["webhook-signature"].to_str().unwrap().split(' ').count(),
            2
        );
        for secret in [new, old] {
            let receiver = standardwebhooks::Webhook::new(secret).unwrap();
            receiver.verify(body.as_bytes(), &headers).unwrap();
        }
        let stranger = standardwebhooks::Webhook::new("whsec_dGhpcyBpcyBhbm90aGVyIGtleSBhdCBhbGw=").unwrap();
        assert!(stranger.verify(body.as_bytes(), &headers).is_err());
        // AND a list with a broken secret is refused without showing it
        let error = Dispatcher::new(
            aws_sdk_lambda::Client::new(&sdk),
            &format!("{new},whsec_!!not-base64!!"),
            true,
        )
        .err()
        .unwrap();
        assert!(
            error.to_string().contains("secret 2") && !error.to_string().contains("not-base64"),
            "{error}"
        );
    }
}

#[cfg(test)]
#[path = "callback_limits_tests.rs"]
mod limits_tests;

#[cfg(test)]
#[path = "callback_secrets_tests.rs"]
mod secrets_tests;
