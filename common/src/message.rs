//! The price message published on `<prefix>.prices.kraken.<BASE-QUOTE>` and its two encodings.
//!
//! The price is a decimal string exactly as Kraken wrote it: it never passes through a float,
//! so `"0.00044780"` stays `"0.00044780"` from the exchange frame to the API response.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

use crate::pair::Pair;

/// Version of the message schema; bumped only for incompatible changes.
pub const SCHEMA_VERSION: u8 = 1;

/// `Content-Type` of a MessagePack payload.
pub const CONTENT_TYPE_MSGPACK: &str = "application/msgpack";
/// `Content-Type` of a JSON payload.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Header (value `1`) on a re-publish: the same price again, whose `published_at` is the time
/// it was last confirmed rather than the time it was sent, so receivers leave it out of the
/// publish → cache latency.
pub const REPUBLISH_HEADER: &str = "Ltp-Republish";

/// A positive decimal price, kept as the exact text the exchange sent.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Price(Arc<str>);

/// Why a string is not a usable price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Not a plain non-negative decimal number (JSON number grammar, at most 64 characters).
    #[error("not a decimal price: {0:?}")]
    Malformed(String),
    /// Zero: Kraken reports `0` for a market with no trade, which is no price at all.
    #[error("price is zero (no trade)")]
    Zero,
}

impl Price {
    /// Validates `text` as a JSON-number-shaped, non-negative, non-zero decimal.
    pub fn parse(text: &str) -> Result<Price, PriceError> {
        if !is_decimal(text) {
            return Err(PriceError::Malformed(text.chars().take(64).collect()));
        }
        let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
        if mantissa.bytes().all(|b| b == b'0' || b == b'.') {
            return Err(PriceError::Zero);
        }
        Ok(Price(Arc::from(text)))
    }

    /// The decimal text, as the exchange wrote it; also a valid JSON number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// JSON number grammar without a sign: `int [frac] [exp]`, `int` without leading zeros.
fn is_decimal(text: &str) -> bool {
    let b = text.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(0);
    if int == 0 || (int > 1 && b[0] == b'0') {
        return false;
    }
    let mut i = int;
    if b.get(i) == Some(&b'.') {
        let frac = digits(i + 1);
        if frac == 0 {
            return false;
        }
        i += 1 + frac;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits(i);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({})", self.0)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Price::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where the ingestor got a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Kraken WebSocket v2 `ticker` channel.
    Ws,
    /// Kraken REST `Ticker` endpoint.
    Rest,
}

impl Source {
    /// `ws` or `rest`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ws => "ws",
            Source::Rest => "rest",
        }
    }
}

/// One price update of one pair, as published on NATS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceMessage {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u8,
    /// Serialised as `BASE/QUOTE`.
    pub pair: Pair,
    /// Last traded price, exact decimal text from Kraken.
    pub price: Price,
    /// Which Kraken API delivered it.
    pub source: Source,
    /// Kraken's own timestamp of the ticker data, when it sent one (WS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_time: Option<Timestamp>,
    /// The time the price is known to be the last trade, on **Kraken's clock**: the WS frame's
    /// stamp, or for REST the request's send time converted to Kraken's clock with a lower
    /// bound of the clock offset (docs/architecture.md, "Ordering"). Absent in messages of
    /// older ingestors, which are then ordered by `exchange_time` or `received_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Timestamp>,
    /// When the ingestor received the price (for REST: when the request was sent, so a slow
    /// answer never looks newer than a WS update that arrived meanwhile).
    pub received_at: Timestamp,
    /// When this message was published. A quiet pair is re-published with the same price and
    /// times but a new `published_at`: the feed confirms the price is still the last one.
    pub published_at: Timestamp,
    /// Per pair, per ingestor instance, increasing by one with every message.
    pub seq: u64,
    /// Id of the ingestor instance that published it.
    pub ingestor: Arc<str>,
}

impl PriceMessage {
    /// The time the price refers to: `as_of` (Kraken's clock), else Kraken's timestamp, else
    /// (old REST messages) when it was received.
    pub fn event_time(&self) -> Timestamp {
        self.as_of
            .or(self.exchange_time)
            .unwrap_or(self.received_at)
    }

    /// The order of two messages of one pair: event time, then receive time, then the
    /// confirmation time (`published_at`), so that of two confirmations of the same price the
    /// later one wins and freshness never goes back either. Event times of current ingestors
    /// are all on Kraken's clock, so no host's clock decides which trade is newer.
    pub fn order_key(&self) -> (Timestamp, Timestamp, Timestamp) {
        (self.event_time(), self.received_at, self.published_at)
    }

