//! `GET /api/v1/ltp` and `GET /api/v1/ltp/cached`: reads from the cache only, never a call
//! to the exchange.

use jiff::Timestamp;
use salvo::http::header::{CACHE_CONTROL, ETAG};
use salvo::oapi::endpoint;
use salvo::{Request, Response};

use super::query::price_query;
use crate::cache::{Lookup, Miss};
use crate::http::bodies::{self, AuthErrorBody, ErrorBody, LtpResponse, RateLimitBody};
use crate::http::state::AppState;
use crate::http::status::{Answer, ApiError};
use crate::http::{etag, ltp_body};

/// Last traded prices of one, several or all served pairs.
#[derive(Debug, Clone)]
pub struct GetLtp(pub AppState);

/// Last traded prices.
///
/// `pair` is a comma-separated list (`BTC/USD,eth/usd`): trimmed, case-insensitive, each pair
/// answered once; Kraken's names are accepted too (`XBT/USD`, `XBTUSD`, `XXBTZUSD`, `BTC-USD`)
/// and answered with the canonical name; empty or absent means every served pair. Each price
/// carries its time and age; a price older than the cache TTL, or than `max_age`, is never
/// served but reported in `errors`. Every answer with prices carries a weak `ETag` (over
/// everything but `age_ms`) and `Cache-Control: no-cache`; `If-None-Match` with the current
/// tag answers 304 without a body. While Redis cannot be asked, the replica answers from the
/// prices it received itself (within the TTL) with `X-Cache-Degraded: redis-unavailable`.
#[endpoint(
    tags("prices"),
    security((), ("api_key" = [])),
    operation_id = "get_ltp",
    parameters(
        ("pair" = Option<String>, Query, description = "Comma-separated pairs, e.g. BTC/USD,ETH/USD (Kraken's names such as XBT/USD, XBTUSD, XXBTZUSD and BTC-USD are accepted); empty = all served pairs"),
        ("max_age" = Option<String>, Query, description = "Oldest price to serve: milliseconds (1500) or a whole number with a unit ms, s or m (500ms, 2s, 1m); above the cache TTL means the TTL. Older prices are reported in `errors` with reason `stale` and their `age_ms`"),
        ("skip_invalid" = Option<bool>, Query, description = "true: answer the valid pairs and list invalid ones in `errors` (206) instead of refusing the request (400)"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 if the answer is unchanged"),
    ),
    responses(
        (status_code = 200, description = "Every pair has a fresh price; sorted by pair", body = LtpResponse,
            headers(("ETag" = String, description = "Weak tag over the answer, age_ms excluded"), ("Cache-Control" = String, description = "no-cache"))),
        (status_code = 206, description = "Some pairs have no fresh price, or were invalid with skip_invalid=true: see `errors`", body = LtpResponse,
            headers(("ETag" = String, description = "Weak tag over the answer, age_ms excluded"), ("Cache-Control" = String, description = "no-cache"))),
        (status_code = 304, description = "Unchanged since the ETag in If-None-Match (no body)",
            headers(("ETag" = String, description = "The current tag"), ("Cache-Control" = String, description = "no-cache"))),
        (status_code = 400, description = "INVALID_PARAMETER: malformed or unsupported pair, bad max_age or skip_invalid", body = ErrorBody),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 414, description = "URL too long", body = ErrorBody),
        (status_code = 429, description = "Rate limit exceeded", body = RateLimitBody),
        (status_code = 431, description = "Request headers too large", body = ErrorBody),
        (status_code = 503, description = "No pair has a fresh price: see `errors`", body = LtpResponse,
            headers(("ETag" = String, description = "Weak tag over the answer, age_ms excluded"), ("Cache-Control" = String, description = "no-cache"))),
    )
)]
impl GetLtp {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        let state = &self.0;
        let query = match price_query(state, req) {
            Ok(query) => query,
            Err(err) => return err.write_to(res),
        };
        let now_ms = Timestamp::now().as_millisecond();
        let found = state
            .cache
            .lookup_within(&query.pairs, now_ms, query.freshness, &state.board)
            .await;
        let (found, degraded) = (found.lookups, found.degraded);
        let tag = etag::of(&found);
        let unchanged = ltp_body::answer(&found, &query.rejected)
            .status()
            .is_success()
            && etag::matches(req, &tag);
        let headers = res.headers_mut();
        headers.insert(ETAG, tag);
        headers.insert(CACHE_CONTROL, etag::NO_CACHE);
        bodies::mark_degraded(res, degraded);
        if unchanged {
            res.status_code(Answer::Unchanged.status());
            return;
        }
        let (status, body) = ltp_body::ltp(
            &query.pairs,
            &found,
            &query.rejected,
            now_ms,
            &state.metrics,
        );
        bodies::write(res, status, body);
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
