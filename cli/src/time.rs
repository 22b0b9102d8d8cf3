//! Timestamps as the flow record writes them (RFC 3339, UTC) and durations as a person reads
//! them (`42s`, `3m 12s`, `1h 5m`, `2d 3h`: the two largest units).

use std::time::{Duration, SystemTime};

use serde_json::Value;

/// A record's timestamp (`"2026-11-29T10:00:00.123Z"`); `None` when absent or unreadable.
pub fn parse(value: &Value) -> Option<SystemTime> {
    let text = value.as_str()?;
    humantime::parse_rfc3339(text)
        .or_else(|_| humantime::parse_rfc3339_weak(text))
        .ok()
}

/// `later - earlier`, zero when `later` is earlier (clocks differ a little).
pub fn between(earlier: SystemTime, later: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

/// A duration in its two largest units, seconds at most: `0s`, `42s`, `3m 12s`, `1h 5m`, `2d 3h`.
pub fn short(duration: Duration) -> String {
    const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let seconds = duration.as_secs();
    let Some(first) = UNITS.iter().position(|(_, size)| seconds >= *size) else {
        return "0s".into();
    };
    let (name, size) = UNITS[first];
    let mut text = format!("{}{name}", seconds / size);
    if let Some((next, next_size)) = UNITS.get(first + 1) {
        let count = seconds % size / next_size;
        if count > 0 {
            text.push_str(&format!(" {count}{next}"));
        }
    }
    text
}

/// A record's timestamp as written, to the second (`2026-11-29T10:00:00Z`).
pub fn when(value: &Value) -> String {
    match parse(value) {
        Some(time) => humantime::format_rfc3339_seconds(time).to_string(),
        None => value.as_str().unwrap_or("-").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_in_their_two_largest_units() {
        let s = Duration::from_secs;
        assert_eq!(short(s(0)), "0s");
        assert_eq!(short(Duration::from_millis(900)), "0s");
        assert_eq!(short(s(42)), "42s");
        assert_eq!(short(s(192)), "3m 12s");
        assert_eq!(short(s(180)), "3m");
        assert_eq!(short(s(3_900)), "1h 5m");
        assert_eq!(short(s(3_605)), "1h");
        assert_eq!(short(s(2 * 86_400 + 3 * 3_600 + 59)), "2d 3h");
    }

    #[test]
    fn record_timestamps_parse_with_or_without_fractions() {
        let a = parse(&json!("2026-11-29T10:00:00Z")).unwrap();
        let b = parse(&json!("2026-11-29T10:03:12.123456789Z")).unwrap();
        assert_eq!(short(between(a, b)), "3m 12s");
        assert_eq!(between(b, a), Duration::ZERO);
        assert!(parse(&json!(null)).is_none());
        assert_eq!(
            when(&json!("2026-11-29T10:03:12.123456789Z")),
            "2026-11-29T10:03:12Z"
        );
    }
}
