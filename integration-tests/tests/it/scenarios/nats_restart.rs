//! Scenario 4: NATS restarted mid-stream. The ingestor and query-api reconnect by themselves
//! (same tasks, no restart), query-api's `/ready` shows the outage while it lasts, and a price
//! traded after NATS is back reaches the API: the recovery time is that delay.

use std::time::{Duration, Instant};

use integration_tests::ingestor::start_ingestor;
use integration_tests::query_api::start_query_api;
use integration_tests::{TestNats, eventually, unique_id};

use super::{
    WAIT, api_config, figure, ingestor_config, manual_sim, ms, serves, trade, until_served,
};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "LTC/USD"];

#[tokio::test]
async fn after_a_nats_restart_both_processes_reconnect_and_prices_flow() {
    let nats = TestNats::container(true).await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(30);
    let ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    let before = [
        ("BTC/USD", "70000.1"),
        ("ETH/USD", "3500.10"),
        ("LTC/USD", "81.20"),
    ];
    eventually(WAIT, "the first prices served", || async {
        for (pair, price) in before {
            trade(&sim, pair, price).await;
        }
        serves(&api.get("/api/v1/ltp").await, &before, Some("ws")).then_some(())
    })
    .await;
    api.wait_ready(WAIT).await;

    nats.stop().await;
    let stopped = Instant::now();
    let seen_down = eventually(WAIT, "/ready 503 naming NATS", || async {
        let reply = api.get("/ready").await;
        (reply.status == 503 && reply.json()["services"]["nats"] == "error: not connected")
            .then(|| stopped.elapsed())
    })
    .await;
    figure(
        "scenario 4 NATS outage visible in /ready after",
        ms(seen_down),
    );
    let (status, body) = ingestor.admin(reqwest::Method::GET, "/ready").await;
    assert_eq!(
        status, 503,
        "the ingestor's /ready during the outage: {body}"
    );
    // Prices the cache holds are still served while they are fresh.
    let cached = api.get("/api/v1/ltp").await;
    assert!(serves(&cached, &before, Some("ws")), "{}", cached.body);

    let restarting = Instant::now();
    nats.start_again().await;
    // Back: the server accepts clients again (the container start itself takes about a second).
    let back = Instant::now();
    figure(
        "scenario 4 NATS container start → accepting clients",
        ms(back - restarting),
    );
    // A trade after NATS is back, repeated with a new price until one reaches the API.
    let (sim_ref, api_ref) = (&sim, &api);
    let mut n = 0u32;
    let recovery = eventually(
        Duration::from_secs(60),
        "a price traded after the restart",
        move || {
            n += 1;
            let price = format!("71{n:03}.5");
            let (sim, api) = (sim_ref, api_ref);
            async move {
                trade(sim, "BTC/USD", &price).await;
                let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
                let served = super::items(&reply.body);
                served
                    .first()
                    .is_some_and(|i| i.price.starts_with("71") && i.price.ends_with(".5"))
                    .then(|| back.elapsed())
            }
        },
    )
    .await;
    figure(
        "scenario 4 recovery (NATS back → fresh price in the API)",
        ms(recovery),
    );
    let ready_again = eventually(WAIT, "/ready 200 again", || async {
        (api.get("/ready").await.status == 200).then(|| back.elapsed())
    })
    .await;
    figure(
        "scenario 4 /ready 200 again after NATS is back",
        ms(ready_again),
    );

    // Every pair flows again, through the same (never restarted) processes.
    let after = [
        ("BTC/USD", "72000.0"),
        ("ETH/USD", "3600.00"),
        ("LTC/USD", "82.00"),
    ];
    for (pair, price) in after {
        trade(&sim, pair, price).await;
    }
    until_served(&api, &after).await;
    eventually(WAIT, "the ingestor's /ready 200 again", || async {
        (ingestor.admin(reqwest::Method::GET, "/ready").await.0 == 200).then_some(())
    })
    .await;
    assert!(
        recovery < Duration::from_secs(30),
        "recovery took {recovery:?}"
    );
}
