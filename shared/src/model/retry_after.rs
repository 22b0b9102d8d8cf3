//! A receiver's `Retry-After` (RFC 9110 §10.2.3): how long it asks a client to wait before the
//! next request, as `delay-seconds` (a decimal count of seconds after the answer) or as an
//! `HTTP-date` (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms, which a
//! recipient must also accept). Servers send it with `503 Service Unavailable` and `3xx`
//! (RFC 9110 §10.2.3) and with `429 Too Many Requests` (RFC 6585 §4); Standard Webhooks
//! senders such as Svix honour it.
//!
//! A delivery honours it on a `429`, `3xx` or `5xx` answer: the next attempt is pushed to at
//! least the moment it names, but never more than [`MAX_RETRY_AFTER`] after the answer, so a
//! hostile or mistaken value cannot park a delivery for days; the number of attempts and the
//! give-up rule do not change (see [`super::delivery`]). Pure: the caller says when the answer
//! came.

use chrono::{DateTime, Duration, Utc};

/// The longest a `Retry-After` may push an attempt, after the answer that carried it: the
/// schedule's longest wait ([`super::delivery::RETRY_DELAYS`], 10 hours).
pub const MAX_RETRY_AFTER: Duration = Duration::hours(10);

/// The longest `Retry-After` text kept in an attempt's history, in bytes (an HTTP-date is 29).
pub const MAX_RETRY_AFTER_BYTES: usize = 64;

/// A parsed `Retry-After` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `delay-seconds`: this many seconds after the answer (saturating at `u64::MAX`).
    Seconds(u64),
    /// `HTTP-date`: not before this moment.
    At(DateTime<Utc>),
}

impl RetryAfter {
    /// Parses a `Retry-After` field value (surrounding whitespace ignored): `delay-seconds`
    /// (`1*DIGIT`, e.g. `90`) or an `HTTP-date` in any of RFC 9110's three forms
    /// (`Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`,
    /// `Sun Nov  6 08:49:37 1994`; parsed with the `httpdate` crate).
    ///
    /// Errors: a message saying what the value is not (never longer than
    /// [`MAX_RETRY_AFTER_BYTES`] of the value, escaped).
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim_matches([' ', '\t']);
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // A count past u64 is still "a very long time": saturate, then bound.
            return Ok(Self::Seconds(value.parse().unwrap_or(u64::MAX)));
        }
        match httpdate::parse_http_date(value) {
            Ok(at) => Ok(Self::At(DateTime::<Utc>::from(at))),
            Err(_) => Err(format!(
                "`{}` is neither a number of seconds nor an HTTP date (RFC 9110 §10.2.3)",
                shown(value)
            )),
        }
    }

    /// The moment it names for an answer received at `answered`: `answered` + the seconds, or
    /// the date (which may be past).
    pub fn moment(&self, answered: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Seconds(seconds) => {
                let seconds = i64::try_from(*seconds).unwrap_or(i64::MAX);
                // Past chrono's range is past any bound: the caller caps it anyway.
                Duration::try_seconds(seconds)
                    .and_then(|wait| answered.checked_add_signed(wait))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
            Self::At(at) => *at,
        }
    }

    /// When the next attempt may be made at the earliest, for an answer received at
    /// `answered`: [`RetryAfter::moment`], capped at `answered` + [`MAX_RETRY_AFTER`].
    pub fn not_before(&self, answered: DateTime<Utc>) -> DateTime<Utc> {
        self.moment(answered).min(answered + MAX_RETRY_AFTER)
    }
}

/// Whether a `Retry-After` on an answer with `status` is honoured: `429` (RFC 6585 §4), `3xx`
/// and `5xx` (RFC 9110 §10.2.3 names 503 and the redirections; other server errors ask for
/// patience the same way). Other `4xx` answers say the request itself is wrong: waiting longer
/// does not help.
pub fn honoured(status: u16) -> bool {
    status == 429 || (300..400).contains(&status) || (500..600).contains(&status)
}

/// `value` as records and messages may show it: control characters escaped, at most
/// [`MAX_RETRY_AFTER_BYTES`] bytes.
pub fn shown(value: &str) -> String {
    let escaped: String = (value.chars())
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    super::bounded(&escaped, MAX_RETRY_AFTER_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_cap_is_the_schedules_longest_wait() {
        let longest = crate::model::delivery::RETRY_DELAYS.iter().max();
        assert_eq!(Some(&MAX_RETRY_AFTER), longest);
    }

    #[test]
    fn delay_seconds_count_from_the_answer() {
        // GIVEN the value and its neighbours
        assert_eq!(RetryAfter::parse("90"), Ok(RetryAfter::Seconds(90)));
        assert_eq!(RetryAfter::parse(" 0 "), Ok(RetryAfter::Seconds(0)));
        // WHEN resolved for an answer at t0 THEN they count from it
        assert_eq!(
            RetryAfter::Seconds(90).not_before(t0()),
            t0() + Duration::seconds(90)
        );
        assert_eq!(RetryAfter::Seconds(0).not_before(t0()), t0());
    }

    #[test]
    fn all_three_http_date_forms_parse_to_the_same_moment() {
        let moment: DateTime<Utc> = "1994-11-06T08:49:37Z".parse().unwrap();
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(RetryAfter::parse(value), Ok(RetryAfter::At(moment)), "{value}");
        }
        // A date in the past asks for no wait at all.
        assert_eq!(RetryAfter::At(moment).not_before(t0()), moment);
    }

    #[test]
    fn a_hostile_value_is_capped_at_the_longest_wait() {
        let cap = t0() + MAX_RETRY_AFTER;
        for value in [
            "99999999999999999999999999",
            "18446744073709551615",
            "9223372036854775807",
            "31536000",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            let parsed = RetryAfter::parse(value).unwrap();
            assert_eq!(parsed.not_before(t0()), cap, "{value}");
        }
        // Just under the cap is kept as it is.
        assert_eq!(
            RetryAfter::Seconds(35_999).not_before(t0()),
            t0() + Duration::seconds(35_999)
        );
    }

    #[test]
    fn what_is_neither_seconds_nor_a_date_is_refused_with_the_reason() {
        for value in [
            "",
            "-1",
            "1.5",
            "+5",
            "90s",
            "soon",
            "0x10",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "2026-11-29T12:00:00Z",
        ] {
            let error = RetryAfter::parse(value).unwrap_err();
            assert!(
                error.contains("neither a number of seconds nor an HTTP date"),
                "{value}: {error}"
            );
        }
        // A control character is shown escaped, and a long value bounded.
        let error = RetryAfter::parse("1\n2").unwrap_err();
        assert!(error.contains("1\\n2") && !error.contains('\n'), "{error}");
        let error = RetryAfter::parse(&"x".repeat(1000)).unwrap_err();
        assert!(error.len() < 200, "{error}");
    }

    #[test]
    fn only_429_3xx_and_5xx_are_honoured() {
        for status in [429, 300, 301, 307, 399, 500, 502, 503, 599] {
            assert!(honoured(status), "{status}");
        }
        for status in [200, 204, 400, 401, 404, 409, 410, 428, 430, 499, 600, 100] {
            assert!(!honoured(status), "{status}");
        }
    }
}
