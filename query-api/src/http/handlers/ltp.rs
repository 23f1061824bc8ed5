//! `GET /api/v1/ltp` and `GET /api/v1/ltp/cached`: reads from the cache only, never a call
//! to the exchange.

use jiff::Timestamp;
use salvo::oapi::endpoint;
use salvo::{Request, Response};

use super::query::requested_pairs;
use crate::cache::{Lookup, Miss};
use crate::http::bodies::{self, AuthErrorBody, ErrorBody, LtpResponse, RateLimitBody};
use crate::http::ltp_body;
use crate::http::state::AppState;
use crate::http::status::{Answer, ApiError};

/// Last traded prices of one, several or all served pairs.
#[derive(Debug, Clone)]
pub struct GetLtp(pub AppState);

/// Last traded prices.
///
/// `pair` is a comma-separated list (`BTC/USD,eth/usd`): trimmed, case-insensitive, each pair
/// answered once; empty or absent means every served pair. Each price carries its time and
/// age; a price older than the cache TTL is never served but reported in `errors`. While Redis
/// cannot be asked, the replica answers from the prices it received itself (within the TTL)
/// with the header `X-Cache-Degraded: redis-unavailable`.
#[endpoint(
    tags("prices"),
    security((), ("api_key" = [])),
    operation_id = "get_ltp",
    parameters(
        ("pair" = Option<String>, Query, description = "Comma-separated pairs, e.g. BTC/USD,ETH/USD; empty = all served pairs"),
    ),
    responses(
        (status_code = 200, description = "Every pair has a fresh price; sorted by pair", body = LtpResponse),
        (status_code = 206, description = "Some pairs have no fresh price: see `errors`", body = LtpResponse),
        (status_code = 400, description = "INVALID_PARAMETER: malformed or unsupported pair", body = ErrorBody),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 414, description = "URL too long", body = ErrorBody),
        (status_code = 429, description = "Rate limit exceeded", body = RateLimitBody),
        (status_code = 431, description = "Request headers too large", body = ErrorBody),
        (status_code = 503, description = "No pair has a fresh price: see `errors`", body = LtpResponse),
    )
)]
impl GetLtp {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        let state = &self.0;
        let pairs = match requested_pairs(state, req, "pair") {
            Ok(pairs) => pairs,
            Err(err) => return err.write_to(res),
        };
        let now_ms = Timestamp::now().as_millisecond();
        let found = state
            .cache
            .lookup(&pairs, now_ms, state.ttl_ms, &state.board)
            .await;
        let (status, body) = ltp_body::ltp(&pairs, &found.lookups, now_ms, &state.metrics);
        bodies::write(res, status, body);
        bodies::mark_degraded(res, found.degraded);
    }
}

/// Every served pair's fresh price.
#[derive(Debug, Clone)]
pub struct GetCached(pub AppState);

/// Every cached fresh price.
///
/// Pairs without a fresh price are left out; query parameters are ignored. While Redis cannot
/// be asked, the replica's own prices, with `X-Cache-Degraded: redis-unavailable`.
#[endpoint(
    tags("prices"),
    security((), ("api_key" = [])),
    operation_id = "get_cached",
    responses(
        (status_code = 200, description = "Fresh prices, sorted by pair (possibly none)", body = LtpResponse),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 429, description = "Rate limit exceeded", body = RateLimitBody),
        (status_code = 503, description = "CACHE_ERROR: Redis is unreachable and this replica has no fresh price of its own", body = ErrorBody),
    )
)]
impl GetCached {
    async fn handle(&self, res: &mut Response) {
        let state = &self.0;
        let pairs = &state.served.sorted;
        let now_ms = Timestamp::now().as_millisecond();
        let found = state
            .cache
            .lookup(pairs, now_ms, state.ttl_ms, &state.board)
            .await;
        let unavailable = |f: &Lookup| matches!(f, Err(Miss::Unavailable));
        if found.lookups.iter().all(unavailable) {
            return ApiError::CacheUnavailable(None).write_to(res);
        }
        let body = ltp_body::cached(&found.lookups, now_ms);
        bodies::write(res, Answer::Done.status(), body);
        bodies::mark_degraded(res, found.degraded);
    }
}
