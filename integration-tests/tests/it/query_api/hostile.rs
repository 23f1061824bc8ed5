//! Hostile HTTP over real sockets: answered with a 4xx or a closed connection, never a 5xx.

use std::time::Duration;

use integration_tests::query_api::{start_query_api, test_config};
use integration_tests::{TestNats, unique_id};

use super::{PAIRS, until_status};

#[tokio::test]
async fn hostile_requests_get_a_4xx_or_a_closed_connection_never_a_5xx() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let nats = TestNats::start().await;
    let api = start_query_api(test_config(&nats.url, &unique_id(), PAIRS)).await;
    until_status(&api, "/health", 200).await;
    // The status line of a raw request, or None when the server closed the connection.
    let raw = |request: Vec<u8>| {
        let addr = api.addr;
        async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let _ = stream.write_all(&request).await;
            let mut buf = vec![0u8; 512];
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                .await
                .expect("answered or closed in time")
                .unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            text.lines().next().map(str::to_owned)
        }
    };
    let status_of = |line: Option<String>| {
        line.and_then(|l| l.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()))
    };
    let long_url = format!(
        "GET /api/v1/ltp?pair={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "A".repeat(9000)
    );
    assert_eq!(status_of(raw(long_url.into_bytes()).await), Some(414));
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(20_000)
    );
    assert_eq!(status_of(raw(big_header.into_bytes()).await), Some(431));
    // Far beyond the read buffer: refused by the HTTP layer itself.
    let huge = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(200_000)
    );
    let status = status_of(raw(huge.into_bytes()).await);
    assert!(matches!(status, None | Some(400..=499)), "{status:?}");
    // Invalid UTF-8 after decoding, and broken escapes.
    for query in ["pair=%ff%fe", "pair=%zz", "pair=%"] {
        let reply = api.get(&format!("/api/v1/ltp?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
    }
    // Not HTTP at all.
    let status = status_of(raw(b"\x16\x03\x01garbage\r\n\r\n".to_vec()).await);
    assert!(matches!(status, None | Some(400..=499)), "{status:?}");
    // Still serving.
    assert_eq!(api.get("/health").await.status, 200);
}
