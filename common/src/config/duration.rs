//! Durations written with a unit (`300ms`, `30s`, `1h30m`), as in the seed's Go syntax; use
//! `#[serde(with = "common::config::duration")]` on `std::time::Duration` fields.
//! A bare number is refused: `CACHE_TTL=30` could mean seconds or nanoseconds (the seed
//! silently took nanoseconds), so the operator is asked to say which.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Formats a duration the way it is written in configuration (`30s`, `1m 30s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Parses a duration with a unit.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "duration {text:?} has no unit: write e.g. {text}s or {text}ms"
        ));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 500ms, 30s, 5m, 1h30m"))
}

/// Serde `serialize` for `#[serde(with = "common::config::duration")]` fields.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// Serde `deserialize` for `#[serde(with = "common::config::duration")]` fields.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration with a unit, e.g. 30s")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "duration {v} has no unit: write e.g. {v}s or {v}ms"
        )))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "duration {v} has no unit: write e.g. {v}s or {v}ms"
        )))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "duration {v} has no unit: write e.g. {v}s or {v}ms"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_durations_parse() {
        for (text, want) in [
            ("300ms", Duration::from_millis(300)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("250us", Duration::from_micros(250)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
            assert_eq!(parse(&format_duration(want)), Ok(want));
        }
    }

    #[test]
    fn durations_without_units_or_garbage_are_refused_with_advice() {
        let err = parse("30").expect_err("no unit");
        assert!(err.contains("has no unit") && err.contains("30s"), "{err}");
        for bad in ["abc", "30 parsecs", "30s@#$", "", "-5s"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
