//! A raw SSE client for the streaming benchmarks: one TCP connection per stream, a hand-written
//! `GET`, and a parser that finds the `event: price` events in whatever the socket delivers.
//!
//! No HTTP client library: ten thousand streams must cost the bench little memory, and the
//! bench must be able to stop reading a stream without a client library buffering for it.
//!
//! query-api answers streams with `Transfer-Encoding: chunked`, and every chunk it writes holds
//! whole events (sse.rs makes one chunk per wake-up). The chunk-size lines therefore only ever
//! sit *between* events (`…}\n\n\r\n1a3\r\nevent: price\n…`), so splitting the body at the blank
//! line that ends an event and looking for the event's fields inside each piece finds every
//! event without decoding the chunk framing.

use std::hash::{DefaultHasher, Hash, Hasher};

use anyhow::Context;
use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An open stream: the socket, after the response head, and the body bytes read with the head.
pub struct Stream {
    /// The connection, positioned after the response head.
    pub socket: TcpStream,
    /// Body bytes that arrived together with the head.
    pub first: Vec<u8>,
}

/// Opens `GET path` on `addr` and reads the response head; fails unless the status is 200.
///
/// The socket is closed with a reset (`SO_LINGER` 0) when dropped, so thousands of streams
/// opened and closed round after round leave no `TIME_WAIT` entries eating local ports.
pub async fn open(addr: &str, path: &str) -> anyhow::Result<Stream> {
    let mut socket = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    socket.set_nodelay(true)?;
    socket.set_zero_linger()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    socket.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        let n = socket.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed before the response head");
        head.extend_from_slice(&chunk[..n]);
        if let Some(i) = memmem::find(&head, b"\r\n\r\n") {
            break i + 4;
        }
        anyhow::ensure!(head.len() < 16 * 1024, "response head too long");
    };
    let status = head.split(|&b| b == b'\r').next().unwrap_or_default();
    anyhow::ensure!(
        status.starts_with(b"HTTP/1.1 200"),
        "stream refused: {}",
        String::from_utf8_lossy(&head[..end.min(400)])
    );
    Ok(Stream {
        socket,
        first: head.split_off(end),
    })
}

/// Splits a stream's body into events, across reads.
#[derive(Default)]
pub struct Events {
    buf: Vec<u8>,
}

impl Events {
    /// Appends `data` and calls `on_price` with each complete `event: price` event (its text,
    /// from `event:` to the blank line); returns how many price events were complete.
    pub fn feed(&mut self, data: &[u8], mut on_price: impl FnMut(&[u8])) -> u64 {
        self.buf.extend_from_slice(data);
        let mut done = 0;
        let mut prices = 0;
        while let Some(end) = memmem::find(&self.buf[done..], b"\n\n") {
            let block = &self.buf[done..done + end];
            if let Some(at) = memmem::find(block, b"event: price") {
                on_price(&block[at..]);
                prices += 1;
            }
            done += end + 2;
        }
        self.buf.drain(..done);
        prices
    }
}

/// The text of a JSON string field (`"name":"…"`) in an event's data.
pub fn field<'a>(event: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let key = format!("\"{name}\":\"");
    let start = memmem::find(event, key.as_bytes())? + key.len();
    let len = memchr::memchr(b'"', &event[start..])?;
    Some(&event[start..start + len])
}

/// The identity of one price message: its pair and its `published_at`, which the REST item
/// carries as `timestamp` (a re-publish gets a new one, so every message has its own key).
pub fn key(pair: &[u8], timestamp: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    pair.hash(&mut hasher);
    timestamp.hash(&mut hasher);
    hasher.finish()
}

/// The key of a price event, from its `data` line.
pub fn event_key(event: &[u8]) -> Option<u64> {
    Some(key(field(event, "pair")?, field(event, "timestamp")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_reads_and_chunk_lines() {
        let body = b"retry: 1000\n\nevent: price\nid: 1.a\ndata: {\"pair\":\"BTC/USD\",\"amount\":1.5,\"price\":\"1.5\",\"timestamp\":\"2026-07-08T05:24:41.2101Z\",\"age_ms\":3}\n\n\r\n5a\r\n: keep-alive\n\n\r\n9\r\nevent: price\nid: 1.b\ndata: {\"pair\":\"ETH/USD\",\"timestamp\":\"t2\"}\n\n";
        let mut events = Events::default();
        let mut keys = Vec::new();
        let mut total = 0;
        for part in body.chunks(7) {
            total += events.feed(part, |e| keys.push(event_key(e)));
        }
        assert_eq!(total, 2);
        assert_eq!(
            keys,
            [
                Some(key(b"BTC/USD", b"2026-07-08T05:24:41.2101Z")),
                Some(key(b"ETH/USD", b"t2"))
            ]
        );
        assert_eq!(field(b"{\"price\":\"1.5\"}", "price"), Some(&b"1.5"[..]));
        assert_eq!(field(b"{\"price\":1}", "price"), None);
    }
}
