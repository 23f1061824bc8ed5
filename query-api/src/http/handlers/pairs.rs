//! `GET /api/v1/pairs`: the pair registry — every market the service knows, Kraken's names for
//! it, and for the configured ones whether a price can be served now.

use common::Pair;
use jiff::Timestamp;
use salvo::oapi::endpoint;
use salvo::{Request, Response};

use crate::cache::Lookup;
use crate::http::bodies::{self, AuthErrorBody, PairInfo, PairsResponse, RateLimitBody};
use crate::http::state::AppState;
use crate::http::status::Answer;

/// The pair registry.
#[derive(Debug, Clone)]
pub struct GetPairs(pub AppState);

/// Every pair the service knows.
///
/// Sorted by pair: the canonical name, Kraken's names (WebSocket v2 symbol, REST altname and
/// result key), the aliases accepted wherever a pair is read, whether this deployment serves
/// it, and for served pairs whether a price within the TTL is cached now and its source.
/// Query parameters are ignored.
#[endpoint(
    tags("prices"),
    security((), ("api_key" = [])),
    operation_id = "get_pairs",
    responses(
        (status_code = 200, description = "Every known pair, sorted by pair", body = PairsResponse),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 429, description = "Rate limit exceeded", body = RateLimitBody),
    )
)]
impl GetPairs {
    async fn handle(&self, _req: &mut Request, res: &mut Response) {
        let state = &self.0;
        let now_ms = Timestamp::now().as_millisecond();
        let served = &state.served.sorted;
        let found = state
            .cache
            .lookup(served, now_ms, state.ttl_ms, &state.board)
            .await;
        let pairs = Pair::all()
            .map(|pair| {
                let lookup = served.binary_search(&pair).ok().map(|i| &found.lookups[i]);
                info(pair, lookup)
            })
            .collect();
        let body = bodies::to_json(&PairsResponse { pairs });
        bodies::write(res, Answer::Done.status(), body);
        bodies::mark_degraded(res, found.degraded);
    }
}

/// One market; `lookup` is what the cache holds when the pair is configured.
fn info(pair: Pair, lookup: Option<&Lookup>) -> PairInfo {
    let market = pair.market();
    PairInfo {
        pair: market.symbol.to_owned(),
        ws_symbol: market.symbol.to_owned(),
        rest_altname: market.rest_altname.to_owned(),
        rest_key: market.rest_key.to_owned(),
        aliases: pair.aliases().into_iter().map(str::to_owned).collect(),
        configured: lookup.is_some(),
        available: lookup.map(Result::is_ok),
        source: lookup
            .and_then(|l| l.as_ref().ok())
            .map(|e| e.message().source.as_str().to_owned()),
        reason: lookup
            .and_then(|l| l.as_ref().err())
            .map(|m| m.label().to_owned()),
    }
}
