//! Kraken REST `Ticker` answers: errors inside HTTP 200 bodies, results keyed by the AssetPairs
//! key (not by what was sent), last price `c[0]` as an exact decimal string.

use std::borrow::Cow;
use std::collections::HashMap;

use common::Pair;
use common::message::Price;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::frame::{Text, decimal_token};

/// What Kraken's `error` array says, classified for the retry logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KrakenErrorKind {
    /// `EQuery:Unknown asset pair` (or `Invalid asset pair`): one bad pair fails the request.
    UnknownPair,
    /// Throttling (`EGeneral:Too many requests`, `EAPI:Rate limit exceeded`,
    /// `EService:Throttled`): back off globally.
    Throttled,
    /// `EService:Unavailable`, `EService:Busy`, `EGeneral:Internal error`, cancel-only or
    /// maintenance mode: back off and retry.
    Unavailable,
    /// Anything else (`EGeneral:Invalid arguments`, …): retrying will not help.
    Other,
}

impl KrakenErrorKind {
    /// Classifies one error string (`<severity><category>:<description>`), by prefix.
    pub fn of(error: &str) -> KrakenErrorKind {
        let e = error.trim();
        if e.starts_with("EQuery:Unknown asset pair") || e.starts_with("EQuery:Invalid asset pair")
        {
            KrakenErrorKind::UnknownPair
        } else if e.starts_with("EGeneral:Too many requests")
            || e.starts_with("EAPI:Rate limit exceeded")
            || e.starts_with("EService:Throttled")
            || e.starts_with("EService: Throttled")
        {
            KrakenErrorKind::Throttled
        } else if e.starts_with("EService:Unavailable")
            || e.starts_with("EService:Busy")
            || e.starts_with("EService:Market in")
            || e.starts_with("EGeneral:Internal error")
        {
            KrakenErrorKind::Unavailable
        } else {
            KrakenErrorKind::Other
        }
    }
}

/// REST `Time`'s `result.unixtime` (whole seconds on Kraken's clock), when the body is a
/// success (`{"error":[],"result":{"unixtime":1688669448,"rfc1123":"…"}}`).
pub fn parse_time(body: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        error: Vec<String>,
        result: Option<TimeResult>,
    }
    #[derive(Deserialize)]
    struct TimeResult {
        unixtime: i64,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    if body.error.iter().any(|e| e.starts_with('E')) {
        return None;
    }
    body.result.map(|r| r.unixtime)
}

/// A parsed `Ticker` body.
#[derive(Debug, Default, PartialEq)]
pub struct TickerBody {
    /// Kraken's errors (`E…`); warnings (`W…`) are dropped.
    pub errors: Vec<String>,
    /// Prices of the requested pairs that came back usable.
    pub prices: Vec<(Pair, Price)>,
    /// Requested pairs with an entry Kraken sent but we could not use, and why.
    pub bad_entries: Vec<(Pair, String)>,
}

impl TickerBody {
    /// The most severe classification of the errors, if any (throttling wins: it must slow
    /// every caller down).
    pub fn error_kind(&self) -> Option<KrakenErrorKind> {
        let kinds: Vec<_> = self.errors.iter().map(|e| KrakenErrorKind::of(e)).collect();
        [
            KrakenErrorKind::Throttled,
            KrakenErrorKind::Unavailable,
            KrakenErrorKind::UnknownPair,
            KrakenErrorKind::Other,
        ]
        .into_iter()
        .find(|k| kinds.contains(k))
    }
}

/// Why a body could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("malformed Kraken ticker body: {0}")]
pub struct BodyError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<HashMap<Text<'a>, &'a RawValue>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, default)]
    c: Option<Vec<&'a RawValue>>,
}

