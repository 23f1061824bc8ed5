//! Scenario 15 (issue 18): the last trade wins whatever Kraken's clock and ours say.
//!
//! The simulator's clock runs off ours by each of [`OFFSETS`]; TTL 60 s, fallback timeout
//! 2 s, REST poll 1 s. For every offset:
//!
//! 1. Kraken behind: the socket stalls, REST finds P_a, the socket comes back with a newer
//!    P_b: the API serves P_b within a second.
//! 2. Kraken ahead: P_c arrives on the socket, the socket stalls, REST finds P_d: the API
//!    serves P_d within a second of REST's first request after the trade.
//! 3. The pair's subscription is rejected (REST serves P_e), then accepted: the next trade
//!    on the socket is served within a second.
//! 4. A refresh answer arrives late (computed before a socket trade, delivered after it): the
//!    API keeps serving the socket's newer trade.
//!
//! And two ingestors whose clocks are 1 s apart, one on the socket and one polling REST whose
//! answers arrive late, never make the API go back to an older trade.
//!
//! Each case records whether it held (and how long it took) instead of stopping at the first
//! failure; the test prints the table and fails if any case failed.

use std::time::{Duration, Instant};

use integration_tests::ingestor::{RunningIngestor, start_ingestor};
use integration_tests::query_api::{RunningQueryApi, start_query_api};
use integration_tests::{TestNats, eventually, unique_id};
use jiff::SignedDuration;
use kraken_sim::{Endpoint, Rate, SimConfig, Simulator};

use super::{WAIT, api_config, figure, ingestor_config, items, trade, trade_streamed};

const PAIR: &str = "BTC/USD";
const PAIRS: &[&str] = &[PAIR];
/// Kraken's clock minus ours, in milliseconds.
const OFFSETS: [i64; 5] = [-10_000, -200, 0, 200, 10_000];
const TTL: Duration = Duration::from_secs(60);
/// How soon the last trade must be served once a source has it.
const WITHIN: Duration = Duration::from_secs(1);

/// Simulator, ingestor and query-api on one NATS, with Kraken's clock `offset_ms` off ours.
struct Stack {
    sim: Simulator,
    _ingestor: RunningIngestor,
    api: RunningQueryApi,
}

impl Stack {
    async fn start(
        nats: &TestNats,
        offset_ms: i64,
        before_ingestor: impl FnOnce(&Simulator),
        tweak: impl FnOnce(&mut ingestor::Config),
    ) -> Stack {
        let prefix = unique_id();
        let sim = integration_tests::sim::start_sim_with(SimConfig {
            rate: Rate::Manual,
            clock_offset: SignedDuration::from_millis(offset_ms),
            ..integration_tests::sim::test_config(PAIRS)
        })
        .await;
        before_ingestor(&sim);
        let mut config = ingestor_config(nats, &prefix, &sim, PAIRS, TTL);
        tweak(&mut config);
        let ingestor = start_ingestor(config).await;
        let api = start_query_api(api_config(nats, &prefix, PAIRS, TTL)).await;
        Stack {
            sim,
            _ingestor: ingestor,
            api,
        }
    }

    /// The price served for [`PAIR`] and its source.
    async fn served(&self) -> Option<(String, String)> {
        served(&self.api).await
    }

    /// Waits (up to [`WAIT`]) until `price` is served from `source`.
    async fn until_served(&self, price: &str, source: &str) {
        eventually(WAIT, &format!("{price} served from {source}"), || async {
            self.served()
                .await
                .filter(|(p, s)| same(p, price) && s == source)
                .map(|_| ())
        })
        .await;
    }
}

