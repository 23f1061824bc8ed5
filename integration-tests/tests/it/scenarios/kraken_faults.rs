//! Scenarios 2 and 3: Kraken misbehaving, seen through the API.
//!
//! 2. The socket is dropped, then stalls: a client reading every pair steadily never notices
//!    the switch to REST and back.
//! 3. The socket is down and REST is throttled: the ingestor backs off within its request
//!    budget, prices expire at the TTL (the API says so per pair, never serving a stale
//!    number), and everything recovers once Kraken does.

use std::time::{Duration, Instant};

use integration_tests::ingestor::start_ingestor;
use integration_tests::query_api::{RunningQueryApi, start_query_api};
use integration_tests::{TestNats, eventually, unique_id};
use jiff::Timestamp;
use kraken_sim::RestFault;

use super::{
    Item, ReadLoop, WAIT, api_config, check_expiry, errors, figure, ingestor_config, items, ms,
    trading_sim,
};

const PAIRS: &[&str] = &["BTC/CHF", "BTC/USD", "DOGE/USD", "ETH/USD"];

/// Waits until `GET /api/v1/ltp` serves every pair and `pred` holds for each item; returns
/// when that was seen.
async fn until_every_pair(api: &RunningQueryApi, what: &str, pred: impl Fn(&Item) -> bool) {
    eventually(WAIT, what, || async {
        let reply = api.get("/api/v1/ltp").await;
        let items = items(&reply.body);
        (reply.status == 200 && items.len() == PAIRS.len() && items.iter().all(&pred)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn api_reads_keep_succeeding_while_the_kraken_socket_is_dropped_then_stalled() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = trading_sim(PAIRS, Duration::from_millis(250)).await;
    // The stall is noticed after `fallback_timeout` (2 s) and REST answers within about a
    // second, so no price gets older than about 3.5 s through the switch: with a TTL of 6 s
    // (quiet pairs re-published every 2 s) not one read may fail.
    let ttl = Duration::from_secs(6);
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    until_every_pair(&api, "every pair streamed", |i| i.source == "ws").await;
    let reads = ReadLoop::start(api.url("/api/v1/ltp"), Duration::from_millis(50));
    let started = Instant::now();

    // The socket is dropped (TCP closed without a close frame): a new one streams every pair.
    let opened = sim.control().connections_opened();
    let dropped_at = Timestamp::now();
    sim.control().drop_connections();
    until_every_pair(&api, "every pair streamed after the drop", |i| {
        i.source == "ws" && i.exchange_time.is_some_and(|t| t > dropped_at)
    })
    .await;
    assert!(sim.control().connections_opened() > opened, "a new socket");
    let drop_phase = started.elapsed();

    // The socket stalls (open but silent; new sockets too): REST takes over for every pair
    // and keeps it fresh for a few polls.
    let stalled_at = Timestamp::now();
    sim.control().stall();
    until_every_pair(&api, "every pair served by REST", |i| {
        i.source == "rest" && i.timestamp > stalled_at
    })
    .await;
    let on_rest = Timestamp::now();
    until_every_pair(&api, "REST confirmations 3 s later", |i| {
        i.source == "rest" && i.timestamp > on_rest + Duration::from_secs(3)
    })
    .await;
    let stall_phase = started.elapsed();

    // The socket speaks again: every pair goes back to it, and reads go on for 3 s more.
    let unstalled_at = Timestamp::now();
    sim.control().unstall();
    until_every_pair(&api, "every pair streamed again", |i| {
        i.source == "ws" && i.exchange_time.is_some_and(|t| t > unstalled_at)
    })
    .await;
    let back = Timestamp::now();
    until_every_pair(&api, "3 s of streaming after the hand-back", |i| {
        i.source == "ws" && i.timestamp > back + Duration::from_secs(3)
    })
    .await;

    let reads = reads.finish().await;
    let failed: Vec<_> = reads.iter().filter(|r| !r.ok_for(PAIRS)).collect();
    let phase = |r: &super::Read| {
        let at = r.sent - started;
        if at < drop_phase {
            "drop"
        } else if at < stall_phase {
            "stall"
        } else {
            "hand-back"
        }
    };
    let count = |name: &str| failed.iter().filter(|r| phase(r) == name).count();
    let rest_reads = reads
        .iter()
        .filter(|r| r.items.iter().any(|i| i.source == "rest"))
        .count();
    let oldest = reads
        .iter()
        .flat_map(|r| r.items.iter().map(|i| i.age_ms))
        .max()
        .unwrap_or_default();
    figure("scenario 2 reads", reads.len());
    figure(
        "scenario 2 failed reads (drop / stall / hand-back)",
        format!(
            "{} ({} / {} / {})",
            failed.len(),
            count("drop"),
            count("stall"),
            count("hand-back")
        ),
    );
    figure("scenario 2 reads served (partly) by REST", rest_reads);
    figure("scenario 2 oldest price served", format!("{oldest} ms"));
    let slowest = reads.iter().map(|r| r.took).max().unwrap_or_default();
    figure("scenario 2 slowest read", ms(slowest));
    assert!(reads.len() >= 100, "a steady load: {} reads", reads.len());
    assert!(rest_reads > 0, "the stall made REST serve");
    assert!(
        failed.is_empty(),
        "{} of {} reads failed, first: {:?}",
        failed.len(),
        reads.len(),
        failed.first()
    );
}

#[tokio::test]
async fn throttled_rest_lets_prices_expire_at_the_ttl_then_recovers() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = trading_sim(PAIRS, Duration::from_millis(250)).await;
    let ttl = Duration::from_secs(3);
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    until_every_pair(&api, "every pair streamed", |i| i.source == "ws").await;
    let reads = ReadLoop::start(api.url("/api/v1/ltp"), Duration::from_millis(100));

    // REST throttled, then no socket (dropped, and new ones refused): no source can confirm.
    let faults_from = Instant::now();
    sim.control()
        .set_rest_fault(Some(RestFault::TooManyRequests));
    sim.control().refuse_upgrades(503).expect("refuse upgrades");
    sim.control().drop_connections();
    let unavailable = eventually(WAIT, "every pair reported expired", || async {
        let reply = api.get("/api/v1/ltp").await;
        let errors = errors(&reply.body);
        (reply.status == 503
            && errors.len() == PAIRS.len()
            && errors.iter().all(|(_, reason)| reason == "expired"))
        .then(|| faults_from.elapsed())
    })
    .await;
    figure("scenario 3 every pair unavailable after", ms(unavailable));
    // Hold the outage for 12 s in all, so the growing back-off shows in the request times.
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(faults_from.elapsed())).await;
    let faults_end = Instant::now();
    sim.control().set_rest_fault(None);
    sim.control().accept_upgrades();
    let recovered = eventually(
        Duration::from_secs(60),
        "every pair served again",
        || async {
            let reply = api.get("/api/v1/ltp").await;
            (reply.status == 200 && items(&reply.body).len() == PAIRS.len())
                .then(|| faults_end.elapsed())
        },
    )
    .await;
    figure(
        "scenario 3 recovery (Kraken back → every pair served)",
        ms(recovered),
    );
    let reads = reads.finish().await;

    // Never served past the TTL; unavailable, saying `expired`, at the TTL after the last
    // confirmation (reads are 100 ms apart).
    let expiries = check_expiry(&reads, PAIRS, ttl, Duration::from_millis(1500));
    assert_eq!(expiries.len(), PAIRS.len(), "{expiries:?}");
    for (pair, after) in &expiries {
        figure(
            &format!("scenario 3 {pair} reported unavailable after its last confirmation"),
            ms(*after),
        );
    }

    // The request budget: never two REST requests within a second, and while throttled a
    // growing, jittered penalty (2 s, 4 s, 8 s …, each between half and all of it).
    let times = sim.control().rest_request_times(None);
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(950),
            "two REST requests {:?} apart",
            w[1] - w[0]
        );
    }
    let throttled: Vec<Instant> = times
        .iter()
        .copied()
        .filter(|t| *t >= faults_from && *t <= faults_end)
        .collect();
    let gaps: Vec<Duration> = throttled.windows(2).map(|w| w[1] - w[0]).collect();
    figure(
        "scenario 3 REST requests during 12 s of throttling",
        format!("{} (gaps {gaps:?})", throttled.len()),
    );
    assert!(
        !throttled.is_empty(),
        "REST was tried while the socket was down"
    );
    assert!(
        throttled.len() <= 6,
        "{} requests in 12 s of throttling: {gaps:?}",
        throttled.len()
    );
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_millis(1950)),
        "backed off: {gaps:?}"
    );
}
