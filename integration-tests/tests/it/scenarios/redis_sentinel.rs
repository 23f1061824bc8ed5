//! Scenario 16 (issue 15): the Redis cache behind Sentinel (a primary, its replica, three
//! sentinels that declare a primary down after 1 s), the primary killed (SIGKILL) under read
//! load. query-api is the real binary, configured as an operator would (`REDIS_SENTINELS`,
//! `REDIS_MASTER_NAME`). It follows the promoted replica without a restart: prices traded
//! after the kill are written to the new primary and served; meanwhile it serves its own prices
//! (marked degraded) and no read fails. Measured: the sentinels' failover, query-api's
//! recovery, the reads served degraded.

use std::time::{Duration, Instant};

use integration_tests::process::{Process, ingestor_env, query_api_env};
use integration_tests::sentinel::TestSentinel;
use integration_tests::{TestNats, eventually, unique_id};
use jiff::Timestamp;

use super::cluster::{PAIRS, failed, get, longest_unchanged, served_after};
use super::{ReadLoop, WAIT, assert_never_older, figure, ms, trading_sim};

/// The sentinels' `down-after-milliseconds`: the failover cannot start earlier.
const DOWN_AFTER: Duration = Duration::from_secs(1);

#[tokio::test]
async fn sentinel_failover_is_followed_without_restart() {
    let nats = TestNats::start().await;
    let redis = TestSentinel::start(DOWN_AFTER).await;
    let prefix = unique_id();
    let sim = trading_sim(PAIRS, Duration::from_millis(100)).await;
    let ttl = Duration::from_secs(10);
    let _ingestor = Process::start("ingestor", |port| {
        ingestor_env(port, &nats.url, &prefix, &sim, PAIRS, ttl)
    })
    .await;
    let api = Process::start("query-api", |port| {
        let mut env = query_api_env(port, &nats.url, &prefix, PAIRS, ttl);
        env.extend(
            [
                ("CACHE_BACKEND", "redis".to_owned()),
                ("REDIS_SENTINELS", redis.sentinel_list()),
                ("REDIS_MASTER_NAME", redis.master_name.clone()),
                ("REDIS_TIMEOUT", "300ms".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env
    })
    .await;
    let http = reqwest::Client::new();
    let ltp = api.url("/api/v1/ltp");
    let key = format!("{prefix}:price:BTC/USD");
    served_after(&http, &ltp, Timestamp::now()).await;
    eventually(WAIT, "the prices replicated to the replica", || {
        stored(&redis, 1, &key)
    })
    .await;
    eventually(WAIT, "/ready 200", || async {
        let (status, _) = get(&http, &api.url("/ready")).await?;
        (status == 200).then_some(())
    })
    .await;

    let reads = ReadLoop::start(ltp.clone(), Duration::from_millis(20));
    served_after(&http, &ltp, Timestamp::now() + Duration::from_millis(500)).await;
    let killing = Instant::now();
    redis.kill(0).await;
    let killed_at = Timestamp::now();
    let promoted = eventually(WAIT, "the sentinels to name the replica", || async {
        (redis.primary().await? == redis.nodes[1]).then(|| killing.elapsed())
    })
    .await;
    // query-api found the new primary: a price traded after the kill is stored there.
    let recovered = eventually(
        WAIT,
        "a price traded after the kill in the new primary",
        || {
            let key = key.clone();
            let redis = &redis;
            async move {
                let value = stored(redis, 1, &key).await?;
                let message: serde_json::Value = serde_json::from_str(&value).ok()?;
                let traded: Timestamp = message["exchange_time"].as_str()?.parse().ok()?;
                (traded > killed_at).then(|| killing.elapsed())
            }
        },
    )
    .await;
    served_after(&http, &ltp, Timestamp::now()).await;
    let reads = reads.finish().await;

    let failures = failed(&reads);
    let during = reads.iter().filter(|r| r.sent >= killing).count();
    let degraded = reads.iter().filter(|r| r.degraded.is_some()).count();
    figure(
        "scenario 16 reads under load / from the kill on / served degraded / failed",
        format!(
            "{} / {during} / {degraded} / {}",
            reads.len(),
            failures.len()
        ),
    );
    figure(
        "scenario 16 kill → sentinels name the replica (down-after 1 s)",
        ms(promoted),
    );
    figure(
        "scenario 16 kill → a price traded after it written to the new primary",
        ms(recovered),
    );
    figure(
        "scenario 16 longest time a served trade stayed the newest (trades every 100 ms)",
        ms(longest_unchanged(&reads)),
    );
    assert_never_older(&reads, PAIRS);
    // Until the new primary is found, the replica serves its own prices (marked degraded).
    assert!(failures.is_empty(), "failed reads: {failures:#?}");
    let (status, body) = get(&http, &api.url("/ready")).await.unwrap_or_default();
    assert_eq!(status, 200, "{body}\n{}", api.log_text());
}

/// The value of `key` on data node `index`, when it answers and holds one.
async fn stored(redis: &TestSentinel, index: usize, key: &str) -> Option<String> {
    let mut conn = redis.node(index).await?;
    redis::cmd("GET")
        .arg(key)
        .query_async::<Option<String>>(&mut conn)
        .await
        .ok()
        .flatten()
}
