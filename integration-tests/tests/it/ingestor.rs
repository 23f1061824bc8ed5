//! The ingestor against the Kraken simulator and a real NATS server (issue 3). Every test has
//! its own subject prefix, binds port 0, waits by polling, and asserts on what a plain NATS
//! subscriber receives.

use std::time::{Duration, Instant};

use common::control::{FailureCode, FeedEvent, RefreshReply};
use common::{Pair, Source};
use integration_tests::ingestor::{Received, Watcher, content_type, start_ingestor, test_config};
use integration_tests::{TestNats, eventually, unique_id};
use kraken_sim::{Rate, RestFault, SimConfig, Simulator};

const PAIRS: [&str; 4] = ["BTC/USD", "ETH/USD", "DOGE/USD", "BTC/CHF"];
const WAIT: Duration = Duration::from_secs(20);

async fn sim(rate: Rate) -> Simulator {
    let config = SimConfig {
        rate,
        ..SimConfig::default().with_pairs(&PAIRS).expect("pairs")
    };
    Simulator::start(config).await.expect("simulator starts")
}

fn config(nats: &TestNats, prefix: &str, sim: &Simulator) -> ingestor::Config {
    test_config(&nats.url, prefix, &sim.ws_url(), &sim.rest_url(), &PAIRS)
}

/// Waits until `pair` has a message matching `pred`; returns it.
async fn until(w: &Watcher, pair: &str, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
    eventually(WAIT, what, || {
        let found = w.of(pair).into_iter().find(|r| pred(r));
        async move { found }
    })
    .await
}

async fn until_status(
    w: &Watcher,
    what: &str,
    pred: impl Fn(&common::control::StatusEvent) -> bool,
) -> Instant {
    eventually(WAIT, what, || {
        let found = w
            .status()
            .into_iter()
            .find(|(e, _)| pred(e))
            .map(|(_, at)| at);
        async move { found }
    })
    .await
}

fn pair(s: &str) -> Pair {
    Pair::parse(s).expect("known")
}

async fn request(client: &async_nats::Client, prefix: &str, body: &str) -> RefreshReply {
    let reply = client
        .request(format!("{prefix}.refresh.kraken"), body.to_owned().into())
        .await
        .expect("refresh reply");
    serde_json::from_slice(&reply.payload).expect("reply decodes")
}

