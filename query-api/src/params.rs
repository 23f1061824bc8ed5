//! The `pair` / `pairs` query parameter: found in the raw query string, decoded strictly, and
//! parsed with the seed's rules and messages.
//!
//! Rules: only the first occurrence counts; empty means every configured pair; elements are
//! comma separated, trimmed, case-insensitive, empty ones skipped; the first bad element fails
//! the request with 400. Unlike the seed, duplicates are answered once, and malformed
//! percent-encoding or invalid UTF-8 is a 400 rather than silently ignored.

use std::borrow::Cow;

use common::Pair;

/// Why a pair list was refused; `Display` is the client-facing message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// An element without `/`.
    #[error("invalid pair format: {0} (expected BASE/QUOTE)")]
    Format(String),
    /// Not one of the configured pairs (shown upper-cased).
    #[error("unsupported pair: {0} (supported pairs: {1})")]
    Unsupported(String, String),
    /// Only commas and spaces.
    #[error("no valid pairs provided")]
    Empty,
    /// More elements than `limits.max_pairs`.
    #[error("too many pairs: {0} (maximum {1})")]
    TooMany(usize, usize),
    /// Bad `%` escape or not UTF-8 once decoded.
    #[error("invalid encoding in query parameter {0}")]
    Encoding(&'static str),
}

/// The pairs a deployment serves, with what the parser needs precomputed.
#[derive(Debug, Clone)]
pub struct Served {
    /// In configuration order.
    pub pairs: Vec<Pair>,
    /// Sorted by name (the order of a 200 answer).
    pub sorted: Vec<Pair>,
    /// Bit `i` set when the pair of index `i` is served.
    mask: u128,
    /// `A,B,C` as configured, for messages.
    list: String,
}

impl Served {
    /// From the configured pairs (already validated and de-duplicated).
    pub fn new(pairs: Vec<Pair>) -> Served {
        assert!(
            Pair::all().len() <= 128,
            "market table outgrew the pair bit set"
        );
        let mut sorted = pairs.clone();
        sorted.sort();
        Served {
            mask: pairs.iter().fold(0, |m, p| m | bit(*p)),
            list: pairs
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            pairs,
            sorted,
        }
    }

    /// Whether `pair` is served.
    pub fn contains(&self, pair: Pair) -> bool {
        self.mask & bit(pair) != 0
    }

    /// Parses a parameter value. `None` (absent) or empty gives every served pair, sorted;
    /// otherwise the distinct pairs in request order.
    pub fn parse(&self, value: Option<&str>, max: usize) -> Result<Vec<Pair>, ParamError> {
        let value = value.unwrap_or("");
        if value.is_empty() {
            return Ok(self.sorted.clone());
        }
        // Counting first bounds the work done for a hostile 10,000-element list.
        let elements = value.split(',').filter(|e| !e.trim().is_empty()).count();
        if elements > max {
            return Err(ParamError::TooMany(elements, max));
        }
        let mut seen = 0u128;
        let mut pairs = Vec::with_capacity(elements);
        for element in value.split(',') {
            let element = element.trim();
            if element.is_empty() {
                continue;
            }
            if !element.contains('/') {
                return Err(ParamError::Format(element.to_owned()));
            }
            let pair = lookup(element)
                .filter(|p| self.contains(*p))
                .ok_or_else(|| {
                    ParamError::Unsupported(element.to_uppercase(), self.list.clone())
                })?;
            if seen & bit(pair) == 0 {
                seen |= bit(pair);
                pairs.push(pair);
            }
        }
        if pairs.is_empty() {
            return Err(ParamError::Empty);
        }
        Ok(pairs)
    }
}

fn bit(pair: Pair) -> u128 {
    1 << pair.index()
}

/// Case-insensitive exact lookup, without allocating for the usual short ASCII names.
fn lookup(element: &str) -> Option<Pair> {
    let mut buf = [0u8; 32];
    let bytes = element.as_bytes();
    if bytes.len() > buf.len() || !element.is_ascii() {
        return None;
    }
    let upper = &mut buf[..bytes.len()];
    upper.copy_from_slice(bytes);
    upper.make_ascii_uppercase();
    std::str::from_utf8(upper).ok().and_then(Pair::from_symbol)
}

