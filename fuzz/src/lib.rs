//! The fuzz targets: ltp's parsers of untrusted input, each fed arbitrary bytes, with the
//! invariants their callers rely on checked on every input that parses.
//!
//! A target panics (and libFuzzer or proptest reports a crash) when a parser panics, loops, or
//! accepts something its callers would then mishandle. The same functions run under
//! cargo-fuzz (`fuzz_targets/`) and under the proptest fallback (`tests/fallback.rs`), so the
//! two modes differ only in how inputs are generated.
//!
//! Input layout: where a target needs more than the text (the pairs requested, a
//! `Content-Type`), the first byte selects it and the rest is the text, so every byte string
//! is a valid input.

use common::message::{self, Encoding, Price};
use common::Pair;
use ingestor::kraken::frame::{self, Frame};
use ingestor::kraken::rest_body;
use query_api::params::{query_param, ParamError, Served};

/// Every target, by name (the cargo-fuzz binary and seed directory share it).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("ws_frame", ws_frame),
    ("rest_body", rest_body),
    ("query_params", query_params),
    ("price_decode", price_decode),
];

/// The pairs the REST and query targets choose from: the default configuration's seven, in
/// configuration order, then one more so a selection can include an unserved market.
const PAIRS: [&str; 8] = [
    "BTC/USD", "BTC/EUR", "BTC/CHF", "ETH/USD", "ETH/EUR", "LTC/USD", "XRP/USD", "DOGE/USD",
];

fn pair(name: &str) -> Pair {
    Pair::parse(name).expect("a market of the table")
}

/// Kraken WebSocket v2 frame parser (`ingestor::kraken::frame::parse`) on one text frame.
///
/// Checks: a ticker's symbol resolves to the pair of that name; a last price, when accepted,
/// is a valid decimal that parses back to itself; acks and status frames are readable.
pub fn ws_frame(data: &[u8]) {
    // WebSocket text frames are UTF-8 (tungstenite refuses anything else before us).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match frame::parse(text) {
        Ok(Frame::Ticker(tickers)) => {
            for ticker in tickers.iter() {
                if let Ok(pair) = ticker.pair() {
                    assert_eq!(pair.as_str(), ticker.symbol, "symbol resolved to another pair");
                }
                if let Ok(price) = ticker.last_price() {
                    check_price(&price);
                }
                let _ = ticker.exchange_time();
            }
        }
        Ok(Frame::Ack(ack)) => {
            let _ = (ack.already_subscribed(), ack.rate_limited());
            assert!(
                ack.method == "subscribe" || ack.method == "unsubscribe",
                "ack for method {:?}",
                ack.method
            );
        }
        Ok(Frame::Status(status)) => {
            let _ = status.is_online();
        }
        Ok(Frame::Pong { .. } | Frame::Heartbeat | Frame::Other) | Err(_) => {}
    }
}

/// Kraken REST `Ticker` body parser (`ingestor::kraken::rest_body::parse_ticker`).
///
/// Byte 0 is a bit mask over [`PAIRS`] (the pairs requested); the rest is the body. Checks:
/// every price and bad entry is for a requested pair, no pair has two prices, prices are
/// sorted, and each price is a valid decimal.
pub fn rest_body(data: &[u8]) {
    let Some((&mask, body)) = data.split_first() else {
        return;
    };
    let requested: Vec<Pair> = PAIRS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, name)| pair(name))
        .collect();
    let Ok(parsed) = rest_body::parse_ticker(body, &requested) else {
        return;
    };
    let _ = parsed.error_kind();
    for (pair, price) in &parsed.prices {
        assert!(requested.contains(pair), "price for unrequested {pair:?}");
        check_price(price);
    }
    for (pair, _) in &parsed.bad_entries {
        assert!(requested.contains(pair), "bad entry for unrequested {pair:?}");
    }
    assert!(
        parsed.prices.windows(2).all(|w| w[0].0 < w[1].0),
        "prices not sorted by pair or a pair twice: {:?}",
        parsed.prices
    );
    for error in &parsed.errors {
        assert!(!error.starts_with('W'), "a warning kept as an error: {error}");
    }
}

/// query-api's query string and pair-list parsing (`query_api::params`).
///
/// Byte 0 gives `limits.max_pairs` (1–128); the rest is the raw query string. Checks: the
/// first `pair`/`pairs` value decodes; a parsed list is non-empty, within the limit, made of
/// distinct served pairs; "too many" really means too many; each element that parses as a
/// pair round-trips.
pub fn query_params(data: &[u8]) {
    let Some((&max, query)) = data.split_first() else {
        return;
    };
    // The URI reaches the handler as text: hyper refuses non-ASCII request targets before.
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let max = 1 + usize::from(max % 128);
    let served = Served::new(PAIRS[..7].iter().map(|p| pair(p)).collect());
    for name in ["pair", "pairs"] {
        let value = match query_param(Some(query), name) {
            Ok(value) => value,
            Err(ParamError::Encoding(n)) => {
                assert_eq!(n, name);
                continue;
            }
            Err(other) => panic!("query_param failed with {other:?}"),
        };
        if !query.contains(['%', '+']) {
            if let Some(v) = &value {
                assert!(query.contains(v.as_ref()), "undecoded value not in the query");
            }
        }
        match served.parse(value.as_deref(), max) {
            Ok(pairs) => {
                assert!(!pairs.is_empty(), "an empty list accepted");
                let all = value.as_deref().is_none_or(str::is_empty);
                assert!(all || pairs.len() <= max, "{} pairs over the limit {max}", pairs.len());
                for (i, p) in pairs.iter().enumerate() {
                    assert!(served.contains(*p), "{p:?} is not served");
                    assert!(!pairs[..i].contains(p), "{p:?} twice");
                }
            }
            Err(ParamError::TooMany(n, m)) => assert!(n > m && m == max, "too many: {n} > {m}"),
            Err(err) => {
                // Every refusal has a client-facing message (the 400 body).
                assert!(!err.to_string().is_empty());
            }
        }
        for element in value.as_deref().unwrap_or("").split(',') {
            if let Ok(p) = Pair::parse(element) {
                assert_eq!(Pair::parse(p.as_str()), Ok(p), "pair does not round-trip");
            }
        }
    }
}