    /// Whether `self` may replace `current` in a cache: never with an older price
    /// ([`Self::order_key`]). Equal keys replace: the same message delivered twice is harmless.
    pub fn supersedes(&self, current: &PriceMessage) -> bool {
        self.order_key() >= current.order_key()
    }
}

/// How price messages are encoded on NATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// MessagePack with named fields (a map), the default.
    #[default]
    Msgpack,
    /// JSON, readable with any NATS client.
    Json,
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The `Content-Type` header names an encoding we do not know.
    #[error("unsupported content type {0:?}")]
    ContentType(String),
    /// Malformed MessagePack, or a field with a bad value.
    #[error("invalid msgpack price message: {0}")]
    Msgpack(#[from] rmp_serde::decode::Error),
    /// Malformed JSON, or a field with a bad value.
    #[error("invalid json price message: {0}")]
    Json(#[from] serde_json::Error),
}

impl Encoding {
    /// The `Content-Type` header value for this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Msgpack => CONTENT_TYPE_MSGPACK,
            Encoding::Json => CONTENT_TYPE_JSON,
        }
    }

    /// Parses a `Content-Type` value (parameters such as `; charset=utf-8` are ignored).
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case(CONTENT_TYPE_MSGPACK)
            || media.eq_ignore_ascii_case("application/x-msgpack")
        {
            Some(Encoding::Msgpack)
        } else if media.eq_ignore_ascii_case(CONTENT_TYPE_JSON) {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// The payload to publish; infallible (strings and integers only).
    pub fn encode(self, msg: &PriceMessage) -> Bytes {
        // Cannot fail: only strings, integers and string-keyed maps, written to a Vec.
        let bytes = match self {
            Encoding::Msgpack => {
                rmp_serde::to_vec_named(msg).expect("msgpack encoding is infallible")
            }
            Encoding::Json => serde_json::to_vec(msg).expect("json encoding is infallible"),
        };
        Bytes::from(bytes)
    }

    /// Decodes a payload in this encoding.
    pub fn decode(self, payload: &[u8]) -> Result<PriceMessage, DecodeError> {
        Ok(match self {
            Encoding::Msgpack => rmp_serde::from_slice(payload)?,
            Encoding::Json => serde_json::from_slice(payload)?,
        })
    }
}

