//! The whole pipeline: Kraken simulator → real ingestor → NATS → query-api.

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
    // One trade per pair at a price of our choosing, until a first replica serves exactly
    // those: then nothing is in flight, and the last values are known.
    let first = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let chosen = ["65001.5", "3001.25", "0.61234"];
    let expected: Vec<(String, String)> = PAIRS
        .iter()
        .zip(chosen)
        .map(|(pair, price)| ((*pair).to_owned(), price.to_owned()))
        .collect();
    eventually(
        WAIT,
        "every pair traded at its chosen price and served",
        || async {
            for (pair, price) in PAIRS.iter().zip(chosen) {
                sim.control().trade_now(pair, Some(price)).await.ok()?;
            }
            let reply = first.get("/api/v1/ltp").await;
            (reply.status == 200 && reply.prices() == expected).then_some(())
        },
    )
    .await;
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
    assert_eq!(reply.pairs(), ["BTC/USD", "ETH/USD"]);
    let served = api.get("/api/v1/ltp?pair=BTC/USD,ETH/USD").await;
    assert_eq!(served.status, 200, "{}", served.body);

    let (result, _) = ingestor.stop().await;
    result.expect("ingestor stops cleanly");
    let started = Instant::now();
    let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"], "NO_INGESTOR");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "not at once: the request timeout is 2 s"
    );
}
