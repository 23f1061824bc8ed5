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

/// Sends `request` on a new connection; the status of the answer, or `None` when the server
/// closed the connection without one. Waits at most 10 s.
async fn raw_status(addr: std::net::SocketAddr, request: &[u8]) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("answered or closed within 10 s")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    text.lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
}

/// `VmRSS` (KiB), open descriptors and threads of a process, from `/proc`.
fn usage(pid: u32) -> (u64, usize, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (field("VmRSS:"), fds, field("Threads:"))
}

/// The whole hostile catalogue against the real binary, in its own process so its memory and
/// descriptors can be measured: every request gets a 4xx, an answer its parameters call for,
/// or a closed connection; never a 5xx. Slow clients are cut off by the header timeout, and
/// memory and descriptors return to where they were.
#[tokio::test]
async fn the_binary_survives_hostile_clients_with_bounded_memory_and_sockets() {
    use integration_tests::process::{Process, query_api_env};
    use integration_tests::query_api::Publisher;
    use tokio::io::AsyncWriteExt;

    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = Process::start("query-api", |port| {
        let mut env = query_api_env(port, &nats.url, &prefix, PAIRS, Duration::from_secs(600));
        env.push(("LTP_LIMITS__HEADER_TIMEOUT".into(), "1s".into()));
        env
    })
    .await;
    let addr = api.addr;
    // Prices for every pair, so a well-formed request is a 200 (not "none available", 503).
    let publisher = Publisher::new(nats.client().await, &prefix);
    let http = reqwest::Client::new();
    super::publish_all(&publisher).await;
    integration_tests::eventually(Duration::from_secs(20), "prices served", || async {
        let res = http.get(api.url("/api/v1/ltp")).send().await.ok()?;
        (res.status() == 200).then_some(())
    })
    .await;
    let normal = |n: usize| {
        let http = http.clone();
        let url = api.url("/api/v1/ltp?pair=BTC/USD,ETH/USD");
        async move {
            for _ in 0..n {
                let res = http.get(&url).send().await.expect("normal request");
                assert_eq!(res.status(), 200);
                let _ = res.bytes().await;
            }
        }
    };
    normal(300).await;
    let (rss_before, fds_before, threads_before) = usage(api.pid());

    let pairs = vec!["BTC/USD"; 10_000].join(",");
    let get = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("URL over the limit", get(&format!("/api/v1/ltp?pair={}", "A".repeat(9_000)))),
        ("100 KB URL", get(&format!("/api/v1/ltp?pair={}", "A".repeat(100_000)))),
        ("10,000 pairs", get(&format!("/api/v1/ltp?pair={pairs}"))),
        ("10,000 pair parameters", get(&format!("/api/v1/ltp?{}", vec!["pair=BTC/USD"; 10_000].join("&")))),
        ("20 KB header", format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "v".repeat(20_000)).into_bytes()),
        ("1 MB header", format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "v".repeat(1_000_000)).into_bytes()),
        ("1,000 headers", format!("GET /health HTTP/1.1\r\nHost: x\r\n{}\r\n", "X-A: b\r\n".repeat(1_000)).into_bytes()),
        ("invalid UTF-8 in the query", b"GET /api/v1/ltp?pair=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("invalid UTF-8 in the path", b"GET /api/v1/\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("invalid UTF-8 in a header", b"GET /api/v1/ltp HTTP/1.1\r\nHost: x\r\nX-API-Key: \xff\xfe\r\n\r\n".to_vec()),
        ("escape of invalid UTF-8", get("/api/v1/ltp?pair=%ff%fe")),
        ("broken escape", get("/api/v1/ltp?pair=%zz")),
        ("truncated escape", get("/api/v1/ltp?pair=BTC%2")),
        ("NUL escape", get("/api/v1/ltp?pair=BTC/USD%00")),
        ("escaped path", get("/api/v1/%6Ctp?pair=BTC/USD")),
        ("dot segments", get("/api/v1/../../../etc/passwd")),
        ("duplicate parameters, first bad", get("/api/v1/ltp?pair=DOGE/MOON&pair=BTC/USD")),
        ("both pair and pairs", get("/api/v1/ltp?pairs=nope&pair=BTC/USD")),
        ("NUL in a header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec()),
        ("bare LF line endings", b"GET /health HTTP/1.1\nHost: x\nX-A: b\n\n".to_vec()),
        ("folded header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n".to_vec()),
        ("Content-Length and chunked", b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()),
        ("two Content-Lengths", b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec()),
        ("unknown method", b"BREW /api/v1/ltp HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec()),
    ];
    for round in 0..5 {
        for (what, request) in &cases {
            let status = raw_status(addr, request).await;
            assert!(
                matches!(status, None | Some(200..=299 | 400..=499)),
                "{what}: {status:?} (round {round})"
            );
            if round == 0 {
                println!(
                    "HOSTILE: {what} -> {}",
                    status.map_or("closed".into(), |s| s.to_string())
                );
            }
        }
    }
    // Duplicate parameters: the first occurrence decides (documented), the rest is ignored.
    assert_eq!(
        raw_status(addr, &get("/api/v1/ltp?pair=BTC/USD&pair=DOGE/MOON")).await,
        Some(200)
    );
    assert_eq!(
        raw_status(addr, &get("/api/v1/ltp?pair=DOGE/MOON&pair=BTC/USD")).await,
        Some(400)
    );

    // Slowloris: 200 connections trickling a request head, 200 saying nothing at all. Each is
    // closed by the 1 s header timeout while normal clients are served meanwhile.
    let started = std::time::Instant::now();
    let mut slow = Vec::new();
    for i in 0..400 {
        slow.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            if i % 2 == 0 {
                let _ = stream
                    .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                    .await;
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if stream.write_all(b"X-Slow: a\r\n").await.is_err() {
                        return true;
                    }
                }
                false
            } else {
                use tokio::io::AsyncReadExt;
                // Closed (or answered and closed) rather than held open.
                let mut buf = [0u8; 64];
                tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
                    .await
                    .is_ok()
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = std::time::Instant::now();
    normal(20).await;
    assert!(
        during.elapsed() < Duration::from_secs(5),
        "normal requests starved"
    );
    let (_, fds_during, _) = usage(api.pid());
    for task in slow {
        assert!(
            task.await.expect("slow client"),
            "a slow client was never disconnected"
        );
    }
    let cut_off_after = started.elapsed();
    assert!(cut_off_after < Duration::from_secs(8), "{cut_off_after:?}");

    normal(300).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_after, fds_after, threads_after) = usage(api.pid());
    println!(
        "HOSTILE-FIGURES: rss {rss_before} -> {rss_after} KiB, fds {fds_before} -> {fds_during} (400 slow clients) -> {fds_after}, threads {threads_before} -> {threads_after}, slow clients cut off within {cut_off_after:?}"
    );
    // Unbounded growth would be megabytes per hostile round; allocator slack is far less.
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    assert!(
        fds_after <= fds_before + 4,
        "descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert!(
        threads_after <= threads_before + 2,
        "threads grew: {threads_before} -> {threads_after}"
    );
    let log = api.log_text();
    assert!(!log.contains("panicked"), "panic in the log:\n{log}");
}

/// With the URL limit raised to hyper's own maximum (64 KB), 10,000 pairs still meet the pair
/// limit: a 400 naming it, for both parameters, before any work per pair (`A/B` is not even a
/// known pair, and it is not the error given).
#[tokio::test]
async fn ten_thousand_pairs_past_a_raised_url_limit_meet_the_pair_limit() {
    let nats = TestNats::start().await;
    let mut config = test_config(&nats.url, &unique_id(), PAIRS);
    config.limits.max_url_bytes = query_api::MAX_URL_BYTES;
    let api = start_query_api(config).await;
    until_status(&api, "/health", 200).await;
    let pairs = vec!["A/B"; 10_000].join(",");
    let reply = api.get(&format!("/api/v1/ltp?pair={pairs}")).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("too many pairs: 10000 (maximum 100)"),
        "{}",
        reply.body
    );
    let reply = api
        .post(&format!("/api/v1/ltp/refresh?pairs={pairs}"))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}
