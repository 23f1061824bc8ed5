//! Scenario 7: three query-api replicas behind one ingestor give the same answer for every
//! pair, and the replica started last is ready with every pair before the next tick: from the
//! JetStream last-value stream, or, on a server without JetStream, from a snapshot request to
//! the ingestor.
//!
//! The simulator trades only when told to and the TTL is 30 minutes (quiet pairs re-published
//! every 10 minutes), so no price message at all is published while the last replica starts:
//! a subscriber on the price subjects checks that.

use std::time::{Duration, Instant};

use integration_tests::ingestor::{Watcher, start_ingestor};
use integration_tests::query_api::{RunningQueryApi, start_query_api};
use integration_tests::{TestNats, eventually, unique_id};

use super::{
    Item, WAIT, api_config, figure, ingestor_config, items, manual_sim, ms, serves, trade,
    trade_streamed,
};

const PAIRS: &[&str] = &["BTC/EUR", "BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD"];

/// The answer of each replica to `GET /api/v1/ltp`, without ages; asserts they are all 200.
async fn answers(
    replicas: &[&RunningQueryApi],
) -> Vec<
    Vec<(
        String,
        String,
        String,
        jiff::Timestamp,
        Option<jiff::Timestamp>,
    )>,
> {
    let mut all = Vec::new();
    for api in replicas {
        let reply = api.get("/api/v1/ltp").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        all.push(items(&reply.body).iter().map(Item::key).collect());
    }
    all
}

async fn three_replicas_agree_and_the_last_is_warm_before_the_next_tick(nats: TestNats, how: &str) {
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(30 * 60);
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let first = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    let second = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    let prices = [
        ("BTC/EUR", "55000.0"),
        ("BTC/USD", "60000.9"),
        ("ETH/USD", "3000.01"),
        ("LTC/USD", "80.10"),
        ("XRP/USD", "0.50000"),
    ];
    first.wait_ready(WAIT).await;
    second.wait_ready(WAIT).await;
    let mut traded = Vec::new();
    for (pair, price) in prices {
        traded.push((pair, trade_streamed(&sim, pair, price, 1).await));
    }
    // Both replicas have the last trade of every pair (recognised by its exchange time).
    eventually(WAIT, "both replicas serve every last trade", || async {
        for api in [&first, &second] {
            let reply = api.get("/api/v1/ltp").await;
            let served = items(&reply.body);
            let all = serves(&reply, &prices, Some("ws"))
                && traded.iter().all(|(pair, at)| {
                    served
                        .iter()
                        .any(|i| i.pair == *pair && i.exchange_time == Some(*at))
                });
            if !all {
                return None;
            }
        }
        Some(())
    })
    .await;

    // From here on nothing trades: whatever the last replica serves, it loaded at start.
    let watcher = Watcher::start(&nats.client().await, &prefix).await;
    let started = Instant::now();
    let third = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    third.wait_ready(WAIT).await;
    let ready_after = started.elapsed();
    let reply = third.get("/api/v1/ltp").await;
    let ticks = watcher.prices().len();
    figure(
        &format!("scenario 7 ({how}) last replica ready with every pair after"),
        ms(ready_after),
    );
    assert!(
        serves(&reply, &prices, Some("ws")),
        "ready but not every pair: {}",
        reply.body
    );
    assert_eq!(ticks, 0, "no price was published while it started");

    let all = answers(&[&first, &second, &third]).await;
    assert!(
        all.windows(2).all(|w| w[0] == w[1]),
        "replicas disagree: {all:?}"
    );

    // A new trade reaches all three alike.
    trade(&sim, "ETH/USD", "3001.00").await;
    eventually(WAIT, "the new trade on every replica", || async {
        let all = answers(&[&first, &second, &third]).await;
        (all.windows(2).all(|w| w[0] == w[1])
            && all[0].iter().any(|i| i.0 == "ETH/USD" && i.1 == "3001.00"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn three_replicas_agree_late_one_warm_before_next_tick_jetstream() {
    let nats = TestNats::start().await;
    assert!(nats.jetstream);
    three_replicas_agree_and_the_last_is_warm_before_the_next_tick(nats, "JetStream").await;
}

#[tokio::test]
async fn three_replicas_agree_late_one_warm_before_next_tick_snapshot() {
    three_replicas_agree_and_the_last_is_warm_before_the_next_tick(
        TestNats::start_core_only().await,
        "snapshot",
    )
    .await;
}
