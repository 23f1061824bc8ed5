//! Scenario 5: Redis stopped and started under a query-api using the Redis cache, read every
//! 20 ms throughout. While Redis is down the replica answers from the prices it receives from
//! NATS itself, marked `X-Cache-Degraded: redis-unavailable`, at once: no read fails (before
//! issue 15 every read during an outage was a 503), a price traded during the outage is served,
//! `/ready` stays 200 saying the cache is degraded, and once Redis is back (empty) the replica
//! writes its prices back and serves from Redis again without restarting anything.

use std::time::{Duration, Instant};

use integration_tests::ingestor::start_ingestor;
use integration_tests::query_api::{start_query_api, with_redis};
use integration_tests::{TestNats, TestRedis, eventually, unique_id};

use super::{
    ReadLoop, WAIT, api_config, assert_never_older, figure, ingestor_config, manual_sim, ms,
    serves, trade, until_served,
};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "XRP/USD"];

/// How long Redis stays down (the outage measured from outside before issue 15 lasted 2 s).
const OUTAGE: Duration = Duration::from_secs(2);

#[tokio::test]
async fn redis_stopped_reads_served_degraded_then_from_redis_again() {
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
    let reads = ReadLoop::start(api.url("/api/v1/ltp"), Duration::from_millis(20));
    let reading = Instant::now();
    eventually(WAIT, "a second of reads before the stop", || async {
        let reply = api.get("/api/v1/ltp").await;
        (reply.status == 200 && reading.elapsed() >= Duration::from_secs(1)).then_some(())
    })
    .await;

    let stopping = Instant::now();
    redis.stop().await;
    let stopped = Instant::now();
    // A trade during the outage reaches the replica through NATS and is served.
    let during = [
        ("BTC/USD", "64010.0"),
        ("ETH/USD", "3100.25"),
        ("XRP/USD", "0.61230"),
    ];
    trade(&sim, "BTC/USD", "64010.0").await;
    let reply = until_served(&api, &during).await;
    assert_eq!(reply.degraded.as_deref(), Some("redis-unavailable"));
    let ready = api.get("/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["status"], "degraded");
    eventually(WAIT, "the outage to last its time", || async {
        let reply = api.get("/api/v1/ltp").await;
        (reply.degraded.is_some() && stopped.elapsed() >= OUTAGE).then_some(())
    })
    .await;

    redis.start_again().await;
    let back = Instant::now();
    let recovery = eventually(WAIT, "an answer from Redis again", || async {
        let reply = api.get("/api/v1/ltp").await;
        (serves(&reply, &during, Some("ws")) && reply.degraded.is_none()).then(|| back.elapsed())
    })
    .await;
    api.wait_ready(WAIT).await;
    // Writes work again: a new trade goes through Redis to the reader.
    let next = [
        ("BTC/USD", "64001.0"),
        ("ETH/USD", "3100.25"),
        ("XRP/USD", "0.61230"),
    ];
    trade(&sim, "BTC/USD", "64001.0").await;
    let reply = until_served(&api, &next).await;
    assert_eq!(reply.degraded, None);
    let reads = reads.finish().await;

    let in_outage: Vec<_> = reads
        .iter()
        .filter(|r| r.sent >= stopping && r.sent < back)
        .collect();
    let failed = reads.iter().filter(|r| !r.ok_for(PAIRS)).count();
    let mut took: Vec<Duration> = in_outage.iter().map(|r| r.took).collect();
    took.sort();
    figure(
        "scenario 5 reads: before the stop / during the outage (served degraded) / after / failed",
        format!(
            "{} / {} ({}) / {} / {failed}",
            reads.iter().filter(|r| r.sent < stopping).count(),
            in_outage.len(),
            reads.iter().filter(|r| r.degraded.is_some()).count(),
            reads.iter().filter(|r| r.sent >= back).count(),
        ),
    );
    figure(
        "scenario 5 read latency during the outage (median / slowest)",
        format!(
            "{} / {}",
            ms(took[took.len() / 2]),
            ms(took[took.len() - 1])
        ),
    );
    figure(
        "scenario 5 outage (stop → start again)",
        ms(back - stopping),
    );
    figure(
        "scenario 5 recovery (Redis back → served from Redis again)",
        ms(recovery),
    );
    assert_never_older(&reads, PAIRS);
    assert_eq!(failed, 0, "reads failed during a Redis outage");
}