/// Reads a `Ticker` body for a request of `requested` pairs.
///
/// Each result key is resolved through the name table (AssetPairs key or altname), never by
/// the string sent; when exactly one pair was requested the sole entry is taken whatever its
/// key (docs/kraken-wire.md §3.2: newer API versions echo other forms). Entries for pairs that
/// were not requested are ignored; a bad entry only fails its own pair.
pub fn parse_ticker(body: &[u8], requested: &[Pair]) -> Result<TickerBody, BodyError> {
    // A derived struct also accepts a JSON array positionally: only an object is a body.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BodyError(serde::de::Error::custom("not a JSON object")));
    }
    let env: Envelope<'_> = serde_json::from_slice(body)?;
    let mut out = TickerBody::default();
    if let Some(raw) = env.error {
        // `error` is an array of strings; tolerate a single string too.
        let texts: Vec<Text<'_>> = serde_json::from_str(raw.get())
            .or_else(|_| serde_json::from_str::<Text<'_>>(raw.get()).map(|t| vec![t]))
            .unwrap_or_default();
        out.errors = texts
            .into_iter()
            .map(|t| t.0)
            .filter(|e| !e.starts_with('W'))
            .map(Cow::into_owned)
            .collect();
    }
    let Some(result) = env.result else {
        return Ok(out);
    };
    let sole = requested.len() == 1 && result.len() == 1;
    for (key, raw) in result {
        let pair = match Pair::from_rest_name(&key.0) {
            Some(p) if requested.contains(&p) => p,
            _ if sole => requested[0],
            _ => continue,
        };
        if out.prices.iter().any(|(p, _)| *p == pair) {
            continue;
        }
        match entry_price(raw) {
            Ok(price) => out.prices.push((pair, price)),
            Err(why) => out.bad_entries.push((pair, why)),
        }
    }
    out.prices.sort_by_key(|(p, _)| *p);
    Ok(out)
}

