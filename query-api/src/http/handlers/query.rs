//! The query parameters of a request, parsed against the served pairs.

use common::Pair;
use salvo::Request;

use crate::freshness::{Freshness, parse_max_age};
use crate::http::state::AppState;
use crate::http::status::ApiError;
use crate::params::{Rejected, decode_param, parse_flag, query_param, raw_params};

/// The distinct pairs of the query parameter `name` (`pair` for reads, `pairs` for refreshes),
/// every served pair when it is absent or empty.
pub(super) fn requested_pairs(
    state: &AppState,
    req: &Request,
    name: &'static str,
) -> Result<Vec<Pair>, ApiError> {
    let max = state.config.limits.max_pairs as usize;
    let value = query_param(req.uri().query(), name)?;
    Ok(state.served.parse(value.as_deref(), max)?)
}

/// What a price read asks for: `pair`, `skip_invalid` and `max_age`.
pub(super) struct PriceQuery {
    /// The distinct valid pairs, in request order (every served pair, sorted, when absent).
    pub pairs: Vec<Pair>,
    /// Elements refused with `skip_invalid=true`.
    pub rejected: Vec<Rejected>,
    /// The TTL and the client's `max_age`.
    pub freshness: Freshness,
}

/// Parses a price read's parameters; any bad one is a 400.
pub(super) fn price_query(state: &AppState, req: &Request) -> Result<PriceQuery, ApiError> {
    let [max_age, skip_invalid, pair] =
        raw_params(req.uri().query(), ["max_age", "skip_invalid", "pair"]);
    let max_age = match decode_param("max_age", max_age)? {
        Some(value) => parse_max_age(&value)?,
        None => None,
    };
    let freshness = Freshness::with_max_age(state.ttl_ms, max_age);
    let skip_invalid = parse_flag(
        "skip_invalid",
        decode_param("skip_invalid", skip_invalid)?.as_deref(),
    )?;
    let max = state.config.limits.max_pairs as usize;
    let value = decode_param("pair", pair)?;
    if !skip_invalid {
        return Ok(PriceQuery {
            pairs: state.served.parse(value.as_deref(), max)?,
            rejected: Vec::new(),
            freshness,
        });
    }
    let parsed = state.served.parse_lenient(value.as_deref(), max)?;
    Ok(PriceQuery {
        pairs: parsed.pairs,
        rejected: parsed.rejected,
        freshness,
    })
}
