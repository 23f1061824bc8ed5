//! The response bodies, as types: they generate the OpenAPI schemas, and clients (and tests)
//! can decode responses with them. The hot path writes the same JSON by hand (`render.rs`);
//! tests check that the two agree.

use std::collections::BTreeMap;

use salvo::oapi::ToSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One pair's last traded price.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

/// Why one pair has no price in the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PairError {
    /// The pair.
    pub pair: String,
    /// `Failed to fetch price` (or `Refresh failed` for refreshes).
    pub error: String,
    /// `PRICE_FETCH_ERROR` for reads; for refreshes the ingestor's failure code
    /// (`KRAKEN_ERROR`, `KRAKEN_UNAVAILABLE`, `INVALID_PAIR`, `PAIR_NOT_SERVED`, `BAD_REQUEST`),
    /// `NO_PRICE` or `CACHE_ERROR`.
    pub code: String,
    /// Human-readable detail, e.g. `price not available in cache for ETH/USD (cache-only
    /// mode): key expired`.
    pub message: String,
    /// For reads: `not_found`, `expired`, `cache_unavailable` or `invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/v1/ltp` and `/api/v1/ltp/cached`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LtpResponse {
    /// Prices found: sorted by pair on 200, in request order on 206, empty on 503.
    pub ltp: Vec<LtpItem>,
    /// Present on 206 and 503: the pairs without a price, in request order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<PairError>>,
}

/// `POST /api/v1/ltp/refresh` when every pair was refreshed (200) or some failed (502).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
pub struct ErrorBody {
    /// A stable code: `INVALID_PARAMETER`, `NOT_FOUND`, `NO_INGESTOR`, `INGESTOR_TIMEOUT`, …
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

/// 401, as the seed sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
pub struct RateLimitDetails {
    /// Advice.
    pub limit_info: String,
    /// Same as the `Retry-After` header.
    pub retry_after_seconds: u32,
}

/// 429, as the seed sent it (its `code` is the integer 429).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimitBody {
    /// 429.
    pub code: u16,
    /// When to retry.
    pub details: RateLimitDetails,
    /// `RATE_LIMIT_EXCEEDED`.
    pub error: String,
    /// Human-readable.
    pub message: String,
}

/// `/health` and `/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    /// `healthy` (/health), `ready` or `unhealthy` (/ready).
    pub status: String,
    /// Server time (RFC 3339).
    #[salvo(schema(format = DateTime))]
    pub timestamp: String,
    /// Per dependency: `ready`, `running`, or the reason it is not ready (`cache`, `nats`,
    /// `service`, `warmup`).
    pub services: BTreeMap<String, String>,
}
