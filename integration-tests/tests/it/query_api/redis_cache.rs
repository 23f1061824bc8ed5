//! query-api with the Redis cache: the stored value, an outage, several replicas.

use std::time::{Duration, Instant};

use common::{Encoding, Source};
use integration_tests::query_api::{
    Publisher, price_message, start_query_api, test_config, with_redis,
};
use integration_tests::{TestNats, TestRedis, eventually, unique_id};
use redis::AsyncCommands;

use super::{PAIRS, WAIT, publish_all, until_metric, until_price, until_status};

#[tokio::test]
async fn the_redis_cache_stores_the_documented_value_with_the_remaining_ttl() {
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let prefix = unique_id();
    let api = start_query_api(with_redis(
        test_config(&nats.url, &prefix, PAIRS),
        &redis.addr,
    ))
    .await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    eventually(WAIT, "all prices served from Redis", || async {
        publish_all(&publisher).await;
        (api.get("/api/v1/ltp").await.status == 200).then_some(())
    })
    .await;
    let reply = api.get("/api/v1/ltp?pair=ETH/USD").await;
    assert!(
        reply.body.contains(r#""amount":0.00044780"#),
        "{}",
        reply.body
    );
    let mut conn = redis.connection().await;
    let key = format!("{prefix}:price:ETH/USD");
    let value: String = conn.get(&key).await.expect("stored value");
    let stored = common::message::decode(Some("application/json"), value.as_bytes())
        .expect("the value is the price message in JSON");
    assert_eq!(stored.price.as_str(), "0.00044780");
    let ttl: i64 = conn.pttl(&key).await.expect("pttl");
    assert!(
        ttl > 25_000 && ttl <= 30_000,
        "TTL is the remaining freshness: {ttl}"
    );
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn redis_down_gives_fast_per_pair_errors_and_everything_recovers_without_restart() {
    let nats = TestNats::start().await;
    let redis = TestRedis::container(&[]).await;
    let prefix = unique_id();
    let mut config = with_redis(test_config(&nats.url, &prefix, PAIRS), &redis.addr);
    // A round-trip bound far above the 1 s asserted below: answers must not wait for it.
    config.cache.redis.timeout = Duration::from_secs(3);
    let api = start_query_api(config).await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    publisher.create_last_value_stream().await;
    publish_all(&publisher).await;
    api.wait_ready(WAIT).await;
    until_status(&api, "/api/v1/ltp", 200).await;

    redis.stop().await;
    let reply = until_status(&api, "/api/v1/ltp", 503).await;
    let errors = reply.json()["errors"].clone();
    assert_eq!(errors.as_array().map(Vec::len), Some(3), "{errors}");
    assert_eq!(errors[0]["reason"], "cache_unavailable");
    assert!(
        !reply.body.to_lowercase().contains("refused"),
        "no internal text: {}",
        reply.body
    );
    // Failing fast: no request waits for Redis while it is down.
    for _ in 0..5 {
        let started = Instant::now();
        let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
        assert_eq!(reply.status, 503);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
    }
    let ready = api.get("/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json()["services"]["cache"],
        "error: cache unreachable"
    );
    assert_eq!(api.get("/api/v1/ltp/cached").await.status, 503);

    // Redis comes back empty; the newest prices are written back without any new tick.
    redis.start_again().await;
    let reply = until_status(&api, "/api/v1/ltp", 200).await;
    assert!(
        reply.body.contains(r#""price":"0.00044780""#),
        "{}",
        reply.body
    );
    api.wait_ready(WAIT).await;
}

#[tokio::test]
async fn three_replicas_on_one_redis_agree_and_never_go_backwards() {
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let prefix = unique_id();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(
            start_query_api(with_redis(
                test_config(&nats.url, &prefix, PAIRS),
                &redis.addr,
            ))
            .await,
        );
    }
    let publisher = Publisher::new(nats.client().await, &prefix);
    eventually(WAIT, "every replica serves every pair", || async {
        publish_all(&publisher).await;
        for api in &replicas {
            if api.get("/api/v1/ltp").await.status != 200 {
                return None;
            }
        }
        Some(())
    })
    .await;
    // A newer price, then an older one (a late REST answer, or a second ingestor).
    let newer = price_message("BTC/USD", "63000", Duration::from_millis(1));
    let older = price_message("BTC/USD", "61000", Duration::from_secs(2));
    publisher.publish(&newer, Encoding::Msgpack).await;
    for api in &replicas {
        until_price(api, "BTC/USD", "63000").await;
    }
    publisher.publish(&older, Encoding::Json).await;
    for api in &replicas {
        until_metric(api, r#"btc_ltp_nats_messages_total{result="stale"} 1"#).await;
    }
    let answers: Vec<_> = futures::future::join_all(
        replicas
            .iter()
            .map(|api| async { api.get("/api/v1/ltp").await.prices() }),
    )
    .await;
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "replicas disagree: {answers:?}"
    );
    assert_eq!(answers[0][0], ("BTC/USD".into(), "63000".into()));
}

#[tokio::test]
async fn the_redis_script_keeps_a_newer_price_written_by_another_replica() {
    // Two replicas share one Redis key space but listen on different subjects, so one of them
    // only ever sees the older price: Redis itself must refuse it.
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let (feed_a, feed_b) = (unique_id(), unique_id());
    let shared_keys = format!("{}:price:", unique_id());
    let replica = |feed: &str| {
        let mut config = with_redis(test_config(&nats.url, feed, PAIRS), &redis.addr);
        config.business.cache_prefix = shared_keys.clone();
        config
    };
    let a = start_query_api(replica(&feed_a)).await;
    let b = start_query_api(replica(&feed_b)).await;
    let client = nats.client().await;
    let (pub_a, pub_b) = (
        Publisher::new(client.clone(), &feed_a),
        Publisher::new(client, &feed_b),
    );
    let newer = price_message("ETH/USD", "3001", Duration::from_millis(1));
    eventually(WAIT, "newer price visible through B", || async {
        pub_a.publish(&newer, Encoding::Json).await;
        (b.get("/api/v1/ltp?pair=ETH/USD").await.prices()
            == [("ETH/USD".to_owned(), "3001".to_owned())])
        .then_some(())
    })
    .await;
    let older = price_message("ETH/USD", "2999", Duration::from_secs(3));
    pub_b.publish(&older, Encoding::Msgpack).await;
    until_metric(
        &b,
        r#"btc_ltp_cache_operations_total{operation="set",result="stale"} 1"#,
    )
    .await;
    assert_eq!(
        b.get("/api/v1/ltp?pair=ETH/USD").await.prices(),
        [("ETH/USD".to_owned(), "3001".to_owned())]
    );
    // A REST price our clock stamps later than the trade, but which Kraken's clock (`as_of`)
    // puts before it: refused too.
    let mut rest = price_message("ETH/USD", "2998", Duration::ZERO);
    (rest.source, rest.exchange_time) = (Source::Rest, None);
    rest.as_of = newer.as_of.map(|t| t - Duration::from_millis(100));
    assert!(rest.received_at > newer.received_at);
    pub_b.publish(&rest, Encoding::Json).await;
    until_metric(
        &b,
        r#"btc_ltp_cache_operations_total{operation="set",result="stale"} 2"#,
    )
    .await;
    assert_eq!(
        b.get("/api/v1/ltp?pair=ETH/USD").await.prices(),
        [("ETH/USD".to_owned(), "3001".to_owned())]
    );
    drop(a);
}
