//! The fixtures themselves work: real containers, real protocol round trips.

use std::time::Duration;

use futures::StreamExt;
use integration_tests::{TestNats, TestRedis, unique_id};
use redis::AsyncCommands;

#[tokio::test]
async fn jetstream_keeps_the_last_message_per_subject_and_reads_it_back() {
    let nats = TestNats::start().await;
    let client = nats.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let prefix = unique_id();
    let stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("{}_FIXTURE", prefix.to_uppercase()),
            subjects: vec![format!("{prefix}.prices.>")],
            max_messages_per_subject: 1,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .expect("create stream");
    // Plain core publishes are captured by the stream.
    for price in ["1", "2", "3"] {
        client
            .publish(format!("{prefix}.prices.kraken.BTC-USD"), price.into())
            .await
            .expect("publish");
    }
    client.flush().await.expect("flush");
    let subject = format!("{prefix}.prices.kraken.BTC-USD");
    let last = integration_tests::eventually(Duration::from_secs(5), "last message stored", || {
        let stream = stream.clone();
        let subject = subject.clone();
        async move {
            let msg = stream.direct_get_last_for_subject(subject).await.ok()?;
            (msg.payload.as_ref() == b"3").then_some(msg)
        }
    })
    .await;
    assert_eq!(last.payload.as_ref(), b"3");
    let info = stream.clone().info().await.expect("info").clone();
    assert_eq!(info.state.messages, 1, "one message per subject is kept");
}

#[tokio::test]
async fn core_nats_without_jetstream_delivers_and_has_no_jetstream() {
    let nats = TestNats::start_core_only().await;
    let client = nats.client().await;
    let mut sub = client.subscribe("x.y").await.expect("subscribe");
    client
        .publish("x.y", "hello".into())
        .await
        .expect("publish");
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(msg.payload.as_ref(), b"hello");
    let js = async_nats::jetstream::new(client);
    assert!(js.query_account().await.is_err(), "JetStream must be off");
}

#[tokio::test]
async fn redis_set_with_ttl_then_get_then_expiry() {
    let redis = TestRedis::start().await;
    let mut conn = redis.connection().await;
    let key = format!("{}:price:BTC/USD", unique_id());
    let _: () = conn.pset_ex(&key, "62702.9", 300).await.expect("set");
    let got: Option<String> = conn.get(&key).await.expect("get");
    assert_eq!(got.as_deref(), Some("62702.9"));
    let ttl: i64 = conn.pttl(&key).await.expect("pttl");
    assert!(ttl > 0 && ttl <= 300, "ttl {ttl}");
    let gone = integration_tests::eventually(Duration::from_secs(5), "key expired", || {
        let mut conn = conn.clone();
        let key = key.clone();
        async move {
            let v: Option<String> = conn.get(&key).await.ok()?;
            v.is_none().then_some(())
        }
    })
    .await;
    assert_eq!(gone, ());
}

#[tokio::test]
async fn restarted_containers_come_back_at_the_same_address() {
    let nats = TestNats::container(true).await;
    let before = nats.url.clone();
    nats.restart().await;
    assert_eq!(nats.url, before);
    let client = nats.client().await;
    client
        .publish("after.restart", "x".into())
        .await
        .expect("publish after restart");
    client.flush().await.expect("flush after restart");
}
