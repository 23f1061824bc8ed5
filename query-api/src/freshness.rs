//! How old a price may be when it is served: never older than the cache TTL, and never older
//! than the `max_age` a client asks for. One decision, shared by every endpoint that serves
//! prices (the REST reads here, and streams).
//!
//! `max_age` is a whole number of milliseconds (`1500`) or a whole number with a unit: `ms`,
//! `s` or `m` (`500ms`, `2s`, `1m`). Empty means no limit of the client's own (the TTL); a
//! value above the TTL means the TTL. Anything else (negative, fractional, other units,
//! spaces) is refused.

use crate::params::ParamError;

/// What a price of some age is, for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Young enough to serve.
    Fresh,
    /// Within the TTL but older than the client's `max_age`: reported, not served.
    Stale,
    /// Older than the TTL: never served, whatever the client asked.
    Expired,
}

/// The age limits of one request, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    ttl_ms: u64,
    /// `min(max_age, ttl)`.
    limit_ms: u64,
}

impl Freshness {
    /// The TTL alone (no `max_age`).
    pub fn ttl(ttl_ms: u64) -> Freshness {
        Freshness {
            ttl_ms,
            limit_ms: ttl_ms,
        }
    }

    /// The TTL and a client's `max_age` (capped at the TTL).
    pub fn with_max_age(ttl_ms: u64, max_age_ms: Option<u64>) -> Freshness {
        Freshness {
            ttl_ms,
            limit_ms: max_age_ms.map_or(ttl_ms, |m| m.min(ttl_ms)),
        }
    }

    /// The verdict on a price `age_ms` old.
    pub fn judge(self, age_ms: u64) -> Verdict {
        if age_ms > self.ttl_ms {
            Verdict::Expired
        } else if age_ms > self.limit_ms {
            Verdict::Stale
        } else {
            Verdict::Fresh
        }
    }

    /// The oldest age served.
    pub fn limit_ms(self) -> u64 {
        self.limit_ms
    }
}

/// Parses a `max_age` value (see the module documentation); `None` when empty. Values too
/// large for a `u64` of milliseconds saturate (they are above any TTL anyway).
pub fn parse_max_age(text: &str) -> Result<Option<u64>, ParamError> {
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = || ParamError::MaxAge(text.to_owned());
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(invalid());
    }
    let scale: u64 = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return Err(invalid()),
    };
    // Only digits: the one possible failure is overflow.
    let value = digits.parse::<u64>().unwrap_or(u64::MAX);
    Ok(Some(value.saturating_mul(scale)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        for (text, ms) in [
            ("0", 0),
            ("1500", 1500),
            ("500ms", 500),
            ("2s", 2000),
            ("1m", 60_000),
            ("007s", 7000),
            ("99999999999999999999999", u64::MAX),
            ("99999999999999999m", u64::MAX),
        ] {
            assert_eq!(parse_max_age(text), Ok(Some(ms)), "{text}");
        }
        assert_eq!(parse_max_age(""), Ok(None));
    }

    #[test]
    fn refused_forms() {
        for text in [
            "-1", "-5s", "1.5s", "2 s", " 2s", "s", "ms", "2h", "2S", "abc", "1e3", "+5", "0x10",
        ] {
            assert_eq!(
                parse_max_age(text),
                Err(ParamError::MaxAge(text.to_owned())),
                "{text}"
            );
        }
    }

    #[test]
    fn max_age_narrows_the_ttl_and_never_widens_it() {
        let f = Freshness::with_max_age(30_000, Some(2_000));
        assert_eq!(f.judge(2_000), Verdict::Fresh);
        assert_eq!(f.judge(2_001), Verdict::Stale);
        assert_eq!(f.judge(30_001), Verdict::Expired);
        let wide = Freshness::with_max_age(30_000, Some(u64::MAX));
        assert_eq!(wide, Freshness::ttl(30_000));
        assert_eq!(wide.judge(30_000), Verdict::Fresh);
        assert_eq!(wide.judge(30_001), Verdict::Expired);
        assert_eq!(
            Freshness::with_max_age(30_000, Some(0)).judge(1),
            Verdict::Stale
        );
    }
}