fn entry_price(raw: &RawValue) -> Result<Price, String> {
    let entry: Entry<'_> =
        serde_json::from_str(raw.get()).map_err(|e| format!("bad ticker entry: {e}"))?;
    let first = entry
        .c
        .and_then(|c| c.into_iter().next())
        .ok_or_else(|| "no last trade (c) in ticker entry".to_owned())?;
    decimal_token(first).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pair(s: &str) -> Pair {
        Pair::parse(s).expect("known")
    }

    fn prices(body: &TickerBody) -> Vec<(&str, &str)> {
        body.prices
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn doc_example_is_keyed_by_the_assetpairs_key() {
        let body = br#"{"error":[],"result":{"XXBTZUSD":{"a":["30300.10000","1","1.000"],"b":["30300.00000","1","1.000"],"c":["30303.20000","0.00067643"],"v":["4083.67001100","4412.73601799"],"p":["30706.77771","30689.13205"],"t":[34619,38907],"l":["29868.30000","29868.30000"],"h":["31631.00000","31631.00000"],"o":"30502.80000"}}}"#;
        let parsed = parse_ticker(body, &[pair("BTC/USD")]).expect("parses");
        assert_eq!(prices(&parsed), [("BTC/USD", "30303.20000")]);
        assert!(parsed.errors.is_empty());
        assert_eq!(parsed.error_kind(), None);
    }

    #[test]
    fn ccxt_capture_with_an_unprefixed_key() {
        let body = br#"{"error":[],"result":{"XBTUSDT":{"a":["73380.70000","1","1.000"],"b":["73380.60000","1","1.000"],"c":["73380.60000","0.00160710"],"v":["165.16072288","598.03698452"],"p":["72647.97204","71501.57520"],"t":[6405,21103],"l":["71321.80000","68666.00000"],"h":["73580.00000","73580.00000"],"o":"71450.70000"}}}"#;
        let parsed = parse_ticker(body, &[pair("BTC/USDT")]).expect("parses");
        assert_eq!(prices(&parsed), [("BTC/USDT", "73380.60000")]);
    }

    #[test]
    fn skip_mev_multi_pair_capture() {
        let body = br#"{"error":[],"result":{"XETHZUSD":{"a":["3338.95000","1","1.000"],"b":["3338.94000","246","246.000"],"c":["3338.08000","0.00702654"],"v":["33234.61736920","35692.20596751"],"p":["3310.12909","3324.16514"],"t":[25646,28278],"l":["3200.17000","3200.17000"],"h":["3547.76000","3547.76000"],"o":"3518.43000"},"XXBTZUSD":{"a":["64547.20000","4","4.000"],"b":["64547.10000","15","15.000"],"c":["64547.20000","0.00013362"],"v":["5869.92462186","6253.84063618"],"p":["64487.50403","64670.01016"],"t":[56856,62595],"l":["62356.50000","62356.50000"],"h":["68075.00000","68075.00000"],"o":"67600.00000"}}}"#;
        let parsed = parse_ticker(body, &[pair("ETH/USD"), pair("BTC/USD")]).expect("parses");
        assert_eq!(
            prices(&parsed),
            [("BTC/USD", "64547.20000"), ("ETH/USD", "3338.08000")]
        );
        // A pair not requested is ignored even when Kraken sends it.
        let parsed = parse_ticker(body, &[pair("ETH/USD")]).expect("parses");
        assert_eq!(prices(&parsed), [("ETH/USD", "3338.08000")]);
    }

    #[test]
    fn the_sole_entry_of_a_single_pair_request_is_taken_whatever_its_key() {
        let body = br#"{"error":[],"result":{"BTC/USD":{"c":["1.5","1"]}}}"#;
        let parsed = parse_ticker(body, &[pair("BTC/USD")]).expect("parses");
        assert_eq!(prices(&parsed), [("BTC/USD", "1.5")]);
        // With two requested, an unknown key cannot be attributed.
        let parsed = parse_ticker(body, &[pair("BTC/USD"), pair("ETH/USD")]).expect("parses");
        assert!(parsed.prices.is_empty());
    }

    #[test]
    fn errors_in_200_bodies_are_classified() {
        for (body, kind) in [
            (
                r#"{"error":["EQuery:Unknown asset pair"]}"#,
                KrakenErrorKind::UnknownPair,
            ),
            (
                r#"{"error":["EGeneral:Too many requests"]}"#,
                KrakenErrorKind::Throttled,
            ),
            (
                r#"{"error":["EAPI:Rate limit exceeded"]}"#,
                KrakenErrorKind::Throttled,
            ),
            (
                r#"{"error":["EService:Throttled: 1700000000"]}"#,
                KrakenErrorKind::Throttled,
            ),
            (
                r#"{"error":["EService:Unavailable"]}"#,
                KrakenErrorKind::Unavailable,
            ),
            (
                r#"{"error":["EService:Busy"]}"#,
                KrakenErrorKind::Unavailable,
            ),
            (
                r#"{"error":["EGeneral:Invalid arguments"]}"#,
                KrakenErrorKind::Other,
            ),
        ] {
            let parsed = parse_ticker(body.as_bytes(), &[pair("BTC/USD")]).expect("parses");
            assert!(parsed.prices.is_empty());
            assert_eq!(parsed.error_kind(), Some(kind), "{body}");
        }
    }

    #[test]
    fn warnings_are_not_errors_and_bad_entries_fail_only_their_pair() {
        let body = br#"{"error":["WGeneral:Deprecated"],"result":{"XXBTZUSD":{"c":["0","1"]},"XETHZUSD":{"c":["3338.08000","1"]},"XLTCZUSD":{"a":[]},"XXRPZUSD":[1,2]}}"#;
        let requested = [
            pair("BTC/USD"),
            pair("ETH/USD"),
            pair("LTC/USD"),
            pair("XRP/USD"),
        ];
        let parsed = parse_ticker(body, &requested).expect("parses");
        assert!(parsed.errors.is_empty());
        assert_eq!(prices(&parsed), [("ETH/USD", "3338.08000")]);
        let mut bad: Vec<_> = parsed.bad_entries.iter().map(|(p, _)| p.as_str()).collect();
        bad.sort();
        assert_eq!(bad, ["BTC/USD", "LTC/USD", "XRP/USD"]);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in ["", "<html>502</html>", "[]", r#"{"result":5}"#] {
            assert!(
                parse_ticker(body.as_bytes(), &[pair("BTC/USD")]).is_err(),
                "{body}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_ticker(&body, &[pair("BTC/USD"), pair("ETH/USD")]);
        }

        #[test]
        fn never_panics_on_json_like_text(text in r#"[{}\[\]":,A-Z0-9.a-z ]{0,200}"#) {
            let _ = parse_ticker(text.as_bytes(), &[pair("BTC/USD")]);
        }

        #[test]
        fn last_price_keeps_every_digit(
            int in "[1-9][0-9]{0,12}",
            frac in proptest::option::of("[0-9]{1,12}"),
            key_is_altname in any::<bool>(),
        ) {
            let price = match frac { Some(f) => format!("{int}.{f}"), None => int };
            let m = pair("BTC/CHF").market();
            let key = if key_is_altname { m.rest_altname } else { m.rest_key };
            let body = format!(r#"{{"error":[],"result":{{"{key}":{{"c":["{price}","0.1"],"o":"1"}},"XXBTZUSD":{{"c":["2.0","1"]}}}}}}"#);
            let parsed = parse_ticker(body.as_bytes(), &[pair("BTC/CHF"), pair("BTC/USD")]).expect("parses");
            prop_assert_eq!(prices(&parsed), vec![("BTC/CHF", price.as_str()), ("BTC/USD", "2.0")]);
        }
    }

    #[test]
    fn time_answers_give_whole_seconds() {
        let captured = br#"{"error":[],"result":{"unixtime":1688669448,"rfc1123":"Thu, 06 Jul 23 18:50:48 +0000"}}"#;
        assert_eq!(parse_time(captured), Some(1_688_669_448));
        assert_eq!(parse_time(br#"{"error":["EService:Unavailable"]}"#), None);
        assert_eq!(parse_time(b"error code: 502"), None);
    }
}
