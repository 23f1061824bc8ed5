//! `POST /api/v1/ltp/refresh?pairs=`: asks an ingestor to fetch the pairs from Kraken now,
//! stores the answers in this replica's cache and returns them. Never 200 for a failure.

use std::sync::Arc;

use common::Pair;
use common::control::{FailureCode, RefreshReply, RefreshRequest};
use common::otel::{TRACEPARENT, TRACESTATE};
use jiff::Timestamp;
use salvo::oapi::endpoint;
use salvo::{Request, Response};
use tracing::Instrument;

use super::query::requested_pairs;
use crate::cache::{Degraded, Entry};
use crate::http::bodies::{
    self, AuthErrorBody, ErrorBody, LtpItem, PairError, RateLimitBody, RefreshResponse,
};
use crate::http::state::AppState;
use crate::http::status::{Answer, ApiError};

/// Refresh from Kraken through an ingestor.
#[derive(Debug, Clone)]
pub struct PostRefresh(pub AppState);

/// Refresh prices from Kraken now.
///
/// Asks an ingestor (over NATS) to fetch `pairs` from Kraken's REST API; the new prices are
/// stored in the cache and returned. Any pair that could not be refreshed makes the answer a
/// 502 with per-pair `errors`. While Redis cannot be reached, the prices are kept by this
/// replica only and the answer carries `X-Cache-Degraded: redis-unavailable`. The request body
/// is ignored.
#[endpoint(
    tags("prices"),
    security((), ("api_key" = [])),
    operation_id = "refresh",
    parameters(
        ("pairs" = Option<String>, Query, description = "Comma-separated pairs; empty = all served pairs"),
    ),
    responses(
        (status_code = 200, description = "Every pair refreshed", body = RefreshResponse),
        (status_code = 400, description = "INVALID_PARAMETER: malformed or unsupported pair", body = ErrorBody),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 429, description = "Rate limit exceeded", body = RateLimitBody),
        (status_code = 500, description = "INTERNAL_ERROR: the request to the ingestor could not be encoded (a bug; never expected)", body = ErrorBody),
        (status_code = 502, description = "Kraken failed for some pairs (REFRESH_FAILED, per-pair errors), or the ingestor's reply was invalid", body = RefreshResponse),
        (status_code = 503, description = "NO_INGESTOR (none running), NATS_UNAVAILABLE or CACHE_ERROR (Redis refused the write)", body = ErrorBody),
        (status_code = 504, description = "INGESTOR_TIMEOUT or TIMEOUT: no answer in time", body = ErrorBody),
    )
)]
impl PostRefresh {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        // The refresh is traced: a child of the client's `traceparent` when it sent one.
        let span = tracing::info_span!(
            "refresh",
            otel.kind = "server",
            trace_id = tracing::field::Empty
        );
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        common::otel::adopt(&span, header(TRACEPARENT), header(TRACESTATE));
        refresh(&self.0, req, res).instrument(span).await;
    }
}

/// Answers one refresh request.
async fn refresh(state: &AppState, req: &mut Request, res: &mut Response) {
    let pairs = match requested_pairs(state, req, "pairs") {
        Ok(pairs) => pairs,
        Err(err) => return err.write_to(res),
    };
    let outcome = match ask(state, &pairs).await {
        Ok(reply) => Outcome::of(&pairs, reply),
        Err(err) => return err.write_to(res),
    };
    for entry in &outcome.entries {
        state.board.offer(entry.clone());
    }
    // Redis unreachable: the board holds the new prices and they are served (degraded).
    let degraded = match state.cache.store(outcome.entries.clone()).await {
        Ok(()) => None,
        Err(err) if err.is_outage() => Some(Degraded::RedisUnavailable),
        Err(err) => {
            state.metrics.refresh("cache_error");
            return ApiError::CacheUnavailable(Some(err)).write_to(res);
        }
    };
    state.metrics.refresh(if outcome.failures.is_empty() {
        "success"
    } else {
        "kraken_error"
    });
    let failed = outcome.failures.len();
    let body = bodies::to_json(&outcome.into_response(&pairs));
    bodies::write(res, Answer::Refreshed { failed }.status(), body);
    bodies::mark_degraded(res, degraded);
}

