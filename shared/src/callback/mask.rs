//! Masking: callback targets and URLs as answers and logs may show them (header values,
//! queries and credentials replaced by [`MASK`]).

use reqwest::Url;

use crate::model::{CallbackTarget, HeaderValue, HttpTarget};

/// What replaces a secret (a header value, a URL's query) in answers, logs and messages.
pub const MASK: &str = "***";

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
