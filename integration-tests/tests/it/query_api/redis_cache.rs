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
    // Written by the replica's writer, which may follow the first read serving the price.
    let value: String = eventually(WAIT, "the price stored in Redis", || {
        let mut conn = conn.clone();
        let key = key.clone();
        async move { conn.get::<_, Option<String>>(&key).await.ok().flatten() }
    })
    .await;
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
async fn redis_down_serves_own_prices_marked_and_recovers_without_restart() {
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
    let before = until_status(&api, "/api/v1/ltp", 200).await;
    assert_eq!(before.degraded, None);

    redis.stop().await;
    // The replica serves the prices it received from NATS, marked, and at once.
    let reply = eventually(WAIT, "an answer marked degraded", || async {
        let reply = api.get("/api/v1/ltp").await;
        reply.degraded.is_some().then_some(reply)
    })
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.degraded.as_deref(), Some("redis-unavailable"));
    assert_eq!(reply.prices(), before.prices());
    for _ in 0..5 {
        let started = Instant::now();
        let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
        assert_eq!(
            (reply.status, reply.degraded.as_deref()),
            (200, Some("redis-unavailable"))
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
    }
    // /ready says so, and stays 200: the replica serves.
    let ready = api.get("/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["status"], "degraded");
    assert_eq!(
        ready.json()["services"]["cache"],
        "degraded: redis-unavailable, serving the prices this replica receives from NATS"
    );
    let cached = api.get("/api/v1/ltp/cached").await;
    assert_eq!((cached.status, cached.pairs().len()), (200, 3));
    assert_eq!(cached.degraded.as_deref(), Some("redis-unavailable"));
    // A price that arrives during the outage is served too.
    publisher
        .publish(
            &price_message("BTC/USD", "62800.1", Duration::ZERO),
            Encoding::Json,
        )
        .await;
    until_price(&api, "BTC/USD", "62800.1").await;

    // Redis comes back empty; the newest prices are written back without any new tick.
    redis.start_again().await;
    let reply = eventually(WAIT, "an answer from Redis again", || async {
        let reply = api.get("/api/v1/ltp").await;
        (reply.status == 200 && reply.degraded.is_none()).then_some(reply)
    })
    .await;
    assert!(
        reply.body.contains(r#""price":"62800.1""#),
        "{}",
        reply.body
    );
    let key = format!("{prefix}:price:BTC/USD");
    eventually(WAIT, "the newest price written back to Redis", || async {
        let mut conn = redis.connection().await;
        let value: Option<String> = conn.get(&key).await.ok()?;
        value.filter(|v| v.contains("62800.1"))
    })
    .await;
    api.wait_ready(WAIT).await;
    assert_eq!(api.get("/ready").await.json()["status"], "ready");
}

#[tokio::test]
async fn a_read_serves_the_newer_of_redis_and_its_own_price() {
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let prefix = unique_id();
    let api = start_query_api(with_redis(
        test_config(&nats.url, &prefix, PAIRS),
        &redis.addr,
    ))
    .await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    let own = price_message("BTC/USD", "62702.9", Duration::from_millis(500));
    // Published until served: a message sent before the replica's subscription reached the
    // server is not delivered (core NATS), and sending it again is harmless.
    eventually(WAIT, "BTC/USD at 62702.9", || async {
        publisher.publish(&own, Encoding::Json).await;
        let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
        (reply.prices() == [("BTC/USD".into(), "62702.9".into())]).then_some(())
    })
    .await;
    let mut conn = redis.connection().await;
    let key = format!("{prefix}:price:BTC/USD");
    // Another writer puts an older price in Redis (as a Redis restored from an old snapshot
    // would): the replica keeps serving the newer one it holds.
    let older = price_message("BTC/USD", "61000.0", Duration::from_secs(5));
    let _: () = conn
        .set(&key, Encoding::Json.encode(&older).to_vec())
        .await
        .expect("SET");
    let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(reply.prices(), [("BTC/USD".into(), "62702.9".into())]);
    // A newer price in Redis (written by another replica) is served.
    let newer = price_message("BTC/USD", "63000.0", Duration::ZERO);
    let _: () = conn
        .set(&key, Encoding::Json.encode(&newer).to_vec())
        .await
        .expect("SET");
    let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(reply.prices(), [("BTC/USD".into(), "63000.0".into())]);
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
