//! `GET /api/v1/status`: the feed as this replica last heard of it (socket, REST fallback,
//! ingestors present), for the board and for operators.

use jiff::{SignedDuration, Timestamp};
use salvo::Response;
use salvo::oapi::endpoint;

use crate::http::bodies::{self, AuthErrorBody, RateLimitBody};
use crate::http::feed_body::{FeedView, StatusBody};
use crate::http::state::AppState;
use crate::http::status::Answer;

/// The feed's state.
#[derive(Debug, Clone)]
pub struct GetStatus(pub AppState);

/// The feed's state.
///
/// What this replica knows of the ingestors: from their status events (`ltp.status.kraken`)
/// and from the prices they publish (each names its ingestor; a WebSocket price shows the
/// socket delivers). An ingestor is `present` when heard of within the TTL. Also the served
/// pairs and the TTL, so a client can tell fresh prices from ageing ones.
#[endpoint(
    tags("operations"),
    security((), ("api_key" = [])),
    operation_id = "status",
    responses(
        (status_code = 200, description = "The feed's state", body = StatusBody),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 429, description = "Rate limit exceeded", body = RateLimitBody),
    )
)]
impl GetStatus {
    async fn handle(&self, res: &mut Response) {
        let state = &self.0;
        let now = Timestamp::now();
        let ttl = SignedDuration::from_millis(i64::try_from(state.ttl_ms).unwrap_or(i64::MAX));
        let body = StatusBody::new(FeedView {
            now,
            ttl,
            pairs: &state.served.pairs,
            nats_connected: state.readiness.nats(),
            ingestors: state.feed.snapshot(now, ttl),
        });
        bodies::write(res, Answer::Done.status(), bodies::to_json(&body));
    }
}
