//! `GET /api/v1/ltp/ws`: prices over a WebSocket (the protocol is in `http/stream/ws.rs`).

use salvo::oapi::endpoint;
use salvo::websocket::WebSocketUpgrade;
use salvo::{Request, Response};

use super::stream::open;
use crate::http::bodies::{AuthErrorBody, ErrorBody, RateLimitBody};
use crate::http::middleware::TrustedProxies;
use crate::http::state::AppState;
use crate::http::status::ApiError;
use crate::http::stream::hub::Kind;
use crate::http::stream::ws::{MAX_MESSAGE_BYTES, WsSession};

/// The WebSocket endpoint.
#[derive(Debug, Clone)]
pub struct GetWs {
    state: AppState,
    proxies: TrustedProxies,
}

impl GetWs {
    /// The handler over the shared state.
    pub fn new(state: AppState) -> GetWs {
        GetWs {
            proxies: TrustedProxies::new(state.access.trusted_proxies.clone()),
            state,
        }
    }
}

/// Live prices over a WebSocket.
///
/// Send `{"op":"subscribe","pairs":["BTC/USD"]}` (optionally `"since":"<an id received>"`)
/// and `{"op":"unsubscribe","pairs":[…]}`. The server answers `{"type":"subscribed"|
/// "unsubscribed","pairs":[…]}`, then sends the current price of every newly subscribed pair
/// (`type` `price`: the `GET /api/v1/ltp` item's fields and `id`) or `type` `unavailable`
/// (the REST per-pair error), then every change; `type` `error` for a bad message (the REST
/// codes and messages, or `INVALID_MESSAGE`); `type` `close` (`reason`, `retry_ms`) before it
/// closes. Pings after `streams.heartbeat` without a message. With auth on, the key may be
/// the `api_key` query parameter.
#[endpoint(
    tags("prices"),
    security((), ("api_key" = [])),
    operation_id = "ws_ltp",
    parameters(
        ("api_key" = Option<String>, Query, description = "The API key, for clients that cannot set headers (never logged)"),
    ),
    responses(
        (status_code = 101, description = "Switching to the WebSocket protocol"),
        (status_code = 400, description = "Not a WebSocket upgrade request", body = ErrorBody),
        (status_code = 401, description = "API key missing or invalid (when auth is enabled)", body = AuthErrorBody),
        (status_code = 429, description = "Rate limit exceeded, or TOO_MANY_STREAMS from this client", body = RateLimitBody),
        (status_code = 503, description = "TOO_MANY_STREAMS on this replica (or it is stopping); see Retry-After", body = ErrorBody),
    )
)]
impl GetWs {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        let state = &self.state;
        let permit = match open(state, Kind::Ws, self.proxies.client_ip(req)) {
            Ok(permit) => permit,
            Err(err) => return err.write_to(res),
        };
        let config = state.streams.config();
        let session = WsSession {
            board: state.board.clone(),
            served: state.served.clone(),
            max_pairs: state.config.limits.max_pairs as usize,
            ttl_ms: state.ttl_ms,
            closing: state.streams.closing().clone(),
            heartbeat: config.heartbeat,
            retry: config.retry,
            stall: config.stall_timeout,
            series: state.metrics.stream_series(Kind::Ws.label()),
            permit,
            ids: state.streams.ids().clone(),
        };
        let upgraded = WebSocketUpgrade::new()
            .max_message_size(MAX_MESSAGE_BYTES)
            .max_frame_size(MAX_MESSAGE_BYTES)
            .upgrade(req, res, move |ws| session.run(ws))
            .await;
        if let Err(err) = upgraded {
            // Not an upgrade request (or a broken one): the permit is already dropped.
            ApiError::NotWebSocket(err.brief).write_to(res);
        }
    }
}