async fn streams_every_pair_with_exact_decimals(nats: TestNats) {
    let sim = sim(Rate::PerPair(Duration::from_millis(400))).await;
    let prefix = unique_id();
    let client = nats.client().await;
    let watcher = Watcher::start(&client, &prefix).await;
    let config = config(&nats, &prefix, &sim);
    let expected_ct = content_type(&config);
    let ingestor = start_ingestor(config).await;
    // Exact text, trailing zeros and all.
    sim.control()
        .set_next_price("BTC/USD", "65000.10")
        .expect("price");
    sim.control()
        .set_next_price("DOGE/USD", "0.12345670")
        .expect("price");
    for p in PAIRS {
        until(&watcher, p, &format!("a WS price for {p}"), |r| {
            r.msg.source == Source::Ws
        })
        .await;
    }
    until(&watcher, "BTC/USD", "BTC/USD at 65000.10", |r| {
        r.msg.price.as_str() == "65000.10"
    })
    .await;
    until(&watcher, "DOGE/USD", "DOGE/USD at 0.12345670", |r| {
        r.msg.price.as_str() == "0.12345670"
    })
    .await;
    let all = watcher.prices();
    assert!(
        watcher.undecodable().is_empty(),
        "{:?}",
        watcher.undecodable()
    );
    for r in &all {
        assert_eq!(r.content_type.as_deref(), Some(expected_ct));
        assert_eq!(&*r.msg.ingestor, ingestor.instance);
        assert_eq!(r.msg.v, 1);
    }
    for p in PAIRS {
        let seqs: Vec<u64> = watcher.of(p).iter().map(|r| r.msg.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] > w[0]),
            "{p}: seq increases: {seqs:?}"
        );
        let ws: Vec<_> = watcher
            .of(p)
            .into_iter()
            .filter(|r| r.msg.source == Source::Ws)
            .collect();
        assert!(
            ws.iter().all(|r| r.msg.exchange_time.is_some()),
            "WS prices carry Kraken's time"
        );
    }
    // The admin endpoints see it.
    let (status, body) = ingestor.admin(reqwest::Method::GET, "/ready").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = ingestor.admin(reqwest::Method::HEAD, "/health").await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (_, metrics) = ingestor.admin(reqwest::Method::GET, "/metrics").await;
    assert!(
        metrics.contains(r#"ingestor_prices_published_total{kind="update",pair="BTC/USD"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("ingestor_ws_connected 1"), "{metrics}");
    // Every streamed pair reads available (it read 0 until a pair was lost and came back).
    let metrics = eventually(WAIT, "every pair available", || async {
        let (_, metrics) = ingestor.admin(reqwest::Method::GET, "/metrics").await;
        PAIRS
            .iter()
            .all(|p| metrics.contains(&format!("ingestor_pair_available{{pair=\"{p}\"}} 1")))
            .then_some(metrics)
    })
    .await;
    assert!(metrics.contains("ltp_cache_ttl_seconds 3\n"), "{metrics}");
    assert!(metrics.contains("process_open_fds "), "{metrics}");
    for stage in ["exchange_to_receipt", "receipt_to_publish"] {
        let count = format!("ltp_stage_latency_seconds_count{{stage=\"{stage}\"}} ");
        let observed = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&count))
            .and_then(|v| v.parse::<u64>().ok());
        assert!(observed.is_some_and(|n| n > 0), "{stage}: {metrics}");
    }

    if nats.jetstream {
        // The last-value stream holds exactly the latest message of each pair.
        let js = async_nats::jetstream::new(client.clone());
        let mut stream = js
            .get_stream(format!("{}_PRICES", prefix.to_uppercase()))
            .await
            .expect("stream ensured");
        let info = stream.info().await.expect("info");
        assert_eq!(info.config.max_messages_per_subject, 1);
        assert!(info.config.allow_direct);
        let last = stream
            .direct_get_last_for_subject(format!("{prefix}.prices.kraken.BTC-USD"))
            .await
            .expect("last BTC/USD");
        let ct = last
            .headers
            .get("Content-Type")
            .map(|v| v.as_str().to_owned());
        let stored = common::message::decode(ct.as_deref(), &last.payload).expect("decodes");
        let seen = watcher.of("BTC/USD");
        assert!(
            seen.iter().any(|r| r.msg == stored),
            "stored message was published"
        );
    } else {
        // Without JetStream a replica warms up with a snapshot.
        let reply = request(&client, &prefix, r#"{"snapshot":true}"#).await;
        let got: Vec<_> = reply.prices.iter().map(|m| m.pair.as_str()).collect();
        assert_eq!(got, ["BTC/CHF", "BTC/USD", "DOGE/USD", "ETH/USD"]);
        assert_eq!(reply.ingestor, ingestor.instance);
    }
    let (result, took) = ingestor.stop().await;
    result.expect("clean stop");
    assert!(
        took < Duration::from_secs(5),
        "stopped within shutdown_timeout: {took:?}"
    );
    eventually(WAIT, "the socket closed", || async {
        (sim.control().connections_open() == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn streams_every_configured_pair_with_exact_decimals_jetstream() {
    streams_every_pair_with_exact_decimals(TestNats::start().await).await;
}

#[tokio::test]
async fn streams_every_configured_pair_with_exact_decimals_core_nats() {
    streams_every_pair_with_exact_decimals(TestNats::start_core_only().await).await;
}

#[tokio::test]
async fn a_dropped_socket_reconnects_and_resubscribes() {
    let nats = TestNats::start().await;
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    let prefix = unique_id();
    let watcher = Watcher::start(&nats.client().await, &prefix).await;
    let _ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    until(&watcher, "ETH/USD", "a first WS price", |r| {
        r.msg.source == Source::Ws
    })
    .await;
    assert_eq!(
        sim.control().subscribe_requests(),
        1,
        "one subscribe for every pair"
    );
    let dropped = Instant::now();
    sim.control().drop_connections();
    eventually(WAIT, "a second connection and subscribe", || async {
        let c = sim.control();
        (c.connections_opened() >= 2 && c.subscribe_requests() >= 2).then_some(())
    })
    .await;
    let reconnected = dropped.elapsed();
    assert!(
        reconnected < Duration::from_secs(3),
        "immediate retry: {reconnected:?}"
    );
    // Every pair streams again over the new socket.
    sim.control()
        .set_next_price("BTC/CHF", "58200.5")
        .expect("price");
    for p in PAIRS {
        until(&watcher, p, &format!("{p} streamed after the drop"), |r| {
            r.msg.source == Source::Ws && r.at > dropped + reconnected
        })
        .await;
    }
    until(&watcher, "BTC/CHF", "the new price", |r| {
        r.msg.price.as_str() == "58200.5"
    })
    .await;
    assert_eq!(sim.control().connections_open(), 1);
}

#[tokio::test]
async fn a_stalled_socket_is_detected_rest_takes_over_then_hands_back() {
    let nats = TestNats::start().await;
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    let prefix = unique_id();
    let watcher = Watcher::start(&nats.client().await, &prefix).await;
    let _ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    for p in PAIRS {
        until(&watcher, p, "WS prices", |r| r.msg.source == Source::Ws).await;
    }
    let rest_before = sim.control().rest_requests();
    let stalled = Instant::now();
    sim.control().stall();
    let fell_back = until_status(&watcher, "fallback_on for BTC/USD", |e| {
        e.event == FeedEvent::FallbackOn && e.pair == Some(pair("BTC/USD"))
    })
    .await;
    // fallback_timeout is 2 s; the check runs every 250 ms.
    let detection = fell_back - stalled;
    assert!(
        detection >= Duration::from_millis(1500),
        "not before the timeout: {detection:?}"
    );
    assert!(
        detection <= Duration::from_secs(4),
        "within the timeout: {detection:?}"
    );
    until_status(&watcher, "disconnected", |e| {
        e.event == FeedEvent::Disconnected
    })
    .await;
    // REST serves every pair meanwhile, and says so.
    sim.control()
        .set_next_price("ETH/USD", "3338.08")
        .expect("price");
    for p in PAIRS {
        until(&watcher, p, &format!("a REST price for {p}"), |r| {
            r.msg.source == Source::Rest
        })
        .await;
    }
    assert!(sim.control().rest_requests() > rest_before);
    for r in watcher
        .prices()
        .iter()
        .filter(|r| r.msg.source == Source::Rest)
    {
        assert_eq!(r.msg.exchange_time, None, "REST has no exchange time");
    }
    let unstalled = Instant::now();
    sim.control().unstall();
    until_status(&watcher, "fallback_off for BTC/USD", |e| {
        e.event == FeedEvent::FallbackOff && e.pair == Some(pair("BTC/USD"))
    })
    .await;
    for p in PAIRS {
        until(&watcher, p, &format!("{p} streamed again"), |r| {
            r.msg.source == Source::Ws && r.at > unstalled
        })
        .await;
    }
    // REST stops once every pair is back on the socket.
    eventually(WAIT, "every pair handed back", || {
        let off = watcher
            .status()
            .iter()
            .filter(|(e, _)| e.event == FeedEvent::FallbackOff)
            .count();
        async move { (off >= PAIRS.len()).then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = sim.control().rest_requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sim.control().rest_requests(),
        settled,
        "no REST polling after the hand-back"
    );
}

#[tokio::test]
async fn a_rejected_pair_is_served_by_rest_while_the_others_stream() {
    let nats = TestNats::start().await;
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    sim.control().reject_pair("ETH/USD", true).expect("reject");
    let prefix = unique_id();
    let watcher = Watcher::start(&nats.client().await, &prefix).await;
    let _ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    let rejected = until_status(&watcher, "subscription_rejected for ETH/USD", |e| {
        e.event == FeedEvent::SubscriptionRejected && e.pair == Some(pair("ETH/USD"))
    })
    .await;
    let reason = watcher
        .status()
        .into_iter()
        .find(|(e, _)| e.event == FeedEvent::SubscriptionRejected)
        .and_then(|(e, _)| e.reason)
        .unwrap_or_default();
    assert!(
        reason.contains("Currency pair not supported ETH/USD"),
        "{reason}"
    );
    until(&watcher, "ETH/USD", "ETH/USD over REST", |r| {
        r.msg.source == Source::Rest
    })
    .await;
    for p in ["BTC/USD", "DOGE/USD", "BTC/CHF"] {
        until(&watcher, p, &format!("{p} over WS"), |r| {
            r.msg.source == Source::Ws && r.at > rejected
        })
        .await;
    }
    // Over a few seconds, the rejected pair stays on REST and the others on the socket.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = Instant::now() - Duration::from_secs(2);
    assert!(
        watcher
            .of("ETH/USD")
            .iter()
            .all(|r| r.msg.source == Source::Rest)
    );
    for p in ["BTC/USD", "DOGE/USD", "BTC/CHF"] {
        assert!(
            watcher
                .of(p)
                .iter()
                .filter(|r| r.at > later)
                .all(|r| r.msg.source == Source::Ws),
            "{p}"
        );
    }
    assert!(
        !watcher
            .status()
            .iter()
            .any(|(e, _)| e.event == FeedEvent::FallbackOn && e.pair == Some(pair("BTC/USD"))),
        "only the rejected pair fell back"
    );
}

#[tokio::test]
async fn rest_throttling_and_5xx_are_backed_off_and_the_rate_stays_within_budget() {
    let nats = TestNats::start().await;
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    // No socket: every pair is on REST from the start.
    sim.control().refuse_upgrades(503).expect("refuse");
    let prefix = unique_id();
    let client = nats.client().await;
    let watcher = Watcher::start(&client, &prefix).await;
    let _ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    until(&watcher, "BTC/USD", "a REST price", |r| {
        r.msg.source == Source::Rest
    })
    .await;

    let throttled_from = std::time::Instant::now();
    sim.control()
        .set_rest_fault(Some(RestFault::TooManyRequests));
    tokio::time::sleep(Duration::from_secs(7)).await;
    sim.control().set_rest_fault(Some(RestFault::Http(502)));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let faults_end = std::time::Instant::now();
    sim.control().set_rest_fault(None);
    // The penalty after several throttled answers may still run (at most 30 s).
    eventually(
        Duration::from_secs(45),
        "REST prices after the faults",
        || {
            let found = watcher
                .of("DOGE/USD")
                .into_iter()
                .any(|r| r.msg.source == Source::Rest && r.at > faults_end);
            async move { found.then_some(()) }
        },
    )
    .await;

    // Concurrent refreshes share calls and stay within the same budget.
    let before = sim.control().rest_requests();
    let replies = futures::future::join_all(
        (0..5).map(|_| request(&client, &prefix, r#"{"pairs":["BTC/USD","ETH/USD"]}"#)),
    )
    .await;
    for reply in &replies {
        assert!(reply.errors.is_empty(), "{:?}", reply.errors);
        assert_eq!(reply.prices.len(), 2);
    }
    let used = sim.control().rest_requests() - before;
    assert!(
        used <= 3,
        "5 concurrent refreshes (plus polls) made {used} requests"
    );

    let times = sim.control().rest_request_times(None);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Spaced by at least 1 s when sent; arrival times carry scheduling jitter on a loaded
    // machine, so each gap may look shorter, but not the span of them all.
    for g in &gaps {
        assert!(
            *g >= Duration::from_millis(600),
            "requests at most about one per second: {gaps:?}"
        );
    }
    let span: Duration = gaps.iter().sum();
    assert!(
        span + Duration::from_secs(1) >= Duration::from_secs(gaps.len() as u64),
        "{} requests in {span:?}: more than one per second",
        times.len()
    );
    let during: Vec<Duration> = times
        .windows(2)
        .filter(|w| w[0] >= throttled_from && w[1] <= faults_end)
        .map(|w| w[1] - w[0])
        .collect();
    // Penalties are jittered within [c/2, c] with c = 2 s, 4 s, 8 s …: in 12 s of faults
    // there are at least two gaps, the second at least 2 s, and far fewer than 12 requests.
    assert!(
        during.len() >= 2,
        "requests went on during the faults: {during:?}"
    );
    let slowest = during.iter().max().copied().unwrap_or_default();
    assert!(
        slowest >= Duration::from_millis(1950),
        "backed off: {during:?}"
    );
    let in_faults = times
        .iter()
        .filter(|t| **t >= throttled_from && **t <= faults_end)
        .count();
    assert!(
        in_faults <= 6,
        "{in_faults} requests in 12 s of faults: {during:?}"
    );
}

async fn nats_restart_loses_only_intermediate_updates(jetstream: bool) {
    let nats = TestNats::container(jetstream).await;
    let sim = sim(Rate::Manual).await;
    let prefix = unique_id();
    // A reconnecting subscriber, like any NATS user's.
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(&nats.url)
        .await
        .expect("connect");
    let watcher = Watcher::start(&client, &prefix).await;
    let ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    sim.control()
        .trade_now("BTC/USD", Some("70000.1"))
        .await
        .expect("trade");
    let before = until(&watcher, "BTC/USD", "the first price", |r| {
        r.msg.price.as_str() == "70000.1"
    })
    .await;

    nats.stop().await;
    let down = Instant::now();
    eventually(WAIT, "/ready to say NATS is down", || async {
        let (status, body) = ingestor.admin(reqwest::Method::GET, "/ready").await;
        (status == 503 && body.contains("unavailable")).then_some(())
    })
    .await;
    sim.control()
        .trade_now("BTC/USD", Some("70000.5"))
        .await
        .expect("trade");
    sim.control()
        .trade_now("BTC/USD", Some("70001.5"))
        .await
        .expect("trade");
    nats.start_again().await;
    let up = Instant::now();
    let up_wall = jiff::Timestamp::now();

    // The latest price arrives, with its original times and a higher seq.
    let after = until(
        &watcher,
        "BTC/USD",
        "the latest price after the restart",
        |r| r.msg.price.as_str() == "70001.5",
    )
    .await;
    assert!(after.at > up);
    assert!(after.msg.seq > before.msg.seq);
    assert!(
        after.msg.received_at < up_wall,
        "received while NATS was down, not re-stamped"
    );
    assert!(after.msg.source == Source::Ws);
    // Publishing resumes.
    sim.control()
        .trade_now("BTC/USD", Some("70002.5"))
        .await
        .expect("trade");
    until(&watcher, "BTC/USD", "a new price after the restart", |r| {
        r.msg.price.as_str() == "70002.5"
    })
    .await;
    // Nothing was queued without bound: at most the one held message per pair plus live ones.
    let between = watcher
        .prices()
        .into_iter()
        .filter(|r| r.at > down && r.msg.price.as_str() == "70000.5")
        .count();
    assert!(
        between <= 1,
        "intermediate updates may be lost, not duplicated"
    );
    if jetstream {
        let js = async_nats::jetstream::new(client.clone());
        let subject = format!("{prefix}.prices.kraken.BTC-USD");
        let stream_name = format!("{}_PRICES", prefix.to_uppercase());
        eventually(WAIT, "the stream holds the latest price", || {
            let (js, subject, name) = (js.clone(), subject.clone(), stream_name.clone());
            async move {
                let stream = js.get_stream(name).await.ok()?;
                let m = stream.direct_get_last_for_subject(subject).await.ok()?;
                let ct = m.headers.get("Content-Type").map(|v| v.as_str().to_owned());
                let msg = common::message::decode(ct.as_deref(), &m.payload).ok()?;
                (msg.price.as_str() == "70002.5").then_some(())
            }
        })
        .await;
    }
}

#[tokio::test]
async fn a_nats_restart_loses_only_intermediate_updates_jetstream() {
    nats_restart_loses_only_intermediate_updates(true).await;
}

#[tokio::test]
async fn a_nats_restart_loses_only_intermediate_updates_core_nats() {
    nats_restart_loses_only_intermediate_updates(false).await;
}

#[tokio::test]
async fn a_refresh_request_gets_a_reply_with_fresh_prices() {
    let nats = TestNats::start().await;
    let sim = sim(Rate::PerPair(Duration::from_secs(5))).await;
    let prefix = unique_id();
    let client = nats.client().await;
    let watcher = Watcher::start(&client, &prefix).await;
    let _ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    until(&watcher, "BTC/USD", "streaming", |r| {
        r.msg.source == Source::Ws
    })
    .await;
    let asked = jiff::Timestamp::now();
    let reply = request(
        &client,
        &prefix,
        r#"{"pairs":["btc/usd"," ETH/USD","DOGE/MOON","LTC/USD","BTC/USD","nonsense"]}"#,
    )
    .await;
    let got: Vec<_> = reply.prices.iter().map(|m| m.pair.as_str()).collect();
    assert_eq!(got, ["BTC/USD", "ETH/USD"], "valid pairs, once each");
    for m in &reply.prices {
        assert!(m.published_at >= asked, "confirmed by this refresh: {m:?}");
        let kraken_now = sim.control().last_price(m.pair.as_str()).expect("offered");
        assert!(
            m.price.as_str().starts_with(kraken_now.as_str()),
            "{} vs Kraken {kraken_now}",
            m.price
        );
        // Also published for every subscriber.
        until(
            &watcher,
            m.pair.as_str(),
            "the refreshed message on the bus",
            |r| r.msg.seq == m.seq,
        )
        .await;
    }
    let codes: Vec<_> = reply
        .errors
        .iter()
        .map(|e| (e.pair.as_str(), e.code))
        .collect();
    assert_eq!(
        codes,
        [
            ("DOGE/MOON", FailureCode::InvalidPair),
            ("LTC/USD", FailureCode::PairNotServed),
            ("nonsense", FailureCode::InvalidPair)
        ]
    );
    let reply = request(&client, &prefix, "not json").await;
    assert_eq!(reply.errors[0].code, FailureCode::BadRequest);
    // An empty request refreshes every served pair.
    let reply = request(&client, &prefix, "{}").await;
    assert_eq!(reply.prices.len(), PAIRS.len(), "{reply:?}");
}

#[tokio::test]
async fn a_quiet_pair_stays_fresh_while_healthy_and_stops_when_both_sources_fail() {
    let nats = TestNats::start().await;
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    sim.control().set_quiet("ETH/USD", true).expect("quiet");
    let prefix = unique_id();
    let watcher = Watcher::start(&nats.client().await, &prefix).await;
    let _ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    let first = until(&watcher, "ETH/USD", "the snapshot", |r| {
        r.msg.source == Source::Ws
    })
    .await;
    // TTL 3 s: re-published about every second with the same price and times.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let quiet: Vec<_> = watcher.of("ETH/USD");
    assert!(quiet.len() >= 4, "re-published: {}", quiet.len());
    for w in quiet.windows(2) {
        assert_eq!(w[1].msg.price, first.msg.price);
        assert_eq!(w[1].msg.received_at, first.msg.received_at);
        assert_eq!(w[1].msg.exchange_time, first.msg.exchange_time);
        assert!(w[1].msg.seq > w[0].msg.seq);
        assert!(w[1].msg.published_at > w[0].msg.published_at);
        assert!(
            w[1].at - w[0].at < Duration::from_millis(1600),
            "well inside the TTL"
        );
    }

    // Both sources fail: the socket stalls and REST is unavailable.
    sim.control().set_rest_fault(Some(RestFault::Unavailable));
    sim.control().stall();
    let failed = jiff::Timestamp::now();
    let unavailable = until_status(&watcher, "unavailable for ETH/USD", |e| {
        e.event == FeedEvent::Unavailable && e.pair == Some(pair("ETH/USD"))
    })
    .await;
    let last = watcher.of("ETH/USD").last().cloned().expect("some");
    assert!(
        last.msg.published_at <= failed + jiff::SignedDuration::from_millis(500),
        "nothing confirmed after the failure: {:?}",
        last.msg
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after: Vec<_> = watcher
        .of("ETH/USD")
        .into_iter()
        .filter(|r| r.at > unavailable)
        .collect();
    assert!(after.is_empty(), "re-publishing stopped: {after:?}");

    // Sources back: the pair is confirmed and published again.
    sim.control().reset();
    let back = Instant::now();
    until(&watcher, "ETH/USD", "ETH/USD published again", |r| {
        r.at > back
    })
    .await;
}

#[tokio::test]
async fn a_pair_kraken_does_not_know_is_isolated_and_the_others_keep_their_rest_prices() {
    let nats = TestNats::start().await;
    // The simulator does not offer LTC/USD: WS rejects it and REST answers
    // `EQuery:Unknown asset pair` for any request that includes it.
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    sim.control().refuse_upgrades(503).expect("refuse");
    let prefix = unique_id();
    let client = nats.client().await;
    let watcher = Watcher::start(&client, &prefix).await;
    let mut pairs = PAIRS.to_vec();
    pairs.push("LTC/USD");
    let config = test_config(&nats.url, &prefix, &sim.ws_url(), &sim.rest_url(), &pairs);
    let _ingestor = start_ingestor(config).await;
    for p in PAIRS {
        until(
            &watcher,
            p,
            &format!("{p} over REST despite the bad pair"),
            |r| r.msg.source == Source::Rest,
        )
        .await;
    }
    assert!(watcher.of("LTC/USD").is_empty());
    // Once isolated, a poll is one request again (the bad pair is retried alone, rarely).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sim.control().rest_requests();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let polls = sim.control().rest_requests() - before;
    assert!((2..=5).contains(&polls), "{polls} requests in 4 s");
    let reply = request(&client, &prefix, r#"{"pairs":["LTC/USD","BTC/USD"]}"#).await;
    assert_eq!(reply.prices.len(), 1);
    assert_eq!(reply.prices[0].pair, pair("BTC/USD"));
    assert_eq!(reply.errors.len(), 1);
    assert_eq!(
        (reply.errors[0].pair.as_str(), reply.errors[0].code),
        ("LTC/USD", FailureCode::KrakenError)
    );
}

#[tokio::test]
async fn refused_upgrades_and_maintenance_slow_reconnects_to_five_seconds() {
    let nats = TestNats::start().await;
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    sim.control().refuse_upgrades(429).expect("refuse");
    let prefix = unique_id();
    let watcher = Watcher::start(&nats.client().await, &prefix).await;
    let _ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    eventually(WAIT, "a refused upgrade", || async {
        (sim.control().stats().ws_upgrades_refused >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let refused = sim.control().stats().ws_upgrades_refused;
    assert!(refused <= 2, "{refused} attempts in 5.5 s after a 429");
    sim.control().accept_upgrades();
    until(
        &watcher,
        "BTC/USD",
        "streaming once upgrades are accepted",
        |r| r.msg.source == Source::Ws,
    )
    .await;

    // Maintenance reported on the socket, then the socket drops: reconnects slow down too.
    sim.control()
        .set_system_status(kraken_sim::SystemStatus::Maintenance);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let opened = sim.control().connections_opened();
    let dropped = Instant::now();
    sim.control().drop_connections();
    eventually(WAIT, "a reconnect", || async {
        (sim.control().connections_opened() > opened).then_some(())
    })
    .await;
    let waited = dropped.elapsed();
    assert!(
        waited >= Duration::from_millis(4900),
        "reconnected after {waited:?} during maintenance"
    );
}

#[tokio::test]
async fn shutdown_with_nats_down_exits_promptly() {
    let nats = TestNats::container(false).await;
    let sim = sim(Rate::PerPair(Duration::from_millis(500))).await;
    let prefix = unique_id();
    let watcher = Watcher::start(&nats.client().await, &prefix).await;
    let ingestor = start_ingestor(config(&nats, &prefix, &sim)).await;
    until(&watcher, "BTC/USD", "streaming", |r| {
        r.msg.source == Source::Ws
    })
    .await;
    nats.stop().await;
    let (result, took) = ingestor.stop().await;
    result.expect("clean stop");
    assert!(
        took < Duration::from_secs(2),
        "no waiting for an absent NATS: {took:?}"
    );
    eventually(WAIT, "the socket closed", || async {
        (sim.control().connections_open() == 0).then_some(())
    })
    .await;
}
