//! Configuration keys of query-api whose effect is only visible from outside: the address
//! bound, the Redis database and round-trip bound, connection idle time, and what is logged.
//! (The others are covered where their behaviour is: middleware, limits, caches, security.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Encoding;
use integration_tests::TestRedis;
use integration_tests::process::{Process, query_api_env};
use integration_tests::query_api::{
    Publisher, price_message, start_query_api, test_config, with_redis,
};
use integration_tests::{TestNats, eventually, unique_id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{PAIRS, WAIT, until_price, until_status};

#[tokio::test]
async fn server_host_is_the_address_bound() {
    let nats = TestNats::start().await;
    let mut config = test_config(&nats.url, &unique_id(), PAIRS);
    config.server.host = "127.0.0.2".into();
    let api = start_query_api(config).await;
    assert_eq!(api.addr.ip().to_string(), "127.0.0.2");
    until_status(&api, "/health", 200).await;
    let elsewhere = SocketAddr::from(([127, 0, 0, 1], api.addr.port()));
    assert!(
        tokio::net::TcpStream::connect(elsewhere).await.is_err(),
        "also listening on {elsewhere}"
    );
}

#[tokio::test]
async fn redis_db_holds_the_prices_and_redis_timeout_bounds_a_stalled_round_trip() {
    let nats = TestNats::start().await;
    // Its own server: the test pauses it.
    let redis = TestRedis::container(&[]).await;
    let prefix = unique_id();
    let mut config = with_redis(test_config(&nats.url, &prefix, PAIRS), &redis.addr);
    config.cache.redis.db = 3;
    config.cache.redis.timeout = Duration::from_millis(300);
    let api = start_query_api(config).await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    publisher.create_last_value_stream().await;
    let msg = price_message("BTC/USD", "61000.5", Duration::ZERO);
    publisher.publish(&msg, Encoding::Msgpack).await;
    until_price(&api, "BTC/USD", "61000.5").await;

    let mut conn = redis.connection().await;
    let key = format!("{prefix}:price:BTC/USD");
    let in_db = |db: u32| {
        let key = key.clone();
        let mut conn = conn.clone();
        async move {
            let _: () = redis::cmd("SELECT")
                .arg(db)
                .query_async(&mut conn)
                .await
                .expect("SELECT");
            let value: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("GET");
            value
        }
    };
    // Written by the replica's writer, which may follow the first read serving the price.
    eventually(WAIT, "the price stored in database 3", || async {
        in_db(3).await.filter(|v| v.contains("61000.5"))
    })
    .await;
    assert_eq!(in_db(0).await, None);

    // Redis stops answering every client for 6 s: a read gives up on it after the 300 ms
    // bound (plus scheduling), not after the pause, and answers with the replica's own price.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(6000)
        .arg("ALL")
        .query_async(&mut conn)
        .await
        .expect("CLIENT PAUSE");
    let started = Instant::now();
    let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.degraded.as_deref(), Some("redis-unavailable"));
    assert!(
        took < Duration::from_secs(4),
        "waited {took:?} for a paused Redis"
    );
    eprintln!(
        "read against a paused Redis answered {} after {took:?}",
        reply.status
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let nats = TestNats::start().await;
    let mut config = test_config(&nats.url, &unique_id(), PAIRS);
    config.limits.request_timeout = Duration::from_secs(1);
    config.limits.idle_timeout = Duration::from_secs(1);
    let api = start_query_api(config).await;
    until_status(&api, "/health", 200).await;
    let mut stream = tokio::net::TcpStream::connect(api.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Keep-alive, then silence: the server closes (read returns 0) well before the 60 s default.
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the idle connection was still open after 15 s"
    );
}

/// The binary with `extra` settings; waits for a request's access line (or its absence) after
/// one `GET /health`.
async fn binary_log(nats: &TestNats, extra: &[(&str, &str)]) -> String {
    let prefix = unique_id();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let api = Process::start("query-api", |port| {
        let mut env = query_api_env(port, &nats.url, &prefix, PAIRS, Duration::from_secs(30));
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend(extra.iter().cloned());
        env
    })
    .await;
    let res = reqwest::get(api.url("/health?probe=1"))
        .await
        .expect("GET /health");
    assert_eq!(res.status(), 200);
    // The log is written by a writer thread: give it a moment to show up.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !api.log_text().contains("probe=1") && !api.log_text().contains("/health") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    api.log_text()
}

#[tokio::test]
async fn log_format_log_level_and_access_log_level_shape_the_output() {
    let nats = TestNats::start().await;

    let json = binary_log(
        &nats,
        &[
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "info"),
            ("ACCESS_LOG_LEVEL", "info"),
        ],
    )
    .await;
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["route"] == "/health")
        .unwrap_or_else(|| panic!("no access line:\n{json}"));
    assert_eq!(access["status"], 200);
    assert_eq!(access["method"], "GET");
    assert!(access["request_id"].is_string() && access["duration_ms"].is_number());
    assert!(lines.iter().any(|l| l["level"] == "INFO"), "{json}");

    let text = binary_log(
        &nats,
        &[
            ("LOG_FORMAT", "text"),
            ("LOG_LEVEL", "info"),
            ("ACCESS_LOG_LEVEL", "info"),
        ],
    )
    .await;
    assert!(
        text.lines().all(|l| !l.trim_start().starts_with('{')),
        "{text}"
    );
    assert!(
        text.contains("route=\"/health\"") && !text.contains('\u{1b}'),
        "{text}"
    );

    let quiet = binary_log(
        &nats,
        &[
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "warn"),
            ("ACCESS_LOG_LEVEL", "off"),
        ],
    )
    .await;
    assert!(
        !quiet.contains("\"INFO\""),
        "info lines at LOG_LEVEL=warn:\n{quiet}"
    );
    assert!(
        !quiet.contains("/health"),
        "access line with ACCESS_LOG_LEVEL=off:\n{quiet}"
    );
}
