//! The response bodies, as types: they generate the OpenAPI schemas, every body but the hot
//! one is serialised from them ([`to_json`]), and clients (and tests) can decode responses with
//! them. The hot path (`GET /api/v1/ltp` and `/cached`) writes the same JSON by hand from items
//! prepared when a price arrives (`cache/entry.rs`, `http/ltp_body.rs`); a test here checks that
//! the hand-written item equals [`LtpItem`].
//!
//! Schema names are pinned (`LtpItem`, not a Rust path), so moving this module renames nothing
//! a client generated code from.

use std::collections::BTreeMap;

use bytes::Bytes;
use salvo::Response;
use salvo::http::header::CONTENT_TYPE;
use salvo::http::{HeaderName, HeaderValue, ResBody, StatusCode};
use salvo::oapi::ToSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::cache::{Degraded, Entry};
use crate::json;

/// `Content-Type` of every JSON body (as the seed: no charset parameter).
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Sets a prepared JSON body with its status.
pub fn write(res: &mut Response, status: StatusCode, body: impl Into<Bytes>) {
    res.status_code(status);
    res.headers_mut().insert(CONTENT_TYPE, JSON);
    res.replace_body(ResBody::Once(body.into()));
}

/// Set on an answer whose prices come from this replica's own view because the shared cache
/// could not be asked: `X-Cache-Degraded: redis-unavailable`.
pub const CACHE_DEGRADED: HeaderName = HeaderName::from_static("x-cache-degraded");

/// Marks `res` with [`CACHE_DEGRADED`] when `degraded` is set.
pub fn mark_degraded(res: &mut Response, degraded: Option<Degraded>) {
    if let Some(degraded) = degraded {
        res.headers_mut()
            .insert(CACHE_DEGRADED, HeaderValue::from_static(degraded.as_str()));
    }
}

/// `body` serialised as the seed's encoder would have: Go's escaping, a final newline.
pub fn to_json<T: Serialize>(body: &T) -> Vec<u8> {
    json::to_body(body)
}

/// One pair's last traded price.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "LtpItem"))]
pub struct LtpItem {
    /// The pair, `BASE/QUOTE`.
    #[salvo(schema(example = "BTC/USD"))]
    pub pair: String,
    /// The price as a JSON number, written from the exact decimal Kraken sent (never
    /// re-rounded: `0.00044780` stays `0.00044780`). Kept raw here so decoding loses nothing.
    #[salvo(schema(value_type = f64, example = 62702.9))]
    pub amount: Box<RawValue>,
    /// The same decimal as a string, for clients whose JSON numbers are binary floats.
    #[salvo(schema(example = "62702.9"))]
    pub price: String,
    /// When the price was last confirmed as the last traded price (RFC 3339).
    #[salvo(schema(format = DateTime))]
    pub timestamp: String,
    /// Milliseconds since `timestamp`; never more than the cache TTL.
    pub age_ms: u64,
    /// Kraken's own timestamp of the ticker data, when it sent one (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[salvo(schema(format = DateTime))]
    pub exchange_time: Option<String>,
    /// `ws` (Kraken WebSocket) or `rest` (Kraken REST fallback).
    #[salvo(schema(example = "ws"))]
    pub source: String,
}

impl LtpItem {
    /// The item of `entry`, `age_ms` old: the serde twin of [`Entry::write_item`].
    pub fn of(entry: &Entry, age_ms: u64) -> LtpItem {
        let msg = entry.message();
        let price = msg.price.as_str();
        LtpItem {
            pair: msg.pair.as_str().to_owned(),
            // A validated price is a JSON number (`common::Price`): `null` is never written.
            amount: RawValue::from_string(price.to_owned())
                .unwrap_or_else(|_| RawValue::NULL.to_owned()),
            price: price.to_owned(),
            timestamp: msg.published_at.to_string(),
            age_ms,
            exchange_time: msg.exchange_time.map(|t| t.to_string()),
            source: msg.source.as_str().to_owned(),
        }
    }
}

/// Why one pair has no price in the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "PairError"))]
pub struct PairError {
    /// The pair, as canonical `BASE/QUOTE`; for an element refused with `skip_invalid=true`,
    /// the element as sent.
    pub pair: String,
    /// `Failed to fetch price` (or `Refresh failed` for refreshes).
    pub error: String,
    /// `PRICE_FETCH_ERROR` for reads (`INVALID_PARAMETER` for an element refused with
    /// `skip_invalid=true`); for refreshes the ingestor's failure code
    /// (`KRAKEN_ERROR`, `KRAKEN_UNAVAILABLE`, `INVALID_PAIR`, `PAIR_NOT_SERVED`, `BAD_REQUEST`),
    /// `NO_PRICE` or `CACHE_ERROR`.
    pub code: String,
    /// Human-readable detail, e.g. `price not available in cache for ETH/USD (cache-only
    /// mode): key expired`.
    pub message: String,
    /// For reads: `not_found`, `expired`, `stale` (older than `max_age`), `cache_unavailable`,
    /// `invalid` (cached value unreadable) or `invalid_pair` (refused with `skip_invalid=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `reason` `stale`: the price's age in milliseconds when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
}

/// `GET /api/v1/ltp` and `/api/v1/ltp/cached`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "LtpResponse"))]
pub struct LtpResponse {
    /// Prices found: sorted by pair on 200, in request order on 206, empty on 503.
    pub ltp: Vec<LtpItem>,
    /// Present on 206 and 503: the pairs without a price, in request order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<PairError>>,
}

