//! `GET /api/v1/ltp/stream`: prices as Server-Sent Events (the format is in
//! `http/stream/sse.rs`, the resume id in `http/stream/event_id.rs`).

use std::net::IpAddr;
use std::sync::Arc;

use salvo::http::HeaderValue;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use salvo::oapi::endpoint;
use salvo::{FlowCtrl, Request, Response};
use tokio_util::sync::CancellationToken;

use super::query::requested_pairs;
use crate::http::bodies::{AuthErrorBody, ErrorBody, RateLimitBody};
use crate::http::middleware::TrustedProxies;
use crate::http::state::AppState;
use crate::http::status::ApiError;
use crate::http::stream::cursor::Cursor;
use crate::http::stream::event_id::{self, Key};
use crate::http::stream::hub::{Kind, Permit, Refusal};
use crate::http::stream::progress::{self, Progress};
use crate::http::stream::sse::SseClient;
use common::Pair;

/// The SSE endpoint.
#[derive(Debug, Clone)]
pub struct GetStream {
    state: AppState,
    proxies: TrustedProxies,
}

impl GetStream {
    /// The handler over the shared state.
    pub fn new(state: AppState) -> GetStream {
        GetStream {
            proxies: TrustedProxies::new(state.access.trusted_proxies.clone()),
            state,
        }
    }
}

/// Live prices as Server-Sent Events.
///
/// First the current price of every requested pair that has one (`event: price`, `data` =
/// exactly a `GET /api/v1/ltp` item) and an `event: unavailable` for the others (`data` = the
/// per-pair error of `GET /api/v1/ltp`), then every change in order; a slow client gets the
/// newest price of each pair (never an older one after a newer). The `id` (on the last event
/// of each chunk the server writes; keep the last one seen) resumes the stream on any replica: reconnect with `Last-Event-ID` (browsers do) to get, per pair, the
/// current price only if it changed since. `: keep-alive` comments after
/// `streams.heartbeat` without an event; a final `event: close` (`reason`: `shutdown` or
/// `slow`, with `retry_ms`) before the server ends a stream. With auth on, the key may also
/// be given as the `api_key` query parameter (EventSource cannot set headers).
#[endpoint(
    tags("prices"),
    security((), ("api_key" = [])),
    operation_id = "stream_ltp",
    parameters(
        ("pair" = Option<String>, Query, description = "Comma-separated pairs, e.g. BTC/USD,ETH/USD; empty = all served pairs"),
        ("api_key" = Option<String>, Query, description = "The API key, for clients that cannot set headers (never logged)"),
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received, to resume"),
    ),
    responses(
        (status_code = 200, description = "`text/event-stream`: price, unavailable and close events"),
        (status_code = 400, description = "INVALID_PARAMETER: malformed or unsupported pair", body = ErrorBody),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 429, description = "Rate limit exceeded, or TOO_MANY_STREAMS from this client", body = RateLimitBody),
        (status_code = 503, description = "TOO_MANY_STREAMS on this replica (or it is stopping); see Retry-After", body = ErrorBody),
    )
)]
impl GetStream {
    async fn handle(&self, req: &mut Request, res: &mut Response, ctrl: &mut FlowCtrl) {
        let state = &self.state;
        let pairs = match requested_pairs(state, req, "pair") {
            Ok(pairs) => pairs,
            Err(err) => return err.write_to(res),
        };
        let resume = resume_keys(req);
        let permit = match open(state, Kind::Sse, self.proxies.client_ip(req)) {
            Ok(permit) => permit,
            Err(err) => return err.write_to(res),
        };
        let conn = ctrl.conn().clone();
        // The connection's idle timers would cut a quiet stream; the watchdog replaces them.
        conn.relax_timeouts();
        let config = state.streams.config();
        let progress = Arc::new(Progress::default());
        let done = CancellationToken::new();
        tokio::spawn(progress::watchdog(
            progress.clone(),
            Arc::downgrade(&permit),
            conn,
            config.stall_timeout,
            done.clone(),
        ));
        let client = SseClient {
            board: state.board.clone(),
            cursor: Cursor::new(&pairs, state.ttl_ms, &resume),
            closing: state.streams.closing().clone(),
            heartbeat: config.heartbeat,
            retry: config.retry,
            series: state.metrics.stream_series(Kind::Sse.label()),
            permit,
            progress,
            ids: state.streams.ids().clone(),
            _done: done.drop_guard(),
        };
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store"),
        );
        // nginx-style proxies: do not buffer the stream.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        res.stream(client.into_body());
    }
}

/// Opens a stream of `kind` for `client`, or the refusal as an error.
pub(super) fn open(state: &AppState, kind: Kind, client: IpAddr) -> Result<Arc<Permit>, ApiError> {
    match state.streams.open(kind, client) {
        Ok(permit) => Ok(Arc::new(permit)),
        Err(Refusal::ReplicaFull) => Err(ApiError::TooManyStreams {
            retry_after: state.streams.config().retry.as_secs().max(1) as u32,
        }),
        Err(Refusal::ClientFull) => Err(ApiError::TooManyClientStreams),
    }
}

/// The keys of `Last-Event-ID` (or the `last_event_id` query parameter, for polyfills);
/// nothing when absent or not ours.
fn resume_keys(req: &Request) -> Vec<(Pair, Key)> {
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let id = header.or_else(|| {
        crate::params::query_param(req.uri().query(), "last_event_id")
            .ok()
            .flatten()
            .map(|v| v.into_owned())
    });
    id.and_then(|id| event_id::decode(&id)).unwrap_or_default()
}
