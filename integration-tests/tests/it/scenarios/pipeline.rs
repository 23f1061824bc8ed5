//! Scenario 1: the pipeline end to end, read through the memory cache and the Redis cache.
//! Every configured pair reaches the API with the exact decimal text Kraken sent (trailing
//! zeros kept, in `price` and in the JSON number `amount`) and the source it came from.

use std::time::Duration;

use integration_tests::ingestor::start_ingestor;
use integration_tests::query_api::{RunningQueryApi, start_query_api, with_redis};
use integration_tests::{TestNats, TestRedis, eventually, unique_id};

use super::{WAIT, api_config, ingestor_config, items, manual_sim, serves, trade};

/// XRP/USD's subscription is rejected by the simulator: REST serves it, the others stream.
const PAIRS: &[&str] = &["BTC/USD", "DOGE/USD", "ETH/USD", "XRP/USD"];
const REST_PAIR: &str = "XRP/USD";

/// Waits until both APIs serve exactly `prices`, each from its expected source, with `amount`
/// written from the same text.
async fn until_both_serve(apis: &[&RunningQueryApi; 2], prices: &[(&str, &str)]) {
    eventually(WAIT, &format!("both caches serve {prices:?}"), || async {
        for api in apis {
            let reply = api.get("/api/v1/ltp").await;
            if !serves(&reply, prices, None) {
                return None;
            }
        }
        Some(())
    })
    .await;
    for api in apis {
        let reply = api.get("/api/v1/ltp").await;
        for (pair, price) in prices {
            let exact = format!(r#""pair":"{pair}","amount":{price},"price":"{price}""#);
            assert!(reply.body.contains(&exact), "{exact} in {}", reply.body);
        }
        for item in items(&reply.body) {
            let expected = if item.pair == REST_PAIR { "rest" } else { "ws" };
            assert_eq!(item.source, expected, "{item:?}");
            assert_eq!(
                item.exchange_time.is_some(),
                expected == "ws",
                "Kraken's time comes with WS prices only: {item:?}"
            );
        }
    }
}

#[tokio::test]
async fn every_pair_reaches_the_api_in_both_caches_exact_with_its_source() {
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    sim.control().reject_pair(REST_PAIR, true).expect("reject");
    let ttl = Duration::from_secs(30);
    // Prices set before the ingestor starts reach it in the subscription snapshots (WS) and the
    // first poll (REST). The REST pair's text has 6 decimals, which Kraken's REST keeps as is.
    let first = [
        ("BTC/USD", "65000.10"),
        ("DOGE/USD", "0.12345670"),
        ("ETH/USD", "3000.50"),
        ("XRP/USD", "0.512300"),
    ];
    for (pair, price) in first {
        trade(&sim, pair, price).await;
    }
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let memory = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    let redis_api = start_query_api(with_redis(
        api_config(&nats, &prefix, PAIRS, ttl),
        &redis.addr,
    ))
    .await;
    until_both_serve(&[&memory, &redis_api], &first).await;

    // Live trades after the start: the same exactness through the update path.
    let second = [
        ("BTC/USD", "65001.00"),
        ("DOGE/USD", "0.10000000"),
        ("ETH/USD", "2999.90"),
        ("XRP/USD", "0.600000"),
    ];
    for (pair, price) in second {
        trade(&sim, pair, price).await;
    }
    until_both_serve(&[&memory, &redis_api], &second).await;

    // Both caches give the same answer, pair by pair (a re-publish may land between two
    // reads, so their confirmation times are compared once both have it).
    eventually(WAIT, "the same items from both caches", || async {
        let a = items(&memory.get("/api/v1/ltp").await.body);
        let b = items(&redis_api.get("/api/v1/ltp").await.body);
        let keys = |items: &[super::Item]| items.iter().map(super::Item::key).collect::<Vec<_>>();
        (keys(&a) == keys(&b)).then_some(())
    })
    .await;
    // One pair alone, as a client might ask for it, reads the same.
    for api in [&memory, &redis_api] {
        let one = api.get("/api/v1/ltp?pair=%20doge/usd%20").await;
        assert!(
            serves(&one, &[("DOGE/USD", "0.10000000")], Some("ws")),
            "{}",
            one.body
        );
    }
}