/// Sends the refresh request, bounded by `limits.request_timeout`; failures are counted.
async fn ask(state: &AppState, pairs: &[Pair]) -> Result<RefreshReply, ApiError> {
    let request = RefreshRequest {
        pairs: pairs.iter().map(|p| p.as_str().to_owned()).collect(),
        snapshot: false,
    };
    let reply = tokio::time::timeout(
        state.config.limits.request_timeout,
        state.refresher.request(&request),
    )
    .await;
    match reply {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(err)) => {
            state.metrics.refresh(err.label());
            Err(ApiError::Refresh(err))
        }
        Err(_) => {
            state.metrics.refresh("timeout");
            Err(ApiError::Timeout)
        }
    }
}

/// A reply sorted into what can be stored and what failed.
struct Outcome {
    entries: Vec<Arc<Entry>>,
    /// `(pair, code, message)` in request order.
    failures: Vec<(String, &'static str, &'static str)>,
}

impl Outcome {
    fn of(asked: &[Pair], reply: RefreshReply) -> Outcome {
        let mut entries: Vec<Arc<Entry>> = reply
            .prices
            .into_iter()
            .filter(|m| asked.contains(&m.pair))
            .map(|m| Arc::new(Entry::new(m)))
            .collect();
        entries.sort_by_key(|e| e.pair());
        entries.dedup_by_key(|e| e.pair());
        let mut failures = Vec::new();
        for pair in asked {
            if entries.iter().any(|e| e.pair() == *pair) {
                continue;
            }
            let failure = reply
                .errors
                .iter()
                .find(|f| Pair::parse(&f.pair).ok() == Some(*pair));
            if let Some(failure) = failure {
                // The ingestor's own text can carry upstream detail: logged, not returned.
                tracing::warn!(pair = %pair, code = ?failure.code, detail = %failure.message, ingestor = %reply.ingestor, "refresh failed for a pair");
            }
            let (code, message) = failure.map_or(
                ("NO_PRICE", "the ingestor returned no price for this pair"),
                |f| describe(f.code),
            );
            failures.push((pair.as_str().to_owned(), code, message));
        }
        Outcome { entries, failures }
    }

    /// The answer's body; `asked` in request order.
    fn into_response(self, asked: &[Pair]) -> RefreshResponse {
        let now_ms = Timestamp::now().as_millisecond();
        let ok = self.failures.is_empty();
        RefreshResponse {
            error: (!ok).then(|| "REFRESH_FAILED".to_owned()),
            message: if ok {
                "Prices refreshed successfully"
            } else {
                "Prices refreshed with errors"
            }
            .to_owned(),
            pairs: asked.iter().map(|p| p.as_str().to_owned()).collect(),
            ltp: self
                .entries
                .iter()
                .map(|e| LtpItem::of(e, e.age_ms(now_ms)))
                .collect(),
            errors: (!ok).then(|| {
                self.failures
                    .into_iter()
                    .map(|(pair, code, message)| PairError {
                        pair,
                        error: "Refresh failed".to_owned(),
                        code: code.to_owned(),
                        message: message.to_owned(),
                        reason: None,
                        age_ms: None,
                    })
                    .collect()
            }),
        }
    }
}

/// Code and fixed message for an ingestor failure.
fn describe(code: FailureCode) -> (&'static str, &'static str) {
    match code {
        FailureCode::InvalidPair => ("INVALID_PAIR", "the ingestor does not know this pair"),
        FailureCode::PairNotServed => ("PAIR_NOT_SERVED", "the ingestor does not serve this pair"),
        FailureCode::KrakenError => ("KRAKEN_ERROR", "Kraken refused the request for this pair"),
        FailureCode::KrakenUnavailable => (
            "KRAKEN_UNAVAILABLE",
            "Kraken is unreachable, throttling or in maintenance",
        ),
        FailureCode::BadRequest => ("BAD_REQUEST", "the ingestor refused the request"),
    }
}