/// Decodes a price message by its `Content-Type` header; without one, by its first byte (a JSON
/// object starts with `{` or whitespace, a MessagePack map with `0x80..=0x8f`, `0xde` or `0xdf`).
pub fn decode(content_type: Option<&str>, payload: &[u8]) -> Result<PriceMessage, DecodeError> {
    let encoding = match content_type {
        Some(ct) => Encoding::from_content_type(ct)
            .ok_or_else(|| DecodeError::ContentType(ct.to_owned()))?,
        None => match payload.first() {
            Some(b'{' | b' ' | b'\t' | b'\r' | b'\n') => Encoding::Json,
            _ => Encoding::Msgpack,
        },
    };
    encoding.decode(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of docs/architecture.md, "Price message".
    fn sample(price: &str) -> PriceMessage {
        let published = "2026-07-08T05:24:41.210100Z".parse().expect("ts");
        PriceMessage {
            exchange_time: Some("2026-07-08T05:24:41.204829Z".parse().expect("ts")),
            as_of: Some("2026-07-08T05:24:41.204829Z".parse().expect("ts")),
            received_at: "2026-07-08T05:24:41.210000123Z".parse().expect("ts"),
            seq: 42,
            ingestor: Arc::from("ingestor-1"),
            ..crate::test_support::price_message_at("BTC/USD", price, published)
        }
    }

    #[test]
    fn prices_keep_their_exact_text_through_both_encodings() {
        for text in [
            "0.00044780",
            "58033",
            "62702.9",
            "83744.30000",
            "1e-7",
            "0.10035",
        ] {
            let msg = sample(text);
            for enc in [Encoding::Msgpack, Encoding::Json] {
                let bytes = enc.encode(&msg);
                let back = decode(Some(enc.content_type()), &bytes).expect("decodes");
                assert_eq!(back.price.as_str(), text, "{enc:?}");
                assert_eq!(back, msg);
                // Also without a header, by sniffing.
                assert_eq!(decode(None, &bytes).expect("sniffed"), msg);
            }
        }
    }

    #[test]
    fn msgpack_uses_named_fields() {
        let bytes = Encoding::Msgpack.encode(&sample("1.5"));
        let value: rmpv::Value = rmpv::decode::read_value(&mut &bytes[..]).expect("msgpack");
        let keys: Vec<_> = value
            .as_map()
            .expect("a map, not an array")
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "v",
                "pair",
                "price",
                "source",
                "exchange_time",
                "as_of",
                "received_at",
                "published_at",
                "seq",
                "ingestor"
            ]
        );
    }

    #[test]
    fn json_shape_is_the_documented_one() {
        let json =
            String::from_utf8(Encoding::Json.encode(&sample("62702.9")).to_vec()).expect("utf8");
        assert_eq!(
            json,
            r#"{"v":1,"pair":"BTC/USD","price":"62702.9","source":"ws","exchange_time":"2026-07-08T05:24:41.204829Z","as_of":"2026-07-08T05:24:41.204829Z","received_at":"2026-07-08T05:24:41.210000123Z","published_at":"2026-07-08T05:24:41.2101Z","seq":42,"ingestor":"ingestor-1"}"#
        );
        let mut rest = sample("1");
        rest.exchange_time = None;
        rest.source = Source::Rest;
        let json = String::from_utf8(Encoding::Json.encode(&rest).to_vec()).expect("utf8");
        assert!(!json.contains("exchange_time") && json.contains(r#""source":"rest""#));
    }

    #[test]
    fn price_grammar() {
        for ok in ["1", "0.1", "58033", "0.00044780", "1.5e3", "2E-7", "10.0"] {
            assert!(Price::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-1", "+1", "01", "1.", ".5", "1e", "NaN", "inf", "1,5", " 1", "0x10", "1e+",
        ] {
            assert!(
                matches!(Price::parse(bad), Err(PriceError::Malformed(_))),
                "{bad:?}"
            );
        }
        for zero in ["0", "0.0", "0.00000000", "0e5"] {
            assert_eq!(Price::parse(zero), Err(PriceError::Zero), "{zero}");
        }
        assert!(Price::parse(&"1".repeat(65)).is_err());
    }

    #[test]
    fn decoding_rejects_bad_input_with_a_reason() {
        assert!(matches!(
            decode(Some("text/plain"), b"{}"),
            Err(DecodeError::ContentType(_))
        ));
        assert!(decode(Some(CONTENT_TYPE_JSON), b"{\"v\":1}").is_err());
        assert!(decode(None, &[0xc1]).is_err());
        let bad_price = r#"{"v":1,"pair":"BTC/USD","price":"NaN","source":"ws","received_at":"2026-07-08T05:24:41Z","published_at":"2026-07-08T05:24:41Z","seq":1,"ingestor":"x"}"#;
        let err = decode(Some(CONTENT_TYPE_JSON), bad_price.as_bytes()).expect_err("NaN");
        assert!(err.to_string().contains("not a decimal price"), "{err}");
    }

    #[test]
    fn ordering_never_goes_back_in_time() {
        let ws = sample("100");
        let mut rest = sample("99");
        rest.source = Source::Rest;
        rest.exchange_time = None;
        // Our clocks say the REST request went out a second after the trade, but on Kraken's
        // clock it arrived before it: the socket's trade stays.
        rest.received_at = "2026-07-08T05:24:42.2Z".parse().expect("ts");
        rest.as_of = Some("2026-07-08T05:24:41.1Z".parse().expect("ts"));
        assert!(!rest.supersedes(&ws));
        assert!(ws.supersedes(&rest));
        // On Kraken's clock after the trade: the REST answer includes it or a later one.
        rest.received_at = "2026-07-08T05:24:40Z".parse().expect("ts");
        rest.as_of = Some("2026-07-08T05:24:41.3Z".parse().expect("ts"));
        assert!(rest.supersedes(&ws));
        // A re-publish of the same price refreshes it; an older confirmation does not.
        let mut again = ws.clone();
        again.published_at = "2026-07-08T05:24:50Z".parse().expect("ts");
        again.seq += 1;
        assert!(again.supersedes(&ws));
        assert!(!ws.supersedes(&again));
        assert!(ws.supersedes(&ws.clone()), "the same message twice");
    }

    #[test]
    fn messages_without_as_of_keep_the_old_order() {
        let mut old_ws = sample("100");
        old_ws.as_of = None;
        assert_eq!(old_ws.event_time(), old_ws.exchange_time.expect("set"));
        let mut old_rest = old_ws.clone();
        old_rest.exchange_time = None;
        assert_eq!(old_rest.event_time(), old_rest.received_at);
        // And they decode from JSON written before the field existed.
        let json = r#"{"v":1,"pair":"BTC/USD","price":"1","source":"rest","received_at":"2026-07-08T05:24:41Z","published_at":"2026-07-08T05:24:41Z","seq":1,"ingestor":"x"}"#;
        let msg = decode(Some(CONTENT_TYPE_JSON), json.as_bytes()).expect("old message");
        assert_eq!(msg.as_of, None);
        assert_eq!(msg.event_time(), msg.received_at);
    }
}
