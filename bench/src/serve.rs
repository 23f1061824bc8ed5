//! The baseline: the least a Rust HTTP server on this machine can do to answer the same bytes
//! as query-api. hyper 1 (which salvo runs on), HTTP/1.1 keep-alive, one worker thread per CPU
//! it may run on (the services' rule too, so `taskset` gives both the same), and a response
//! prepared once: status, headers and body captured from a real `GET /api/v1/ltp?pair=BTC/USD`
//! (`curl -si`). Only `Date` and `Content-Length` are written by hyper, as they are for
//! query-api.

use std::convert::Infallible;
use std::path::PathBuf;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// `serve` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18099")]
    addr: String,
    /// A raw HTTP response as `curl -si` prints it.
    #[arg(long)]
    response: PathBuf,
}

/// A captured response.
#[derive(Debug, Clone)]
struct Captured {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// Parses `HTTP/1.1 200 OK\r\nname: value\r\n…\r\n\r\nbody`. Headers hyper writes itself
/// (`date`, `content-length`) and connection management headers are dropped.
fn parse(raw: &[u8]) -> anyhow::Result<Captured> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the captured response")?;
    let head = std::str::from_utf8(&raw[..split]).context("headers are not UTF-8")?;
    let body = Bytes::copy_from_slice(&raw[split + 4..]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().context("empty capture")?;
    let code = status_line
        .split_whitespace()
        .nth(1)
        .context("no status code")?;
    let status = StatusCode::from_bytes(code.as_bytes())?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').context("malformed header line")?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())?;
        if matches!(
            name.as_str(),
            "date" | "content-length" | "connection" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        headers.append(name, HeaderValue::from_str(value.trim())?);
    }
    Ok(Captured {
        status,
        headers,
        body,
    })
}

/// Serves until killed.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let raw = std::fs::read(&args.response)
        .with_context(|| format!("reading {}", args.response.display()))?;
    let captured = parse(&raw)?;
    let listener = TcpListener::bind(&args.addr).await?;
    eprintln!(
        "baseline: {} body bytes, {} headers, on {}",
        captured.body.len(),
        captured.headers.len(),
        args.addr
    );
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let captured = captured.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req| {
                let mut response = Response::new(Full::new(captured.body.clone()));
                *response.status_mut() = captured.status;
                *response.headers_mut() = captured.headers.clone();
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_curl_capture() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_1_a\r\ncontent-length: 3\r\ndate: x\r\n\r\n{}\n";
        let c = parse(raw).expect("parses");
        assert_eq!(c.status, StatusCode::OK);
        assert_eq!(c.headers.len(), 2);
        assert_eq!(&c.body[..], b"{}\n");
    }
}
