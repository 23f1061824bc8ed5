//! `POST /api/v1/ltp/refresh?pairs=`: asks an ingestor to fetch the pairs from Kraken now,
//! stores the answers in this replica's cache and returns them. Never 200 for a failure.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use common::Pair;
use common::control::{FailureCode, RefreshReply, RefreshRequest};
use jiff::Timestamp;
use salvo::http::StatusCode;
use salvo::oapi::endpoint;
use salvo::{Request, Response};

use crate::api::{AuthErrorBody, ErrorBody, RateLimitBody, RefreshResponse};
use crate::cache::Entry;
use crate::error::{ApiError, write_json};
use crate::json;
use crate::params::query_param;
use crate::refresh::RefreshError;
use crate::render;
use crate::state::AppState;

/// Refresh from Kraken through an ingestor.
#[derive(Debug, Clone)]
pub struct PostRefresh(pub AppState);

/// Refresh prices from Kraken now.
///
/// Asks an ingestor (over NATS) to fetch `pairs` from Kraken's REST API; the new prices are
/// stored in the cache and returned. Any pair that could not be refreshed makes the answer a
/// 502 with per-pair `errors`. The request body is ignored.
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
        (status_code = 502, description = "Kraken failed for some pairs (REFRESH_FAILED, per-pair errors), or the ingestor's reply was invalid", body = RefreshResponse),
        (status_code = 503, description = "NO_INGESTOR (none running), NATS_UNAVAILABLE or CACHE_ERROR", body = ErrorBody),
        (status_code = 504, description = "INGESTOR_TIMEOUT or TIMEOUT: no answer in time", body = ErrorBody),
    )
)]
impl PostRefresh {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        let state = &self.0;
        let max = state.config.limits.max_pairs as usize;
        let pairs = match query_param(req.uri().query(), "pairs")
            .and_then(|value| state.served.parse(value.as_deref(), max))
        {
            Ok(pairs) => pairs,
            Err(err) => return ApiError::from(err).write_to(res),
        };
        let request = RefreshRequest {
            pairs: pairs.iter().map(|p| p.as_str().to_owned()).collect(),
            snapshot: false,
        };
        let reply = tokio::time::timeout(
            state.config.limits.request_timeout,
            state.refresher.request(&request),
        )
        .await;
        let reply = match reply {
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => {
                state.metrics.refresh(match err {
                    RefreshError::NoResponders => "no_ingestor",
                    RefreshError::TimedOut => "timeout",
                    RefreshError::Nats(_) => "nats_error",
                    RefreshError::BadReply(_) => "bad_reply",
                });
                return ApiError::Refresh(err).write_to(res);
            }
            Err(_) => {
                state.metrics.refresh("timeout");
                return ApiError::Timeout.write_to(res);
            }
        };
        let outcome = Outcome::of(&pairs, reply);
        if let Err(err) = state.cache.store(outcome.entries.clone()).await {
            state.metrics.refresh("cache_error");
            return ApiError::CacheUnavailable(Some(err)).write_to(res);
        }
        state.metrics.refresh(if outcome.failures.is_empty() {
            "success"
        } else {
            "kraken_error"
        });
        let (status, body) = outcome.render(&pairs);
        write_json(res, status, body);
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

    fn render(&self, asked: &[Pair]) -> (StatusCode, bytes::Bytes) {
        let now_ms = Timestamp::now().as_millisecond();
        let mut out = BytesMut::with_capacity(256 * (self.entries.len() + 1));
        let ok = self.failures.is_empty();
        if ok {
            out.put_slice(b"{\"message\":\"Prices refreshed successfully\",\"pairs\":[");
        } else {
            out.put_slice(b"{\"error\":\"REFRESH_FAILED\",\"message\":\"Prices refreshed with errors\",\"pairs\":[");
        }
        for (i, pair) in asked.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            json::push_str(&mut out, pair.as_str());
        }
        out.put_slice(b"],\"ltp\":[");
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            entry.write_item(&mut out, entry.age_ms(now_ms));
        }
        out.put_u8(b']');
        if !ok {
            out.put_slice(b",\"errors\":[");
            for (i, (pair, code, message)) in self.failures.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                render::pair_error(&mut out, pair, "Refresh failed", code, message, None);
            }
            out.put_u8(b']');
        }
        out.put_slice(b"}\n");
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::BAD_GATEWAY
        };
        (status, out.freeze())
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
