//! Scenario 5: Redis stopped and started under a query-api using the Redis cache. Reads fail
//! fast (measured) with per-pair `cache_unavailable` errors, `/ready` is 503 naming the cache,
//! and once Redis is back (empty) every pair is served again without restarting anything.

use std::time::{Duration, Instant};

use integration_tests::ingestor::start_ingestor;
use integration_tests::query_api::{start_query_api, with_redis};
use integration_tests::{TestNats, TestRedis, eventually, unique_id};

use super::{
    WAIT, api_config, errors, figure, ingestor_config, manual_sim, ms, serves, trade, until_served,
};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "XRP/USD"];

#[tokio::test]
async fn redis_stopped_reads_fail_fast_ready_503_recovers_without_restart() {
    let nats = TestNats::start().await;
    let redis = TestRedis::container(&[]).await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(30);
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let api = start_query_api(with_redis(
        api_config(&nats, &prefix, PAIRS, ttl),
        &redis.addr,
    ))
    .await;
    let prices = [
        ("BTC/USD", "64000.5"),
        ("ETH/USD", "3100.25"),
        ("XRP/USD", "0.61230"),
    ];
    eventually(WAIT, "prices served from Redis", || async {
        for (pair, price) in prices {
            trade(&sim, pair, price).await;
        }
        serves(&api.get("/api/v1/ltp").await, &prices, Some("ws")).then_some(())
    })
    .await;
    api.wait_ready(WAIT).await;

    redis.stop().await;
    // Every read from the stop on, until 40 of them have failed: how long each failure took.
    let mut failures = Vec::new();
    let mut served_while_down = 0;
    let deadline = Instant::now() + WAIT;
    while failures.len() < 40 {
        assert!(Instant::now() < deadline, "40 failed reads within {WAIT:?}");
        let started = Instant::now();
        let reply = api.get("/api/v1/ltp").await;
        let took = started.elapsed();
        if reply.status == 200 {
            served_while_down += 1;
            continue;
        }
        assert_eq!(reply.status, 503, "{}", reply.body);
        let errors = errors(&reply.body);
        assert_eq!(errors.len(), PAIRS.len(), "{}", reply.body);
        assert!(
            errors
                .iter()
                .all(|(_, reason)| reason == "cache_unavailable"),
            "{}",
            reply.body
        );
        failures.push(took);
    }
    failures.sort();
    let median = failures[failures.len() / 2];
    let slowest = failures[failures.len() - 1];
    figure(
        "scenario 5 failing read latency (median / slowest of 40)",
        format!("{} / {}", ms(median), ms(slowest)),
    );
    figure(
        "scenario 5 reads served between the stop and the first failure",
        served_while_down,
    );
    // Fast: no read waits for a dead Redis longer than one round-trip bound (300 ms here).
    assert!(median < Duration::from_millis(100), "median {median:?}");
    assert!(slowest < Duration::from_millis(1000), "slowest {slowest:?}");
    let ready = api.get("/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(
        ready.json()["services"]["cache"],
        "error: cache unreachable"
    );
    assert_eq!(ready.json()["services"]["nats"], "ready");

    redis.start_again().await;
    let back = Instant::now();
    // Redis is back empty: the replica writes back the newest prices it holds.
    let recovery = eventually(WAIT, "every pair served again", || async {
        serves(&api.get("/api/v1/ltp").await, &prices, Some("ws")).then(|| back.elapsed())
    })
    .await;
    figure(
        "scenario 5 recovery (Redis back → every pair served)",
        ms(recovery),
    );
    api.wait_ready(WAIT).await;
    // Writes work again: a new trade goes through Redis to the reader.
    let next = [
        ("BTC/USD", "64001.0"),
        ("ETH/USD", "3100.25"),
        ("XRP/USD", "0.61230"),
    ];
    trade(&sim, "BTC/USD", "64001.0").await;
    until_served(&api, &next).await;
}
