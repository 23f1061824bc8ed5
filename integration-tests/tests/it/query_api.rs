//! query-api against real NATS (with and without JetStream) and Redis: prices published on the
//! bus as the ingestor publishes them, answers read over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::control::{FailureCode, PairFailure, RefreshReply, RefreshRequest};
use common::subject::INGESTOR_QUEUE_GROUP;
use common::{Encoding, Subjects};
use futures::StreamExt;
use integration_tests::query_api::{
    Publisher, RunningQueryApi, price_message, start_query_api, test_config, with_redis,
};
use integration_tests::{TestNats, TestRedis, eventually, unique_id};
use redis::AsyncCommands;

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "XRP/USD"];
const WAIT: Duration = Duration::from_secs(20);

/// Waits until `GET path` answers `status` and returns the reply.
async fn until_status(
    api: &RunningQueryApi,
    path: &str,
    status: u16,
) -> integration_tests::query_api::Reply {
    eventually(WAIT, &format!("GET {path} → {status}"), || async {
        let reply = api.get(path).await;
        (reply.status == status).then_some(reply)
    })
    .await
}

/// Waits until `GET /api/v1/ltp?pair=<pair>` serves `price`.
async fn until_price(api: &RunningQueryApi, pair: &str, price: &str) {
    let path = format!("/api/v1/ltp?pair={pair}");
    eventually(WAIT, &format!("{pair} at {price}"), || async {
        let reply = api.get(&path).await;
        (reply.status == 200 && reply.prices() == [(pair.to_owned(), price.to_owned())])
            .then_some(())
    })
    .await;
}

/// Waits until `/metrics` contains `line`.
async fn until_metric(api: &RunningQueryApi, line: &str) {
    eventually(WAIT, line, || async {
        api.get("/metrics").await.body.contains(line).then_some(())
    })
    .await;
}

/// Publishes one fresh price per pair (BTC in MessagePack, the others in JSON).
async fn publish_all(publisher: &Publisher) {
    let prices = [
        ("BTC/USD", "62702.9", Encoding::Msgpack),
        ("ETH/USD", "0.00044780", Encoding::Json),
        ("XRP/USD", "0.5123", Encoding::Json),
    ];
    for (pair, price, encoding) in prices {
        publisher
            .publish(
                &price_message(pair, price, Duration::from_millis(10)),
                encoding,
            )
            .await;
    }
}

/// An ingestor stand-in answering refresh and snapshot requests in the ingestors' queue group.
/// `answer` gets each request; `delay` is waited before replying. Returns the count of
/// requests seen.
async fn responder(
    client: async_nats::Client,
    prefix: &str,
    delay: Duration,
    answer: impl Fn(&RefreshRequest) -> RefreshReply + Send + 'static,
) -> Arc<AtomicUsize> {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let subject = Subjects::new(prefix).expect("prefix").refresh();
    let mut sub = client
        .queue_subscribe(subject, INGESTOR_QUEUE_GROUP.into())
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            count.fetch_add(1, Ordering::SeqCst);
            let request: RefreshRequest = serde_json::from_slice(&msg.payload).expect("request");
            tokio::time::sleep(delay).await;
            let reply = serde_json::to_vec(&answer(&request)).expect("json");
            if let Some(inbox) = msg.reply {
                let _ = client.publish(inbox, reply.into()).await;
                let _ = client.flush().await;
            }
        }
    });
    seen
}

fn reply_with(prices: &[(&str, &str)]) -> RefreshReply {
    RefreshReply {
        prices: prices
            .iter()
            .map(|(pair, price)| price_message(pair, price, Duration::from_millis(5)))
            .collect(),
        errors: Vec::new(),
        ingestor: "it-responder".into(),
    }
}

