//! Issue 12: prices streamed over SSE by the real query-api, fed by the real ingestor on the
//! simulator through real NATS, with the memory and the Redis cache.

use std::time::{Duration, Instant};

use integration_tests::ingestor::start_ingestor;
use integration_tests::process::{Process, query_api_env};
use integration_tests::query_api::{start_query_api, with_redis};
use integration_tests::sse::SseStream;
use integration_tests::{TestNats, TestRedis, eventually, unique_id};

use super::{WAIT, api_config, figure, ingestor_config, manual_sim, ms, trade, trade_streamed};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD"];
const STREAM: &str = "/api/v1/ltp/stream?pair=BTC/USD,ETH/USD";

#[tokio::test]
async fn sse_snapshot_then_updates_exact_with_both_caches() {
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(30);
    trade(&sim, "BTC/USD", "65000.10").await;
    trade(&sim, "ETH/USD", "3000.50").await;
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let memory = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    let shared = start_query_api(with_redis(
        api_config(&nats, &prefix, PAIRS, ttl),
        &redis.addr,
    ))
    .await;
    for api in [&memory, &shared] {
        eventually(WAIT, "every pair served", || async {
            (api.get("/api/v1/ltp").await.status == 200).then_some(())
        })
        .await;
    }
    let mut streams = [
        SseStream::open(&memory.url(STREAM), None).await,
        SseStream::open(&shared.url(STREAM), None).await,
    ];
    for sse in &mut streams {
        assert_eq!(sse.status, 200);
        let mut snapshot = [sse.event(WAIT).await, sse.event(WAIT).await];
        snapshot.sort_by_key(|e| e.price());
        let prices: Vec<_> = snapshot
            .iter()
            .map(|e| (e.event.clone(), e.price()))
            .collect();
        assert_eq!(
            prices,
            [
                ("price".into(), ("BTC/USD".into(), "65000.10".into())),
                ("price".into(), ("ETH/USD".into(), "3000.50".into())),
            ]
        );
        assert!(
            snapshot[0]
                .data
                .contains(r#""amount":65000.10,"price":"65000.10""#)
        );
    }
    trade_streamed(&sim, "BTC/USD", "65001.00", 1).await;
    for sse in &mut streams {
        let update = sse.until_price(WAIT, "BTC/USD", "65001.00").await;
        assert!(
            update.data.contains(r#""amount":65001.00"#),
            "{}",
            update.data
        );
        assert_eq!(update.json()["source"], "ws");
    }
}

#[tokio::test]
async fn sse_resumes_on_another_replica_without_loss_or_duplicate() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(30);
    trade(&sim, "BTC/USD", "100.1").await;
    trade(&sim, "ETH/USD", "200.2").await;
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let a = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    let b = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    for api in [&a, &b] {
        eventually(WAIT, "every pair served", || async {
            (api.get("/api/v1/ltp").await.status == 200).then_some(())
        })
        .await;
    }
    let mut first = SseStream::open(&a.url(STREAM), None).await;
    first.event(WAIT).await;
    first.event(WAIT).await;
    let id = first.last_id.clone().expect("events carry ids");
    drop(first);
    // While the client is away, ETH trades; BTC does not.
    trade_streamed(&sim, "ETH/USD", "201.5", 1).await;
    eventually(WAIT, "replica B has the new ETH price", || async {
        b.get("/api/v1/ltp?pair=ETH/USD")
            .await
            .body
            .contains("201.5")
            .then_some(())
    })
    .await;
    let mut second = SseStream::open(&b.url(STREAM), Some(&id)).await;
    let resumed = second.event(WAIT).await;
    assert_eq!(resumed.price(), ("ETH/USD".into(), "201.5".into()));
    let more = second.events_within(Duration::from_secs(1)).await;
    assert!(
        more.iter().all(|e| e.price().0 != "BTC/USD"),
        "BTC did not change: not sent again: {more:?}"
    );
}

#[tokio::test]
async fn sse_reports_a_pair_unavailable_once_its_price_passes_the_ttl() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(2);
    trade(&sim, "BTC/USD", "100.1").await;
    let ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    eventually(WAIT, "BTC served", || async {
        (api.get("/api/v1/ltp?pair=BTC/USD").await.status == 200).then_some(())
    })
    .await;
    let mut sse = SseStream::open(&api.url("/api/v1/ltp/stream?pair=BTC/USD"), None).await;
    let first = sse.event(WAIT).await;
    assert_eq!(first.event, "price");
    assert_eq!(first.price().0, "BTC/USD");
    // No more prices nor confirmations.
    let stopped = Instant::now();
    drop(ingestor.stop().await);
    let gone = sse.event(WAIT).await;
    assert_eq!(gone.event, "unavailable", "{gone:?}");
    assert_eq!(gone.json()["reason"], "expired");
    assert_eq!(gone.json()["error"], "Failed to fetch price");
    let rest = api.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(rest.json()["errors"][0]["message"], gone.json()["message"]);
    figure(
        "streams: unavailable after the feed stopped",
        ms(stopped.elapsed()),
    );
}

#[tokio::test]
async fn sigterm_ends_streams_with_a_final_event_at_once_and_exits_0() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let ttl = Duration::from_secs(30);
    let mut api = Process::start("query-api", |port| {
        query_api_env(port, &nats.url, &prefix, PAIRS, ttl)
    })
    .await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        let mut sse = SseStream::open(&api.url(STREAM), None).await;
        assert_eq!(sse.status, 200);
        sse.event(WAIT).await;
        streams.push(sse);
    }
    let signalled = Instant::now();
    api.signal("TERM");
    for sse in &mut streams {
        let last = loop {
            let e = sse.event(WAIT).await;
            if e.event == "close" {
                break e;
            }
        };
        assert_eq!(last.json()["reason"], "shutdown");
        assert!(last.json()["retry_ms"].as_u64().is_some());
        assert!(
            sse.next(WAIT).await.is_none(),
            "closed after the final event"
        );
    }
    let closed = signalled.elapsed();
    let status = api.wait(WAIT).await.expect("exits");
    assert!(status.success(), "{status:?}");
    figure("streams: 5 SSE streams closed after SIGTERM in", ms(closed));
    figure(
        "streams: query-api exited after SIGTERM in",
        ms(signalled.elapsed()),
    );
    // SHUTDOWN_TIMEOUT is 10 s: the streams did not hold the drain.
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
}
