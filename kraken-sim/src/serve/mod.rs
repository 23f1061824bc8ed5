//! The one HTTP/1.1 listener: REST under `/0/`, the WS v2 upgrade at `/v2`, the control API
//! under `/control/`, and `/health`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

mod control;
mod response;
mod rest;
mod ws;

use crate::exchange::Control;
use crate::exchange::state::Shared;
use response::text_response;

/// How long open HTTP exchanges get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(1);

/// Accepts connections until the simulator's token is cancelled.
pub(crate) async fn run(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = shared.token.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small frames (heartbeats, acks) must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    shared.tracker.spawn(connection(stream, shared.clone()));
                }
                Err(err) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let token = shared.token.clone();
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(req, shared).await) }
    });
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "http connection ended");
            }
        }
        () = token.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn).await;
        }
    }
}

async fn route(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    match (req.method(), path.as_str()) {
        (&Method::GET, "/v2") => ws::upgrade(req, &shared),
        (&Method::GET | &Method::POST, p) if p.starts_with("/0/") => {
            // Answered as of arrival, delivered late when a delay is set.
            let answer = rest::handle(p, query.as_deref(), &shared);
            let delay = shared
                .rest_delay_ms
                .load(std::sync::atomic::Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            answer
        }
        (_, p) if p.starts_with("/control/") => {
            control::handle(req.method(), p, query.as_deref(), &Control::new(shared)).await
        }
        (&Method::GET, "/health") => text_response(StatusCode::OK, "ok\n".into()),
        _ => text_response(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}