/// The first value of `name` in a raw query string, percent- and `+`-decoded.
pub fn query_param<'q>(
    query: Option<&'q str>,
    name: &'static str,
) -> Result<Option<Cow<'q, str>>, ParamError> {
    let Some(query) = query else {
        return Ok(None);
    };
    for part in query.split('&') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        // The name is compared after decoding, as any form decoder would.
        if decode(key).ok().as_deref() == Some(name) {
            return decode(value)
                .map(Some)
                .map_err(|()| ParamError::Encoding(name));
        }
    }
    Ok(None)
}

/// `application/x-www-form-urlencoded` decoding that refuses bad escapes and invalid UTF-8.
fn decode(raw: &str) -> Result<Cow<'_, str>, ()> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(())?;
                let hex = std::str::from_utf8(hex).map_err(|_| ())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Served {
        Served::new(
            ["BTC/USD", "ETH/USD", "LTC/USD"]
                .map(|p| Pair::parse(p).expect("known"))
                .to_vec(),
        )
    }

    fn names(pairs: &[Pair]) -> Vec<&'static str> {
        pairs.iter().map(|p| p.as_str()).collect()
    }

    #[test]
    fn empty_means_every_served_pair_sorted() {
        let s = served();
        assert_eq!(
            names(&s.parse(None, 10).expect("ok")),
            ["BTC/USD", "ETH/USD", "LTC/USD"]
        );
        assert_eq!(s.parse(Some(""), 10), s.parse(None, 10));
    }

    #[test]
    fn elements_are_trimmed_case_insensitive_and_deduplicated() {
        let s = served();
        assert_eq!(
            names(
                &s.parse(Some(" eth/usd ,,BTC/USD, btc/usd,"), 10)
                    .expect("ok")
            ),
            ["ETH/USD", "BTC/USD"]
        );
    }

    #[test]
    fn seed_messages() {
        let s = served();
        let err = |v| s.parse(Some(v), 10).expect_err("bad").to_string();
        assert_eq!(
            err("BTC/USD, btcusd"),
            "invalid pair format: btcusd (expected BASE/QUOTE)"
        );
        assert_eq!(
            err("doge/usd"),
            "unsupported pair: DOGE/USD (supported pairs: BTC/USD,ETH/USD,LTC/USD)"
        );
        assert_eq!(
            err("BTC/USD/EUR"),
            "unsupported pair: BTC/USD/EUR (supported pairs: BTC/USD,ETH/USD,LTC/USD)"
        );
        // A known market that is not configured is unsupported too.
        assert!(err("XRP/USD").starts_with("unsupported pair: XRP/USD"));
        assert_eq!(err(" , ,"), "no valid pairs provided");
        // The first bad element decides.
        assert!(err("nope, DOGE/USD").starts_with("invalid pair format: nope"));
    }

    #[test]
    fn too_many_elements_are_refused_before_parsing() {
        let s = served();
        let long = vec!["x"; 10_000].join(",");
        assert_eq!(
            s.parse(Some(&long), 100),
            Err(ParamError::TooMany(10_000, 100))
        );
    }

    #[test]
    fn query_param_takes_the_first_occurrence_and_decodes() {
        let q = Some("x=1&pair=btc%2Fusd+&pair=ETH/USD");
        assert_eq!(
            query_param(q, "pair").expect("ok").as_deref(),
            Some("btc/usd ")
        );
        assert_eq!(query_param(Some("PAIR=x"), "pair").expect("ok"), None);
        assert_eq!(query_param(None, "pair").expect("ok"), None);
        assert_eq!(
            query_param(Some("pair"), "pair").expect("ok").as_deref(),
            Some("")
        );
        assert_eq!(
            query_param(Some("p%61ir=A/B"), "pair")
                .expect("ok")
                .as_deref(),
            Some("A/B")
        );
    }

    #[test]
    fn bad_encoding_is_an_error() {
        for q in ["pair=%zz", "pair=%4", "pair=%ff%fe"] {
            assert_eq!(
                query_param(Some(q), "pair"),
                Err(ParamError::Encoding("pair")),
                "{q}"
            );
        }
    }
}
