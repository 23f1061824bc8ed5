//! Redis that requires a password, an ACL user, or TLS (`rediss://`) with a custom CA:
//! query-api's Redis cache works with the right settings and stays unready with wrong ones.

use std::time::Duration;

use common::Encoding;
use common::secret::Secret;
use integration_tests::query_api::{
    Publisher, RunningQueryApi, price_message, start_query_api, test_config, with_redis,
};
use integration_tests::security::{SecureRedis, TestPki};
use integration_tests::{TestNats, eventually, unique_id};
use query_api::RedisConfig;

use super::{PAIRS, WAIT, stays_unready};

const REFUSED: Duration = Duration::from_secs(4);

/// A query-api on the Redis at `addr` with `auth` applied to its Redis settings.
async fn api_on(
    nats: &TestNats,
    prefix: &str,
    addr: &str,
    auth: impl Fn(&mut RedisConfig),
) -> RunningQueryApi {
    let mut config = with_redis(test_config(&nats.url, prefix, PAIRS), addr);
    auth(&mut config.cache.redis);
    start_query_api(config).await
}

/// Publishes a BTC/USD price and waits until `api` serves it with Redis answering (not
/// degraded).
async fn serves_from_redis(nats: &TestNats, prefix: &str, api: &RunningQueryApi) {
    let publisher = Publisher::new(nats.client().await, prefix);
    // An (empty) last-value stream lets the warm-up finish without an ingestor.
    publisher.create_last_value_stream().await;
    api.wait_ready(WAIT).await;
    let msg = price_message("BTC/USD", "61234.5", Duration::ZERO);
    eventually(WAIT, "the price served from Redis", || async {
        publisher.publish(&msg, Encoding::Json).await;
        let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
        (reply.status == 200
            && reply.degraded.is_none()
            && reply.body.contains(r#""price":"61234.5""#))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn password() {
    let nats = TestNats::start().await;
    let redis = SecureRedis::start(&["--requirepass", "s3cret-redis-pass"], Vec::new()).await;
    let prefix = unique_id();
    let api = api_on(&nats, &prefix, &redis.addr, |r| {
        r.password = Secret::new("s3cret-redis-pass");
    })
    .await;
    serves_from_redis(&nats, &prefix, &api).await;
    // Stored under the key prefix, visible to an authenticated client.
    let client = redis::Client::open(format!("redis://:s3cret-redis-pass@{}", redis.addr))
        .expect("redis url");
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("authenticated connection");
    // Written by the replica's writer, which may follow the first read serving the price.
    eventually(WAIT, "the price stored in Redis", || async {
        let stored: Option<String> = redis::cmd("GET")
            .arg(format!("{prefix}:price:BTC/USD"))
            .query_async(&mut conn.clone())
            .await
            .expect("GET");
        stored.filter(|v| v.contains("61234.5"))
    })
    .await;

    let wrong = api_on(&nats, &unique_id(), &redis.addr, |r| {
        r.password = Secret::new("not-the-password");
    })
    .await;
    let body = stays_unready(&wrong, REFUSED).await;
    assert!(body.contains("cache") || body.contains("redis"), "{body}");
    assert_eq!(wrong.get("/api/v1/ltp?pair=BTC/USD").await.status, 503);
}

#[tokio::test]
async fn acl_user() {
    let nats = TestNats::start().await;
    // The default user is disabled: only the named user gets in.
    let redis = SecureRedis::start(
        &[
            "--user",
            "default",
            "off",
            "--user",
            "ltp",
            "on",
            ">s3cret-acl-pass",
            "~*",
            "&*",
            "+@all",
        ],
        Vec::new(),
    )
    .await;
    let prefix = unique_id();
    let api = api_on(&nats, &prefix, &redis.addr, |r| {
        r.username = "ltp".into();
        r.password = Secret::new("s3cret-acl-pass");
    })
    .await;
    serves_from_redis(&nats, &prefix, &api).await;
    // The right password for the wrong (disabled) user is refused.
    let wrong = api_on(&nats, &unique_id(), &redis.addr, |r| {
        r.password = Secret::new("s3cret-acl-pass");
    })
    .await;
    stays_unready(&wrong, REFUSED).await;
}

#[tokio::test]
async fn tls_with_a_custom_ca_and_a_password() {
    let nats = TestNats::start().await;
    let pki = TestPki::generate();
    let redis = SecureRedis::with_tls(&pki, &["--requirepass", "s3cret-tls-pass"]).await;
    let prefix = unique_id();
    let ca = pki.path("ca.pem");
    let api = api_on(&nats, &prefix, &redis.addr, |r| {
        r.tls = true;
        r.tls_ca_file = Some(ca.clone());
        r.password = Secret::new("s3cret-tls-pass");
    })
    .await;
    serves_from_redis(&nats, &prefix, &api).await;
    // The system roots do not trust the test CA.
    let untrusted = api_on(&nats, &unique_id(), &redis.addr, |r| {
        r.tls = true;
        r.password = Secret::new("s3cret-tls-pass");
    })
    .await;
    stays_unready(&untrusted, REFUSED).await;
    // Plain TCP to a TLS port gets nowhere either.
    let plain = api_on(&nats, &unique_id(), &redis.addr, |r| {
        r.password = Secret::new("s3cret-tls-pass");
    })
    .await;
    stays_unready(&plain, REFUSED).await;
}
