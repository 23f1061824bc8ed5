//! The `pair` / `pairs` query parameter: found in the raw query string, decoded strictly, and
//! parsed with the seed's rules and messages (docs/seed-compatibility.md §1.3).
//!
//! Rules: only the first occurrence counts; empty means every configured pair; elements are
//! comma separated, trimmed, case-insensitive, empty ones skipped; the first bad element fails
//! the request with 400 (unless the client asks to skip invalid elements). Unlike the seed,
//! duplicates are answered once, Kraken's own names are accepted for a pair (`XBT/USD`,
//! `XBTUSD`, `XXBTZUSD`, and `BTC-USD`: [`Pair::from_alias`]) and answered with the canonical
//! name, and malformed percent-encoding or invalid UTF-8 is a 400 rather than silently ignored.

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
    /// A `max_age` that is not a duration (`freshness.rs`).
    #[error("invalid max_age: {0} (expected milliseconds or a duration such as 500ms, 2s, 1m)")]
    MaxAge(String),
    /// A boolean parameter that is neither `true` nor `false`.
    #[error("invalid {0}: {1} (expected true or false)")]
    Flag(&'static str, String),
}

/// A pair list element refused while skipping invalid elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The element as sent, trimmed.
    pub element: String,
    /// Why (the message a 400 would have had).
    pub error: ParamError,
}

/// A pair list parsed with invalid elements skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lenient {
    /// The distinct valid pairs, in request order.
    pub pairs: Vec<Pair>,
    /// The invalid elements, in request order.
    pub rejected: Vec<Rejected>,
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
        let mut pairs = Vec::new();
        self.each(value, max, |element| {
            pairs.push(element.map_err(|r| r.error)?);
            Ok(())
        })?;
        if pairs.is_empty() {
            return Err(ParamError::Empty);
        }
        Ok(pairs)
    }

    /// Like [`Served::parse`], but invalid elements are set aside instead of failing the
    /// request. Still an error: too many elements, or no valid element at all (then the first
    /// invalid element's error, or [`ParamError::Empty`]).
    pub fn parse_lenient(&self, value: Option<&str>, max: usize) -> Result<Lenient, ParamError> {
        let value = value.unwrap_or("");
        if value.is_empty() {
            return Ok(Lenient {
                pairs: self.sorted.clone(),
                rejected: Vec::new(),
            });
        }
        let mut parsed = Lenient::default();
        self.each(value, max, |element| {
            match element {
                Ok(pair) => parsed.pairs.push(pair),
                Err(error) => parsed.rejected.push(error),
            }
            Ok(())
        })?;
        if parsed.pairs.is_empty() {
            return Err(parsed
                .rejected
                .into_iter()
                .next()
                .map_or(ParamError::Empty, |r| r.error));
        }
        Ok(parsed)
    }

    /// Calls `visit` with each non-empty element of a non-empty value, resolved: a pair seen
    /// for the first time, or why the element is invalid (duplicates are skipped).
    fn each(
        &self,
        value: &str,
        max: usize,
        mut visit: impl FnMut(Result<Pair, Rejected>) -> Result<(), ParamError>,
    ) -> Result<(), ParamError> {
        // Counting first bounds the work done for a hostile 10,000-element list.
        let elements = value.split(',').filter(|e| !e.trim().is_empty()).count();
        if elements > max {
            return Err(ParamError::TooMany(elements, max));
        }
        let mut seen = 0u128;
        for element in value.split(',') {
            let element = element.trim();
            if element.is_empty() {
                continue;
            }
            match self.resolve(element) {
                Ok(pair) if seen & bit(pair) != 0 => {}
                Ok(pair) => {
                    seen |= bit(pair);
                    visit(Ok(pair))?;
                }
                Err(error) => visit(Err(Rejected {
                    element: element.to_owned(),
                    error,
                }))?,
            }
        }
        Ok(())
    }

    /// One trimmed, non-empty element: a served pair by any of its names, or the seed's error
    /// (no `/` and no Kraken name: a format error; otherwise unsupported).
    fn resolve(&self, element: &str) -> Result<Pair, ParamError> {
        match lookup(element) {
            Some(pair) if self.contains(pair) => Ok(pair),
            None if !element.contains('/') => Err(ParamError::Format(element.to_owned())),
            _ => Err(ParamError::Unsupported(
                element.to_uppercase(),
                self.list.clone(),
            )),
        }
    }
}

fn bit(pair: Pair) -> u128 {
    1 << pair.index()
}

/// Case-insensitive lookup by canonical name, then by alias, without allocating for the usual
/// short ASCII names.
fn lookup(element: &str) -> Option<Pair> {
    let mut buf = [0u8; 32];
    let bytes = element.as_bytes();
    if bytes.len() > buf.len() || !element.is_ascii() {
        return None;
    }
    let upper = &mut buf[..bytes.len()];
    upper.copy_from_slice(bytes);
    upper.make_ascii_uppercase();
    let upper = std::str::from_utf8(upper).ok()?;
    Pair::from_symbol(upper).or_else(|| Pair::from_alias(upper))
}

