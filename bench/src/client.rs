//! One keep-alive HTTP/1.1 connection (hyper's low-level client: no pool, no extra task hop
//! per request), for the load generator and the probes.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// `http://host:port/path?query` split into the address and the request target.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// `/path?query`.
    pub path: String,
}

impl Target {
    /// Parses a plain `http://` URL.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("not an http:// URL: {url}"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Target {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// A connection to one server.
pub struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    authority: String,
}

impl Conn {
    /// Connects (with `TCP_NODELAY`, as wrk does).
    pub async fn connect(authority: &str) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("http handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            authority: authority.to_owned(),
        })
    }

    /// Sends one request and reads the whole body.
    pub async fn send(&mut self, method: Method, path: &str) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .body(Empty::new())?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        self.send(Method::GET, path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080/api/v1/ltp?pair=BTC/USD").expect("url");
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path, "/api/v1/ltp?pair=BTC/USD");
        assert_eq!(Target::parse("http://h:1").expect("url").path, "/");
        assert!(Target::parse("https://h").is_err());
    }
}
