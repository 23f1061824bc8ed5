//! The admin HTTP listener: `/health` (the process runs), `/ready` (NATS takes publishes and
//! some source confirms prices), `/metrics` (Prometheus text). GET and HEAD.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::Gate;
use crate::feed::Feed;
use crate::metrics::Metrics;

/// What the endpoints report on.
pub struct AdminState {
    pub feed: Arc<Feed>,
    /// Whether NATS takes publishes.
    pub gate: Arc<Gate>,
    pub metrics: Metrics,
    pub instance: Arc<str>,
}

/// Serves until `shutdown`; open connections finish their current request.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AdminState>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, typically: give it a moment instead of spinning.
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let state = state.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

fn route<B>(state: &AdminState, req: &Request<B>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        res.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    match req.uri().path() {
        "/health" => json_response(
            StatusCode::OK,
            &json!({"status": "ok", "ingestor": &*state.instance}),
        ),
        "/ready" => {
            let nats = state.gate.is_open();
            let available = state.feed.available_pairs();
            let ready = nats && available > 0;
            let body = json!({
                "status": if ready { "ready" } else { "not_ready" },
                "nats": if nats { "connected" } else { "unavailable" },
                "websocket": if state.feed.socket.is_up() { "connected" } else { "disconnected" },
                "pairs_available": available,
                "pairs": state.feed.pairs().len(),
                "ingestor": &*state.instance,
            });
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json_response(status, &body)
        }
        "/metrics" => {
            let mut res = Response::new(Full::new(Bytes::from(state.metrics.render())));
            res.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            res
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    res
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res
}