/// How long after `from` the API first served `price`, if within [`WITHIN`].
async fn served_within(api: &RunningQueryApi, price: &str, from: Instant) -> Option<Duration> {
    loop {
        if served(api).await.is_some_and(|(p, _)| same(&p, price)) {
            return Some(from.elapsed());
        }
        if from.elapsed() > WITHIN {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn served(api: &RunningQueryApi) -> Option<(String, String)> {
    let reply = api.get(&format!("/api/v1/ltp?pair={PAIR}")).await;
    items(&reply.body)
        .into_iter()
        .next()
        .map(|i| (i.price, i.source))
}

/// Equal decimals (REST pads `101` to `101.00000`).
fn same(a: &str, b: &str) -> bool {
    let normal = |t: &str| {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            t.to_owned()
        }
    };
    normal(a) == normal(b)
}

/// One case's outcome: how long the last trade took to be served, or what was served instead.
type Outcome = Result<Duration, String>;

fn shown(outcome: &Outcome) -> String {
    match outcome {
        Ok(took) => format!("ok ({} ms)", took.as_millis()),
        Err(why) => format!("FAILED: {why}"),
    }
}

async fn outcome(stack: &Stack, price: &str, from: Instant) -> Outcome {
    match served_within(&stack.api, price, from).await {
        Some(took) => Ok(took),
        None => Err(format!(
            "after {} ms still served {:?} instead of {price}",
            from.elapsed().as_millis(),
            stack.served().await
        )),
    }
}

/// 1. Kraken behind (or not): socket → REST → socket.
async fn socket_back_after_rest(nats: &TestNats, offset_ms: i64) -> Outcome {
    let s = Stack::start(nats, offset_ms, |_| {}, |_| {}).await;
    trade_streamed(&s.sim, PAIR, "100", 1).await;
    s.until_served("100", "ws").await;
    s.sim.control().stall();
    trade(&s.sim, PAIR, "101").await;
    s.until_served("101", "rest").await;
    s.sim.control().unstall();
    trade_streamed(&s.sim, PAIR, "102", 1).await;
    outcome(&s, "102", Instant::now()).await
}

/// 2. Kraken ahead (or not): a socket trade, a stall, a newer trade found by REST.
async fn rest_after_socket(nats: &TestNats, offset_ms: i64) -> Outcome {
    let s = Stack::start(nats, offset_ms, |_| {}, |_| {}).await;
    trade_streamed(&s.sim, PAIR, "200", 1).await;
    s.until_served("200", "ws").await;
    s.sim.control().stall();
    let traded = Instant::now();
    trade(&s.sim, PAIR, "201").await;
    let asked = eventually(WAIT, "a REST Ticker request after the trade", || async {
        s.sim
            .control()
            .rest_request_times(Some(Endpoint::Ticker))
            .into_iter()
            .find(|t| *t > traded)
    })
    .await;
    outcome(&s, "201", asked).await
}

/// 3. Subscription rejected (REST serves the pair), then accepted.
async fn rejected_then_accepted(nats: &TestNats, offset_ms: i64) -> Outcome {
    let reject = |sim: &Simulator| {
        sim.control()
            .reject_pair(PAIR, true)
            .expect("an offered pair");
    };
    let s = Stack::start(nats, offset_ms, reject, |_| {}).await;
    trade(&s.sim, PAIR, "300").await;
    s.until_served("300", "rest").await;
    s.sim
        .control()
        .reject_pair(PAIR, false)
        .expect("an offered pair");
    s.sim.control().drop_connections();
    trade_streamed(&s.sim, PAIR, "301", 1).await;
    outcome(&s, "301", Instant::now()).await
}

/// 4. A refresh answer computed before a socket trade arrives after it.
async fn late_refresh_answer(nats: &TestNats, offset_ms: i64) -> Outcome {
    let s = Stack::start(
        nats,
        offset_ms,
        |_| {},
        |c| c.exchange.kraken.request_timeout = Duration::from_secs(3),
    )
    .await;
    trade_streamed(&s.sim, PAIR, "400", 1).await;
    s.until_served("400", "ws").await;
    s.sim.control().set_rest_delay(Duration::from_millis(700));
    let before = s.sim.control().rest_requests_for(Endpoint::Ticker);
    let path = format!("/api/v1/ltp/refresh?pairs={PAIR}");
    let refresh = s.api.post(&path);
    let trade_meanwhile = async {
        eventually(WAIT, "the refresh's Ticker request", || async {
            (s.sim.control().rest_requests_for(Endpoint::Ticker) > before).then_some(())
        })
        .await;
        trade_streamed(&s.sim, PAIR, "401", 1).await;
        outcome(&s, "401", Instant::now()).await
    };
    let (reply, served) = tokio::join!(refresh, trade_meanwhile);
    s.sim.control().set_rest_delay(Duration::ZERO);
    let took = served?;
    if reply.status != 200 || !reply.prices().iter().any(|(_, p)| same(p, "401")) {
        return Err(format!("refresh answered {}: {}", reply.status, reply.body));
    }
    // And it stays: the late answer never replaces it.
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        let now = s.served().await;
        if !now.as_ref().is_some_and(|(p, _)| same(p, "401")) {
            return Err(format!("went back to {now:?} after serving 401"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(took)
}

#[tokio::test]
async fn the_last_trade_is_served_whatever_kraken_clock_says() {
    let nats = TestNats::start().await;
    let mut failed = Vec::new();
    for offset_ms in OFFSETS {
        let cases = [
            (
                "socket back",
                socket_back_after_rest(&nats, offset_ms).await,
            ),
            (
                "rest after socket",
                rest_after_socket(&nats, offset_ms).await,
            ),
            (
                "rejected, accepted",
                rejected_then_accepted(&nats, offset_ms).await,
            ),
            ("late refresh", late_refresh_answer(&nats, offset_ms).await),
        ];
        for (name, result) in cases {
            figure(
                &format!("kraken clock {offset_ms:+} ms, {name}"),
                shown(&result),
            );
            if result.is_err() {
                failed.push(format!("{offset_ms:+} ms {name}: {}", shown(&result)));
            }
        }
    }
    assert!(failed.is_empty(), "cases failed:\n{}", failed.join("\n"));
}

/// The integer part of a served price (the prices below are whole numbers).
fn whole(price: &str) -> u64 {
    price
        .split('.')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a whole-number price: {price}"))
}

#[tokio::test]
async fn ingestors_with_clocks_1s_apart_never_go_back_in_time() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = integration_tests::sim::start_sim_with(SimConfig {
        rate: Rate::Manual,
        ..integration_tests::sim::test_config(PAIRS)
    })
    .await;
    // A streams; B cannot reach the socket, polls REST with a clock 1 s ahead, and its
    // answers arrive 400 ms after Kraken computed them.
    let a = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, TTL)).await;
    let mut b_config = ingestor_config(&nats, &prefix, &sim, PAIRS, TTL);
    b_config.ingestor.instance_id = format!("{prefix}-b");
    b_config.ingestor.clock_offset_ms = 1_000;
    b_config.exchange.kraken.websocket_url = "ws://127.0.0.1:1/v2".into();
    let b = start_ingestor(b_config).await;
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, TTL)).await;
    trade_streamed(&sim, PAIR, "1000", 1).await;
    eventually(WAIT, "B polling REST", || async {
        (sim.control().rest_requests_for(Endpoint::Ticker) >= 2).then_some(())
    })
    .await;
    sim.control().set_rest_delay(Duration::from_millis(400));

    let mut highest = 0;
    let mut backwards = Vec::new();
    let mut reads = 0;
    let mut last = String::new();
    for step in 1..=40_u64 {
        last = (1000 + step).to_string();
        trade_streamed(&sim, PAIR, &last, 1).await;
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            if let Some((price, source)) = served(&api).await {
                reads += 1;
                let seen = whole(&price);
                if seen < highest {
                    backwards.push(format!("{highest} then {price} ({source})"));
                }
                highest = highest.max(seen);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let last_served = served_within(&api, &last, Instant::now()).await;
    figure("two ingestors 1 s apart: reads", reads);
    figure("two ingestors 1 s apart: went back", backwards.len());
    drop((a, b));
    assert!(
        backwards.is_empty(),
        "the API went back in time: {backwards:?}"
    );
    assert!(
        last_served.is_some(),
        "the last trade {last} was not served within {WITHIN:?}"
    );
}
