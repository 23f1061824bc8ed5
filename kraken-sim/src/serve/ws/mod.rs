//! The WebSocket upgrade at `/v2`: validates the handshake, applies the refuse fault (an
//! HTTP 429/503 as Cloudflare would send), answers `101 Switching Protocols` and hands the
//! upgraded connection to a socket task.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

mod request;
mod socket;

use super::response::text_response;
use crate::exchange::state::Shared;

/// Answers an upgrade request; the socket task runs after the 101 is sent.
pub(crate) fn upgrade(mut req: Request<Incoming>, shared: &Arc<Shared>) -> Response<Full<Bytes>> {
    let refuse = shared.refuse.load(Relaxed);
    if refuse != 0 {
        shared.counters.ws_refused.fetch_add(1, Relaxed);
        let status = StatusCode::from_u16(refuse).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let reason = status.canonical_reason().unwrap_or("refused");
        return text_response(
            status,
            format!("error code: {}\n{reason}\n", status.as_u16()),
        );
    }
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let is_upgrade = header(UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && header(CONNECTION).is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    let Some(key) = header(SEC_WEBSOCKET_KEY).filter(|_| is_upgrade) else {
        return text_response(
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade\n".into(),
        );
    };
    if header(SEC_WEBSOCKET_VERSION) != Some("13") {
        let mut res = text_response(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version\n".into(),
        );
        res.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return res;
    }
    let accept = derive_accept_key(key.as_bytes());
    let id = shared.next_socket.fetch_add(1, Relaxed);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let task_shared = shared.clone();
    shared.tracker.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                // Requests are small; a megabyte bounds what a misbehaving client can make
                // the simulator buffer.
                let config = WebSocketConfig::default()
                    .write_buffer_size(64 * 1024)
                    .max_message_size(Some(1 << 20))
                    .max_frame_size(Some(1 << 20));
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                socket::serve(ws, task_shared, id).await;
            }
            Err(err) => tracing::debug!(error = %err, "upgrade failed"),
        }
    });
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    res
}