/// A boolean parameter: `true` or `false` (anything else, empty included, is an error);
/// absent is `false`.
pub fn parse_flag(name: &'static str, value: Option<&str>) -> Result<bool, ParamError> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ParamError::Flag(name, other.to_owned())),
    }
}

/// The first value of `name` in a raw query string, percent- and `+`-decoded.
pub fn query_param<'q>(
    query: Option<&'q str>,
    name: &'static str,
) -> Result<Option<Cow<'q, str>>, ParamError> {
    let [raw] = raw_params(query, [name]);
    decode_param(name, raw)
}

/// The raw (undecoded) first value of each of `names` in one pass over a raw query string:
/// a price read asks for three parameters, and three scans were a measurable part of the
/// single-pair answer. Decode each with [`decode_param`], in the order the errors should
/// come in (as [`query_param`] called once per name would).
pub fn raw_params<'q, const N: usize>(
    query: Option<&'q str>,
    names: [&'static str; N],
) -> [Option<&'q str>; N] {
    let mut found = [None; N];
    let Some(query) = query else {
        return found;
    };
    for part in query.split('&') {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        // The name is compared after decoding, as any form decoder would.
        let key = decode(key);
        if let Some(i) = names.iter().position(|n| key.as_deref() == Ok(*n))
            && found[i].is_none()
        {
            found[i] = Some(value);
        }
    }
    found
}

/// A value found by [`raw_params`], percent- and `+`-decoded.
pub fn decode_param<'q>(
    name: &'static str,
    raw: Option<&'q str>,
) -> Result<Option<Cow<'q, str>>, ParamError> {
    raw.map(|v| decode(v).map_err(|()| ParamError::Encoding(name)))
        .transpose()
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
    fn krakens_names_resolve_to_the_canonical_pair() {
        let s = served();
        assert_eq!(
            names(
                &s.parse(Some("XBT/USD, xbtusd,XXBTZUSD,btc-usd,LTCUSD,xethzusd"), 10)
                    .expect("ok")
            ),
            ["BTC/USD", "LTC/USD", "ETH/USD"]
        );
        // Known to Kraken, not served here: unsupported, not a format error.
        assert!(
            s.parse(Some("XRPUSD"), 10)
                .expect_err("bad")
                .to_string()
                .starts_with("unsupported pair: XRPUSD")
        );
    }

    #[test]
    fn lenient_parsing_sets_invalid_elements_aside() {
        let s = served();
        let parsed = s
            .parse_lenient(Some("nope,BTC/USD,doge/usd,btc/usd"), 10)
            .expect("ok");
        assert_eq!(names(&parsed.pairs), ["BTC/USD"]);
        let rejected: Vec<_> = parsed
            .rejected
            .iter()
            .map(|r| (r.element.as_str(), r.error.to_string()))
            .collect();
        assert_eq!(rejected[0].0, "nope");
        assert!(rejected[0].1.starts_with("invalid pair format: nope"));
        assert_eq!(rejected[1].0, "doge/usd");
        assert!(rejected[1].1.starts_with("unsupported pair: DOGE/USD"));
        // Nothing valid: the first element's error.
        assert!(matches!(
            s.parse_lenient(Some("nope,DOGE/USD"), 10),
            Err(ParamError::Format(_))
        ));
        assert_eq!(s.parse_lenient(Some(" , "), 10), Err(ParamError::Empty));
        assert_eq!(
            s.parse_lenient(Some("a,b,c"), 2),
            Err(ParamError::TooMany(3, 2))
        );
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("skip_invalid", Some("true")), Ok(true));
        assert_eq!(parse_flag("skip_invalid", Some("false")), Ok(false));
        assert_eq!(parse_flag("skip_invalid", None), Ok(false));
        assert!(parse_flag("skip_invalid", Some("")).is_err());
        assert_eq!(
            parse_flag("skip_invalid", Some("yes"))
                .expect_err("bad")
                .to_string(),
            "invalid skip_invalid: yes (expected true or false)"
        );
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
        // One pass finds, per name, the first value, the name decoded; values decode on demand.
        let names = ["pair", "max_age", "skip_invalid"];
        for (q, expected) in [
            ("pair=a&max_age=1s&pair=b", [Some("a"), Some("1s"), None]),
            (
                "p%61ir=x%2Fy&skip_invalid=true",
                [Some("x%2Fy"), None, Some("true")],
            ),
            ("max_age=%zz&pair=c", [Some("c"), Some("%zz"), None]),
            ("other=1", [None, None, None]),
            ("", [None, None, None]),
        ] {
            assert_eq!(raw_params(Some(q), names), expected, "{q}");
        }
        assert_eq!(
            decode_param("pair", Some("x%2Fy")).expect("ok").as_deref(),
            Some("x/y")
        );
        assert_eq!(
            decode_param("max_age", Some("%zz")),
            Err(ParamError::Encoding("max_age"))
        );
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
