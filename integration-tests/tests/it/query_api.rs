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
    Publisher, RunningQueryApi, price_message, start_query_api, test_config,
};
use integration_tests::{TestNats, eventually, unique_id};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "XRP/USD"];
const WAIT: Duration = Duration::from_secs(20);

mod config_keys;
mod end_to_end;
mod hostile;
mod redis_cache;
mod rest_additions;

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
    // A request nobody answers comes back ("no responders") only after the server processed
    // everything sent before it on this connection, the subscription included.
    let _ = client
        .request(format!("_probe.{}", unique_id()), "".into())
        .await;
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
    assert_eq!(reply.pairs(), PAIRS);
    let item = &reply.json()["ltp"][0];
    assert_eq!(item["source"], "ws");
    assert!(item["age_ms"].as_u64().expect("age") < 10_000);
    api.stop().await.expect("clean stop");
}

/// The value of the first `/metrics` line starting with `prefix`.
async fn metric(api: &RunningQueryApi, prefix: &str) -> Option<f64> {
    let body = api.get("/metrics").await.body;
    body.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn new_prices_time_the_publish_to_cache_stage_republishes_not() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let client = nats.client().await;
    let publisher = Publisher::new(client.clone(), &prefix);
    until_metric(&api, "ltp_cache_ttl_seconds 30\n").await;
    eventually(WAIT, "BTC/USD served", || async {
        let msg = price_message("BTC/USD", "1.5", Duration::from_millis(10));
        publisher.publish(&msg, Encoding::Json).await;
        (api.get("/api/v1/ltp?pair=BTC/USD").await.status == 200).then_some(())
    })
    .await;
    let count = r#"ltp_stage_latency_seconds_count{stage="publish_to_cache"} "#;
    let skew = r#"ltp_stage_clock_skew_total{stage="publish_to_cache"} "#;
    let counted = metric(&api, count).await.expect("stage count");
    assert!(counted >= 1.0);
    assert_eq!(metric(&api, skew).await, Some(0.0));
    // A re-publish carries its confirmation time: stored, but not timed.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", Encoding::Json.content_type());
    headers.insert(common::message::REPUBLISH_HEADER, "1");
    let again = price_message("BTC/USD", "2.5", Duration::ZERO);
    let subject = Subjects::new(&prefix)
        .expect("prefix")
        .price(again.pair)
        .clone();
    client
        .publish_with_headers(subject, headers, Encoding::Json.encode(&again))
        .await
        .expect("publish");
    until_price(&api, "BTC/USD", "2.5").await;
    assert_eq!(metric(&api, count).await, Some(counted));
    // Published by a clock a minute ahead of this one: recorded as 0 and counted as skew.
    let ahead = common::test_support::price_message_at(
        "BTC/USD",
        "3.5",
        jiff::Timestamp::now() + Duration::from_secs(60),
    );
    publisher.publish(&ahead, Encoding::Json).await;
    until_price(&api, "BTC/USD", "3.5").await;
    assert_eq!(metric(&api, count).await, Some(counted + 1.0));
    assert_eq!(metric(&api, skew).await, Some(1.0));
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
    // Long enough that "at once" is told apart from waiting it out on a loaded machine.
    let timeout = Duration::from_secs(3);
    config.nats.request_timeout = timeout;
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
    assert!(took < timeout / 2, "no-responders took {took:?}");

    // An ingestor slower than the timeout: 504, before its answer could arrive.
    responder(nats.client().await, &prefix, timeout * 2, |_| {
        RefreshReply::default()
    })
    .await;
    // The server may not have registered the responder's subscription yet (a flush does not
    // wait for it): until it has, the answer is still "no ingestor".
    let reply = eventually(WAIT, "the responder seen", || async {
        let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD").await;
        (reply.json()["error"] != "NO_INGESTOR").then_some(reply)
    })
    .await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(reply.json()["error"], "INGESTOR_TIMEOUT");
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
