//! A timing proxy in front of the simulator's REST API, so the `refresh` stage can tell the
//! time Kraken took from the time that is ours.
//!
//! The ingestor is started with `KRAKEN_REST_URL` pointing here. Every request is forwarded to
//! the upstream on a keep-alive connection and recorded as a *call*: when the proxy had the
//! whole request (`begin`) and when it had the upstream's whole answer (`end`), on the wall
//! clock, so `ltp-bench refresh` (another process) can place its own requests against them.
//! The span therefore covers the simulator's answer time plus one loopback hop; handing the
//! answer back to the ingestor (one small write) falls outside it, on our side of the ledger.
//! `GET /_bench/calls` lists the calls recorded so far.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::client::{Conn, Target};
use crate::pace::wall_us;

/// The path listing the recorded calls.
pub const CALLS_PATH: &str = "/_bench/calls";

/// `proxy` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: String,
    /// The simulator's base URL, e.g. `http://127.0.0.1:28090`.
    #[arg(long)]
    upstream: String,
}

/// One forwarded request.
struct Call {
    begin_us: u64,
    end_us: u64,
    status: u16,
    path: String,
}

struct Shared {
    upstream: String,
    idle: Mutex<Vec<Conn>>,
    calls: Mutex<Vec<Call>>,
}

/// Serves until killed.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let upstream = Target::parse(&args.upstream)?.authority;
    let shared = Arc::new(Shared {
        upstream,
        idle: Mutex::default(),
        calls: Mutex::default(),
    });
    let listener = TcpListener::bind(&args.listen).await?;
    eprintln!("proxy: {} -> {}", args.listen, args.upstream);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if path == CALLS_PATH {
        let calls = lock(&shared.calls);
        let list: Vec<_> = calls
            .iter()
            .map(|c| json!({"begin_us": c.begin_us, "end_us": c.end_us, "status": c.status, "path": c.path}))
            .collect();
        return reply(
            StatusCode::OK,
            Bytes::from(json!({ "calls": list }).to_string()),
        );
    }
    let begin_us = wall_us();
    let (status, body) = match forward(shared, req.method().clone(), &path).await {
        Ok(answer) => answer,
        Err(e) => (502, Bytes::from(format!("proxy: {e:#}"))),
    };
    let end_us = wall_us();
    lock(&shared.calls).push(Call {
        begin_us,
        end_us,
        status,
        path,
    });
    reply(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        body,
    )
}

/// One request upstream, on an idle connection when there is one (and on a new one when the
/// idle one turns out to be closed).
async fn forward(
    shared: &Shared,
    method: hyper::Method,
    path: &str,
) -> anyhow::Result<(u16, Bytes)> {
    let idle = lock(&shared.idle).pop();
    if let Some(mut conn) = idle
        && let Ok(answer) = conn.send(method.clone(), path).await
    {
        lock(&shared.idle).push(conn);
        return Ok(answer);
    }
    let mut conn = Conn::connect(&shared.upstream).await?;
    let answer = conn.send(method, path).await?;
    lock(&shared.idle).push(conn);
    Ok(answer)
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