/// The NATS price message decoder (`common::message::decode`).
///
/// Byte 0 selects the `Content-Type` header (none, JSON, MessagePack, or something else);
/// the rest is the payload. Checks: a decoded message re-encodes in both encodings and
/// decodes back to the same message, and its price is a valid decimal.
pub fn price_decode(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let content_type = match selector % 5 {
        0 => None,
        1 => Some(message::CONTENT_TYPE_JSON),
        2 => Some(message::CONTENT_TYPE_MSGPACK),
        3 => Some("application/json; charset=utf-8"),
        _ => Some("text/plain"),
    };
    let Ok(msg) = message::decode(content_type, payload) else {
        return;
    };
    check_price(&msg.price);
    for encoding in [Encoding::Json, Encoding::Msgpack] {
        let bytes = encoding.encode(&msg);
        let back = encoding
            .decode(&bytes)
            .unwrap_or_else(|e| panic!("{encoding:?} re-encoding does not decode: {e}"));
        assert_eq!(back, msg, "{encoding:?} round trip changed the message");
    }
}

/// An accepted price is non-empty decimal text that validates again as itself.
fn check_price(price: &Price) {
    let text = price.as_str();
    assert_eq!(
        Price::parse(text).as_ref(),
        Ok(price),
        "accepted price {text:?} does not re-validate"
    );
}

/// Seed inputs per target, used by the proptest fallback as mutation bases (cargo-fuzz reads
/// the same files from `fuzz/seeds/<target>/`).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for sub in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        out.extend(paths.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    out
}

/// Byte strings that tend to reach new branches of JSON, form and MessagePack decoders, for
/// the fallback's mutations (libFuzzer finds these on its own through coverage).
pub const TOKENS: &[&[u8]] = &[
    b"\"", b"{", b"}", b"[", b"]", b":", b",", b"null", b"true", b"false", b"-1", b"0",
    b"1e309", b"0.00000000", b"18446744073709551616", b"-0", b"1.", b".5", b"\\u0000",
    b"\\ud800", b"\\\"", b"\xff", b"\xc3", b"\xf0\x9f\x92", b"%", b"%2F", b"%ff", b"%zz", b"+",
    b"&", b"=", b"pair=", b"pairs=", b"BTC/USD", b"btc/usd", b"XXBTZUSD", b"XBTUSD", b"/",
    b"\"last\":", b"\"c\":[", b"\"symbol\":", b"\"data\":[", b"\"error\":[", b"\"result\":{",
    b"\"price\":", b"\"pair\":", b"\xde\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xc0", b"\xd9\x20",
    b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", b"\x89", b"2026-07-08T05:24:41.204829Z",
    b"9999-12-31T23:59:59Z", b"-009999-01-01T00:00:00Z",
];

/// Applies byte-level mutations to `seed`: each `(kind, position, value)` replaces, inserts
/// or deletes a byte, inserts a [`TOKENS`] entry, duplicates a chunk, or truncates.
pub fn mutate(seed: &[u8], ops: &[(u8, u16, u8)]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for &(kind, pos, value) in ops {
        let at = if out.is_empty() {
            0
        } else {
            usize::from(pos) % (out.len() + 1)
        };
        match kind % 6 {
            0 if at < out.len() => out[at] = value,
            1 => out.insert(at, value),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => {
                let token = TOKENS[usize::from(value) % TOKENS.len()];
                out.splice(at..at, token.iter().copied());
            }
            4 => {
                let end = (at + usize::from(value)).min(out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            5 => out.truncate(at.max(1)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_seeds_and_accepts_them() {
        for (name, target) in TARGETS {
            let seeds = seeds(name);
            assert!(!seeds.is_empty(), "no seeds for {name}");
            for seed in seeds {
                target(&seed);
            }
        }
    }

    #[test]
    fn mutations_stay_in_bounds() {
        assert_eq!(mutate(b"", &[(0, 9, 1), (2, 3, 0), (5, 0, 0)]), b"");
        assert_eq!(mutate(b"abc", &[(5, 1, 0)]), b"a");
        assert_eq!(mutate(b"ab", &[(4, 0, 9)]), b"abab");
        assert_eq!(mutate(b"ab", &[(1, 2, b'c')]), b"abc");
    }
}