#[tokio::test]
async fn prices_flow_from_nats_with_exact_decimals_in_both_encodings() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    // Subscriptions are made while connecting: publish until the first one lands.
    eventually(WAIT, "all prices served", || async {
        publish_all(&publisher).await;
        (api.get("/api/v1/ltp").await.status == 200).then_some(())
    })
    .await;
    let reply = api.get("/api/v1/ltp").await;
    assert!(
        reply
            .body
            .contains(r#""amount":0.00044780,"price":"0.00044780""#),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#""amount":62702.9,"price":"62702.9""#));
    assert_eq!(
        reply
            .prices()
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        PAIRS
    );
    let item = &reply.json()["ltp"][0];
    assert_eq!(item["source"], "ws");
    assert!(item["age_ms"].as_u64().expect("age") < 10_000);
    api.stop().await.expect("clean stop");
}

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
async fn a_late_replica_is_ready_with_every_pair_from_jetstream() {
    let nats = TestNats::start().await;
    assert!(nats.jetstream);
    let prefix = unique_id();
    let publisher = Publisher::new(nats.client().await, &prefix);
    publisher.create_last_value_stream().await;
    publish_all(&publisher).await;
    // No tick after this point: whatever the replica serves came from the stream.
    let started = Instant::now();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    api.wait_ready(WAIT).await;
    let ready_after = started.elapsed();
    let reply = api.get("/api/v1/ltp").await;
    assert_eq!(
        reply.status, 200,
        "ready but not every pair: {}",
        reply.body
    );
    assert!(reply.body.contains(r#""price":"0.00044780""#));
    assert!(
        api.get("/metrics")
            .await
            .body
            .contains(r#"btc_ltp_warmups_total{result="success",source="jetstream"} 1"#)
    );
    eprintln!("late replica ready with every pair after {ready_after:?}");
}

#[tokio::test]
async fn without_jetstream_a_late_replica_warms_up_from_a_snapshot() {
    let nats = TestNats::start_core_only().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    // No stream and no ingestor yet: not ready, and it says why.
    let reply = eventually(WAIT, "warm-up reason", || async {
        let reply = api.get("/ready").await;
        let warmup = reply.json()["services"]["warmup"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (reply.status == 503 && warmup.contains("no ingestor answered")).then_some(reply)
    })
    .await;
    assert_eq!(reply.json()["services"]["nats"], "ready");
    let snapshots = responder(nats.client().await, &prefix, Duration::ZERO, |request| {
        assert!(request.snapshot, "warm-up asks for a snapshot");
        reply_with(&[
            ("BTC/USD", "58033"),
            ("ETH/USD", "2500.1"),
            ("XRP/USD", "0.6"),
            ("LTC/USD", "80"),
        ])
    })
    .await;
    api.wait_ready(WAIT).await;
    let reply = api.get("/api/v1/ltp").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.prices(),
        [
            ("BTC/USD".into(), "58033".into()),
            ("ETH/USD".into(), "2500.1".into()),
            ("XRP/USD".into(), "0.6".into())
        ]
    );
    assert!(snapshots.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn refresh_goes_to_an_ingestor_and_updates_the_cache() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let requests = responder(nats.client().await, &prefix, Duration::ZERO, |request| {
        if request.snapshot {
            return RefreshReply::default();
        }
        let mut reply = reply_with(&[("BTC/USD", "70000.25")]);
        if request.pairs.iter().any(|p| p == "ETH/USD") {
            reply.errors.push(PairFailure {
                pair: "ETH/USD".into(),
                code: FailureCode::KrakenUnavailable,
                message: "EService:Unavailable".into(),
            });
        }
        reply
    })
    .await;
    api.wait_ready(WAIT).await;
    let reply = api.post("/api/v1/ltp/refresh?pairs=btc/usd").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.prices(), [("BTC/USD".into(), "70000.25".into())]);
    // This replica's cache has it at once.
    let now = api.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(now.prices(), [("BTC/USD".into(), "70000.25".into())]);
    // Kraken failing for one pair: never a 200.
    let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD,ETH/USD").await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(reply.json()["errors"][0]["code"], "KRAKEN_UNAVAILABLE");
    assert!(requests.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn refresh_without_an_ingestor_is_503_at_once_and_a_slow_one_504() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let mut config = test_config(&nats.url, &prefix, PAIRS);
    config.nats.request_timeout = Duration::from_millis(500);
    let api = start_query_api(config).await;
    until_status(&api, "/health", 200).await;
    eventually(WAIT, "connected to NATS", || async {
        (api.get("/ready").await.json()["services"]["nats"] == "ready").then_some(())
    })
    .await;
    let started = Instant::now();
    let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"], "NO_INGESTOR");
    assert!(
        took < Duration::from_millis(400),
        "no-responders took {took:?}"
    );

    responder(nats.client().await, &prefix, Duration::from_secs(2), |_| {
        RefreshReply::default()
    })
    .await;
    let started = Instant::now();
    let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD").await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(reply.json()["error"], "INGESTOR_TIMEOUT");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn redis_down_gives_fast_per_pair_errors_and_everything_recovers_without_restart() {
    let nats = TestNats::start().await;
    let redis = TestRedis::container(&[]).await;
    let prefix = unique_id();
    let api = start_query_api(with_redis(
        test_config(&nats.url, &prefix, PAIRS),
        &redis.addr,
    ))
    .await;
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
            started.elapsed() < Duration::from_millis(250),
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
    drop(a);
}

#[tokio::test]
async fn a_nats_restart_is_survived_and_readiness_follows_it() {
    let nats = TestNats::container(true).await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    // On disk, as the ingestor's default: the last values survive the restart and the replica
    // warms up from them again once reconnected.
    publisher
        .create_last_value_stream_in(async_nats::jetstream::stream::StorageType::File)
        .await;
    publish_all(&publisher).await;
    api.wait_ready(WAIT).await;

    nats.stop().await;
    let reply = until_status(&api, "/ready", 503).await;
    assert_eq!(reply.json()["services"]["nats"], "error: not connected");
    // Cached prices are still served while they are fresh.
    assert_eq!(api.get("/api/v1/ltp").await.status, 200);

    nats.start_again().await;
    api.wait_ready(Duration::from_secs(30)).await;
    // Live updates flow again after the reconnect.
    let publisher = Publisher::new(nats.client().await, &prefix);
    eventually(WAIT, "update after restart", || async {
        publisher
            .publish(
                &price_message("XRP/USD", "0.7777", Duration::ZERO),
                Encoding::Json,
            )
            .await;
        let prices = api.get("/api/v1/ltp?pair=XRP/USD").await.prices();
        (prices == [("XRP/USD".to_owned(), "0.7777".to_owned())]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_returns_ok() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let seen = responder(
        nats.client().await,
        &prefix,
        Duration::from_millis(700),
        |request| {
            if request.snapshot {
                RefreshReply::default()
            } else {
                reply_with(&[("BTC/USD", "1.25")])
            }
        },
    )
    .await;
    api.wait_ready(WAIT).await;
    let before = seen.load(Ordering::SeqCst);
    let http = api.http.clone();
    let url = api.url("/api/v1/ltp/refresh?pairs=BTC/USD");
    let in_flight = tokio::spawn(async move { http.post(url).send().await });
    eventually(WAIT, "refresh reached the ingestor", || async {
        (seen.load(Ordering::SeqCst) > before).then_some(())
    })
    .await;
    let addr = api.addr;
    let started = Instant::now();
    api.stop().await.expect("run returns Ok");
    let response = in_flight
        .await
        .expect("task")
        .expect("in-flight request completed");
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The listener is closed afterwards.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn hostile_requests_get_a_4xx_or_a_closed_connection_never_a_5xx() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let nats = TestNats::start().await;
    let api = start_query_api(test_config(&nats.url, &unique_id(), PAIRS)).await;
    until_status(&api, "/health", 200).await;
    // The status line of a raw request, or None when the server closed the connection.
    let raw = |request: Vec<u8>| {
        let addr = api.addr;
        async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let _ = stream.write_all(&request).await;
            let mut buf = vec![0u8; 512];
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                .await
                .expect("answered or closed in time")
                .unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            text.lines().next().map(str::to_owned)
        }
    };
    let status_of = |line: Option<String>| {
        line.and_then(|l| l.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()))
    };
    let long_url = format!(
        "GET /api/v1/ltp?pair={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "A".repeat(9000)
    );
    assert_eq!(status_of(raw(long_url.into_bytes()).await), Some(414));
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(20_000)
    );
    assert_eq!(status_of(raw(big_header.into_bytes()).await), Some(431));
    // Far beyond the read buffer: refused by the HTTP layer itself.
    let huge = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(200_000)
    );
    let status = status_of(raw(huge.into_bytes()).await);
    assert!(matches!(status, None | Some(400..=499)), "{status:?}");
    // Invalid UTF-8 after decoding, and broken escapes.
    for query in ["pair=%ff%fe", "pair=%zz", "pair=%"] {
        let reply = api.get(&format!("/api/v1/ltp?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
    }
    // Not HTTP at all.
    let status = status_of(raw(b"\x16\x03\x01garbage\r\n\r\n".to_vec()).await);
    assert!(matches!(status, None | Some(400..=499)), "{status:?}");
    // Still serving.
    assert_eq!(api.get("/health").await.status, 200);
}

/// The whole pipeline: Kraken simulator → real ingestor → NATS → query-api.
mod end_to_end {
    use std::time::{Duration, Instant};

    use integration_tests::ingestor::{self, start_ingestor};
    use integration_tests::query_api::{start_query_api, test_config};
    use integration_tests::sim::{start_sim_with, test_config as sim_config};
    use integration_tests::{TestNats, eventually, unique_id};
    use kraken_sim::Rate;

    use super::{PAIRS, WAIT};

    /// A simulator that trades only when told to, and an ingestor on it whose quiet pairs are
    /// re-published only every 10 s (TTL 30 s), so a price seen sooner came from a trade or
    /// from the warm-up.
    async fn pipeline(
        nats: &TestNats,
        prefix: &str,
    ) -> (kraken_sim::Simulator, ingestor::RunningIngestor) {
        let sim = start_sim_with(kraken_sim::SimConfig {
            rate: Rate::Manual,
            ..sim_config(PAIRS)
        })
        .await;
        let mut config =
            ingestor::test_config(&nats.url, prefix, &sim.ws_url(), &sim.rest_url(), PAIRS);
        config.cache.ttl = Duration::from_secs(30);
        let ingestor = start_ingestor(config).await;
        (sim, ingestor)
    }

    #[tokio::test]
    async fn kraken_trades_reach_the_api_with_exact_decimals() {
        let nats = TestNats::start().await;
        let prefix = unique_id();
        let (sim, _ingestor) = pipeline(&nats, &prefix).await;
        let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
        eventually(WAIT, "65000.10 served", || async {
            sim.control()
                .trade_now("BTC/USD", Some("65000.10"))
                .await
                .ok()?;
            let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
            reply
                .body
                .contains(r#""amount":65000.10,"price":"65000.10""#)
                .then_some(())
        })
        .await;
        let item = &api.get("/api/v1/ltp?pair=BTC/USD").await.json()["ltp"][0];
        assert_eq!(item["source"], "ws");
        assert!(item["exchange_time"].is_string());
    }

    #[tokio::test]
    async fn a_late_replica_serves_every_pair_as_soon_as_it_is_ready() {
        let nats = TestNats::start().await;
        let prefix = unique_id();
        let (sim, _ingestor) = pipeline(&nats, &prefix).await;
        // One trade per pair, seen by a first replica.
        let first = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
        eventually(WAIT, "every pair traded and served", || async {
            for pair in PAIRS {
                sim.control().trade_now(pair, None).await.ok()?;
            }
            (first.get("/api/v1/ltp").await.status == 200).then_some(())
        })
        .await;
        let expected = first.get("/api/v1/ltp").await.prices();
        // No trade from here on: the late replica has only the last values to go by.
        let started = Instant::now();
        let late = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
        late.wait_ready(WAIT).await;
        let ready_after = started.elapsed();
        let reply = late.get("/api/v1/ltp").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.prices(), expected);
        assert!(
            ready_after < Duration::from_secs(5),
            "ready after {ready_after:?}, later than the first re-publish"
        );
        eprintln!("late replica ready with every pair after {ready_after:?}");
    }

    #[tokio::test]
    async fn refresh_works_and_is_503_at_once_when_the_ingestor_is_stopped() {
        let nats = TestNats::start().await;
        let prefix = unique_id();
        let (_sim, ingestor) = pipeline(&nats, &prefix).await;
        let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
        let reply = eventually(WAIT, "refresh 200", || async {
            let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD,ETH/USD").await;
            (reply.status == 200).then_some(reply)
        })
        .await;
        assert_eq!(
            reply
                .prices()
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>(),
            ["BTC/USD", "ETH/USD"]
        );
        let served = api.get("/api/v1/ltp?pair=BTC/USD,ETH/USD").await;
        assert_eq!(served.status, 200, "{}", served.body);

        let (result, _) = ingestor.stop().await;
        result.expect("ingestor stops cleanly");
        let started = Instant::now();
        let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD").await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(reply.json()["error"], "NO_INGESTOR");
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
