//! Issue 12, hostile and slow stream clients against the real query-api binary: 10,000
//! connections opened and abandoned, and a client that stops reading for 30 s while the
//! simulator trades 1,000 times a second. Descriptors and memory are read from /proc.

use std::time::Duration;

use integration_tests::ingestor::start_ingestor;
use integration_tests::process::{Process, query_api_env};
use integration_tests::sse::SseStream;
use integration_tests::{TestNats, eventually, unique_id};
use tokio::io::AsyncWriteExt;

use super::{WAIT, figure, ingestor_config, manual_sim, trading_sim};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD"];
/// Connections opened and abandoned; every fourth is cut halfway through its request head.
const CONNECTIONS: usize = 10_000;

/// Raises this process's soft descriptor limit towards `want` (up to the hard limit), so
/// the test's own sockets fit; the query-api child inherits it.
fn raise_descriptor_limit(want: usize) {
    let (soft, hard) = rlimit::Resource::NOFILE.get().expect("getrlimit");
    let want = u64::try_from(want).expect("small");
    if soft < want {
        rlimit::Resource::NOFILE
            .set(want.min(hard), hard)
            .expect("setrlimit");
    }
    let (soft, _) = rlimit::Resource::NOFILE.get().expect("getrlimit");
    assert!(
        soft >= want,
        "descriptor limit {soft} < {want}: raise `ulimit -n`"
    );
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn open_streams(api: &Process) -> usize {
    let body = reqwest::get(api.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    body.lines()
        .find_map(|l| l.strip_prefix("ltp_streams_open{kind=\"sse\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn ten_thousand_abandoned_connections_leave_no_descriptor_behind() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let _sim = manual_sim(PAIRS).await;
    let api = Process::start("query-api", |port| {
        let mut env = query_api_env(port, &nats.url, &prefix, PAIRS, Duration::from_secs(30));
        env.push(("LTP_STREAMS__MAX_PER_CLIENT".into(), "20000".into()));
        env
    })
    .await;
    eventually(WAIT, "query-api up", || async {
        reqwest::get(api.url("/health"))
            .await
            .ok()
            .filter(|r| r.status() == 200)
    })
    .await;
    let before = fds(api.pid());
    let rss_before = rss_kib(api.pid());
    let addr = api
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut held = Vec::new();
    raise_descriptor_limit(CONNECTIONS + 1024);
    for i in 0..CONNECTIONS {
        let mut tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let request = if i % 4 == 3 {
            // Cut halfway through the request head.
            "GET /api/v1/ltp/stream?pair=BTC/USD HTTP/1.1\r\nHost: x\r\nAcc".to_owned()
        } else {
            format!("GET /api/v1/ltp/stream?pair=BTC/USD HTTP/1.1\r\nHost: {addr}\r\n\r\n")
        };
        tcp.write_all(request.as_bytes()).await.expect("write");
        held.push(tcp);
    }
    let streams = CONNECTIONS / 4 * 3;
    eventually(WAIT, "three quarters of them streaming", || async {
        (open_streams(&api).await == streams).then_some(())
    })
    .await;
    let peak = fds(api.pid());
    let rss_peak = rss_kib(api.pid());
    drop(held);
    eventually(
        WAIT,
        "every stream counted out and its descriptor closed",
        || async { (open_streams(&api).await == 0 && fds(api.pid()) <= before + 4).then_some(()) },
    )
    .await;
    figure(
        "streams: descriptors before / with 10,000 connections / after",
        format!("{before} / {peak} / {}", fds(api.pid())),
    );
    // Memory goes back too: jemalloc's background thread returns the freed pages after its
    // decay time (10 s). A quarter of what the streams took is the allowance for what the
    // allocator keeps cached.
    let allowance = rss_peak.saturating_sub(rss_before) / 4;
    let since = tokio::time::Instant::now();
    let rss_after = eventually(
        Duration::from_secs(60),
        "memory back to its level",
        || async {
            let now = rss_kib(api.pid());
            (now <= rss_before + allowance).then_some(now)
        },
    )
    .await;
    figure(
        "streams: RSS before / with 7,500 streams / after (KiB), back within",
        format!(
            "{rss_before} / {rss_peak} / {rss_after}, {:.1} s",
            since.elapsed().as_secs_f64()
        ),
    );
    assert_eq!(
        reqwest::get(api.url("/health"))
            .await
            .expect("health")
            .status(),
        200
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_the_latest_prices_when_it_reads_again() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let ttl = Duration::from_secs(30);
    // Two pairs, each trading every 2 ms: 1,000 trades a second.
    let sim = trading_sim(PAIRS, Duration::from_millis(2)).await;
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let api = Process::start("query-api", |port| {
        query_api_env(port, &nats.url, &prefix, PAIRS, ttl)
    })
    .await;
    let url = api.url("/api/v1/ltp/stream?pair=BTC/USD,ETH/USD");
    let mut sse = eventually(WAIT, "a stream with prices", || async {
        let mut sse = SseStream::open(&url, None).await;
        (sse.event(WAIT).await.event == "price").then_some(sse)
    })
    .await;
    let rss_before = rss_kib(api.pid());
    // Not reading for 30 s while prices change 1,000 times a second.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let rss_after = rss_kib(api.pid());
    let rest = reqwest::get(api.url("/api/v1/ltp?pair=BTC/USD"))
        .await
        .expect("rest");
    let body: serde_json::Value = rest.json().await.expect("json");
    let now_at: jiff::Timestamp = body["ltp"][0]["timestamp"]
        .as_str()
        .expect("ts")
        .parse()
        .expect("ts");
    // Reading again: what the connection buffered, then prices at least as new as REST's.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut read = 0usize;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no BTC price as new as REST's"
        );
        let e = sse.event(WAIT).await;
        read += 1;
        let at = e.json()["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if e.event == "price" && e.price().0 == "BTC/USD" && at.is_some_and(|t| t >= now_at) {
            break;
        }
    }
    figure(
        "streams: RSS before / after 30 s unread at 1,000 trades/s (KiB)",
        format!("{rss_before} / {rss_after}"),
    );
    figure(
        "streams: events read after the pause until the latest price",
        read,
    );
    // Bounded: one stream's state, not 30,000 queued prices.
    assert!(
        rss_after < rss_before + 16 * 1024,
        "{rss_before} -> {rss_after} KiB"
    );
}
