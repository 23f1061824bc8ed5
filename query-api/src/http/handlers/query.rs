//! The `pair` / `pairs` query parameter of a request, parsed against the served pairs.

use common::Pair;
use salvo::Request;

use crate::http::state::AppState;
use crate::http::status::ApiError;
use crate::params::query_param;

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