/// One market of `GET /api/v1/pairs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "PairInfo"))]
pub struct PairInfo {
    /// Canonical `BASE/QUOTE`, the name every answer uses.
    #[salvo(schema(example = "BTC/USD"))]
    pub pair: String,
    /// Kraken's WebSocket v2 symbol (the same as `pair`).
    #[salvo(schema(example = "BTC/USD"))]
    pub ws_symbol: String,
    /// Kraken's REST `altname` (what a `Ticker` request sends).
    #[salvo(schema(example = "XBTUSD"))]
    pub rest_altname: String,
    /// Kraken's REST result key (what a `Ticker` answer is keyed by).
    #[salvo(schema(example = "XXBTZUSD"))]
    pub rest_key: String,
    /// Other names accepted for this pair wherever a pair is read (case-insensitive): Kraken's
    /// WebSocket v1 name, REST altname and result key, and `BASE-QUOTE`.
    pub aliases: Vec<String>,
    /// Whether this deployment serves the pair (`business.supported_pairs`).
    pub configured: bool,
    /// Configured pairs only: whether a price within the TTL is cached now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
    /// Available pairs only: where the cached price came from, `ws` or `rest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Configured pairs without a price only: `not_found`, `expired`, `cache_unavailable` or
    /// `invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/v1/pairs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "PairsResponse"))]
pub struct PairsResponse {
    /// Every market the service knows, sorted by pair.
    pub pairs: Vec<PairInfo>,
}

/// `POST /api/v1/ltp/refresh` when every pair was refreshed (200) or some failed (502).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "RefreshResponse"))]
pub struct RefreshResponse {
    /// On failure only: `REFRESH_FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `Prices refreshed successfully` or `Prices refreshed with errors`.
    pub message: String,
    /// The pairs asked for.
    pub pairs: Vec<String>,
    /// The new prices (also stored in this replica's cache), sorted by pair.
    pub ltp: Vec<LtpItem>,
    /// On failure only: the pairs that could not be refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<PairError>>,
}

/// Any other error: `{"error": CODE, "message": text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "ErrorBody"))]
pub struct ErrorBody {
    /// A stable code: `INVALID_PARAMETER`, `NOT_FOUND`, `NO_INGESTOR`, `INGESTOR_TIMEOUT`, …
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

/// 401, as the seed sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "AuthErrorBody"))]
pub struct AuthErrorBody {
    /// `Authentication Failed`.
    pub error: String,
    /// `API key missing` or `Invalid API key`.
    pub message: String,
    /// `API_KEY_MISSING` or `API_KEY_INVALID`.
    pub code: String,
}

/// Details of a 429.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "RateLimitDetails"))]
pub struct RateLimitDetails {
    /// `Please reduce your request rate and try again`.
    pub limit_info: String,
    /// Same as the `Retry-After` header.
    pub retry_after_seconds: u32,
}

/// 429, as the seed sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "RateLimitBody"))]
pub struct RateLimitBody {
    /// The status again, as an integer (the seed's field).
    pub code: u16,
    /// When to retry.
    pub details: RateLimitDetails,
    /// `RATE_LIMIT_EXCEEDED`.
    pub error: String,
    /// `Rate limit exceeded. Please slow down your requests.`
    pub message: String,
}

/// `/health` and `/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "HealthBody"))]
pub struct HealthBody {
    /// `healthy` (/health); `ready`, `degraded` (ready, with a dependency degraded: see
    /// `services`) or `unhealthy` (/ready).
    pub status: String,
    /// Server time (RFC 3339).
    #[salvo(schema(format = DateTime))]
    pub timestamp: String,
    /// Per dependency: `ready`, `running`, `degraded: <why>` (still served: the cache is
    /// `degraded: redis-unavailable …` while Redis cannot be asked), or the reason it is not
    /// ready (`cache`, `nats`, `service`, `warmup`).
    pub services: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::message::SCHEMA_VERSION;
    use common::{Pair, Price, PriceMessage, Source};

    use super::*;

    fn entry(price: &str, exchange_time: Option<&str>) -> Entry {
        let at = |t: &str| t.parse().expect("timestamp");
        Entry::new(PriceMessage {
            v: SCHEMA_VERSION,
            pair: Pair::parse("ETH/USD").expect("known"),
            price: Price::parse(price).expect("valid"),
            source: if exchange_time.is_some() {
                Source::Ws
            } else {
                Source::Rest
            },
            exchange_time: exchange_time.map(at),
            as_of: None,
            received_at: at("2026-07-08T05:24:41.21Z"),
            published_at: at("2026-07-08T05:24:41.2101Z"),
            seq: 1,
            ingestor: Arc::from("i-1"),
        })
    }

    #[test]
    fn the_hand_written_item_equals_its_serde_type() {
        for (price, exchange_time) in [
            ("0.00044780", Some("2026-07-08T05:24:41.204829Z")),
            ("62702.9", None),
            ("1e-7", Some("2026-07-08T05:24:41Z")),
        ] {
            let entry = entry(price, exchange_time);
            for age in [0, 7, 29_999] {
                let mut by_hand = Vec::new();
                entry.write_item(&mut by_hand, age);
                let mut by_serde = Vec::new();
                json::write(&mut by_serde, &LtpItem::of(&entry, age)).expect("serialises");
                assert_eq!(
                    String::from_utf8(by_hand).expect("utf8"),
                    String::from_utf8(by_serde).expect("utf8")
                );
            }
        }
    }
}
