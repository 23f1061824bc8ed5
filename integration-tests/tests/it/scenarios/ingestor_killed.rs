//! Scenario 6: the ingestor process is killed (SIGKILL: no goodbye to NATS). A refresh answers
//! 503 at once, prices expire at the TTL (the API says so per pair), and a new ingestor
//! process brings everything back: the recovery time runs from its start to every pair served.

use std::time::{Duration, Instant};

use integration_tests::process::{Process, ingestor_env};
use integration_tests::query_api::start_query_api;
use integration_tests::{TestNats, eventually, unique_id};

use super::{ReadLoop, WAIT, api_config, check_expiry, errors, figure, items, ms, trading_sim};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "SOL/USD"];

async fn start_ingestor_process(
    nats: &TestNats,
    prefix: &str,
    sim: &kraken_sim::Simulator,
    ttl: Duration,
) -> Process {
    Process::start("ingestor", |port| {
        ingestor_env(port, &nats.url, prefix, sim, PAIRS, ttl)
    })
    .await
}

#[tokio::test]
async fn killed_ingestor_refresh_503_at_once_prices_expire_new_one_recovers() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = trading_sim(PAIRS, Duration::from_millis(500)).await;
    let ttl = Duration::from_secs(3);
    let mut ingestor = start_ingestor_process(&nats, &prefix, &sim, ttl).await;
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    eventually(WAIT, "every pair served and a refresh answered", || async {
        let reply = api.get("/api/v1/ltp").await;
        let refreshed = api.post("/api/v1/ltp/refresh?pairs=ETH/USD").await;
        (reply.status == 200 && items(&reply.body).len() == PAIRS.len() && refreshed.status == 200)
            .then_some(())
    })
    .await;
    let reads = ReadLoop::start(api.url("/api/v1/ltp"), Duration::from_millis(100));

    ingestor.kill().await;
    let killed = Instant::now();
    // Refresh has nobody to ask: 503 NO_INGESTOR, without waiting for a timeout.
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD").await;
        latencies.push(started.elapsed());
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(reply.json()["error"], "NO_INGESTOR", "{}", reply.body);
    }
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    figure(
        "scenario 6 refresh 503 latency after the kill (first / slowest of 5)",
        format!("{} / {}", ms(latencies[0]), ms(slowest)),
    );
    assert!(slowest < Duration::from_millis(500), "{latencies:?}");

    // Prices expire at the TTL.
    let expired = eventually(WAIT, "every pair reported expired", || async {
        let reply = api.get("/api/v1/ltp").await;
        let errors = errors(&reply.body);
        (reply.status == 503
            && errors.len() == PAIRS.len()
            && errors.iter().all(|(_, reason)| reason == "expired"))
        .then(|| killed.elapsed())
    })
    .await;
    figure(
        "scenario 6 every pair unavailable after the kill",
        ms(expired),
    );

    // A new ingestor process: everything recovers.
    let restarted = Instant::now();
    let _ingestor = start_ingestor_process(&nats, &prefix, &sim, ttl).await;
    let recovery = eventually(WAIT, "every pair served again", || async {
        let reply = api.get("/api/v1/ltp").await;
        (reply.status == 200 && items(&reply.body).len() == PAIRS.len())
            .then(|| restarted.elapsed())
    })
    .await;
    figure(
        "scenario 6 recovery (ingestor started → every pair served)",
        ms(recovery),
    );
    let refresh = eventually(WAIT, "refresh answered again", || async {
        let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD,SOL/USD").await;
        (reply.status == 200).then_some(reply)
    })
    .await;
    assert_eq!(items(&refresh.body).len(), 2, "{}", refresh.body);
    let reads = reads.finish().await;
    let expiries = check_expiry(&reads, PAIRS, ttl, Duration::from_millis(1500));
    assert_eq!(expiries.len(), PAIRS.len(), "{expiries:?}");
    for (pair, after) in &expiries {
        figure(
            &format!("scenario 6 {pair} reported unavailable after its last confirmation"),
            ms(*after),
        );
    }
}
