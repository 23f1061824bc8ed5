//! The end-to-end scenario suite of issue 5: the whole system (Kraken simulator → real ingestor
//! → NATS with JetStream → real query-api with its memory or Redis cache) under the faults its
//! users will meet. Every test has its own subject prefix and Redis key prefix, binds port 0
//! (or a free port, for processes), waits by polling with a deadline, and asserts on what users
//! see: HTTP statuses and bodies, NATS messages.
//!
//! Measured figures are printed as `SCENARIO-FIGURE: <name> = <value>` lines (run with
//! `--nocapture` to see them).
//!
//! | scenario | file |
//! |---|---|
//! | 1 pipeline, memory and Redis caches | `pipeline.rs` |
//! | 2 socket dropped then stalled, 3 REST throttled with the socket down | `kraken_faults.rs` |
//! | 4 NATS restarted | `nats_restart.rs` |
//! | 5 Redis stopped and started | `redis_restart.rs` |
//! | 6 ingestor killed and restarted | `ingestor_killed.rs` |
//! | 7 three replicas, late replica warm (JetStream and snapshot) | `replicas.rs` |
//! | 8 plain NATS subscriber, both encodings | `plain_subscriber.rs` |
//! | 9 two ingestors at once | `two_ingestors.rs` |
//! | 10 SIGTERM under load | `sigterm.rs` |
//! | 11–14 a three-node NATS cluster: nodes killed and restarted | `cluster/` |
//! | 15 Kraken's clock off ours, two ingestors' clocks apart: the last trade wins | `kraken_clock.rs` |
//! | 16 Redis behind Sentinel, the primary killed under read load | `redis_sentinel.rs` |

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use integration_tests::TestNats;
use integration_tests::eventually;
use integration_tests::query_api::{Reply, RunningQueryApi};
use jiff::Timestamp;
use kraken_sim::{Rate, SimConfig, Simulator};
use serde_json::Value;
use tokio::task::JoinHandle;

mod cluster;
mod ingestor_killed;
mod kraken_clock;
mod kraken_faults;
mod nats_restart;
mod pipeline;
mod plain_subscriber;
mod redis_restart;
mod redis_sentinel;
mod replicas;
mod sigterm;
mod stream_load;
mod streams;
mod two_ingestors;
mod websocket;

/// How long any single wait may take on a loaded two-core machine.
pub const WAIT: Duration = Duration::from_secs(30);

/// Prints a measured figure for the lead to collect.
pub fn figure(name: &str, value: impl std::fmt::Display) {
    println!("SCENARIO-FIGURE: {name} = {value}");
}

/// Milliseconds with one decimal, for figures.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A simulator offering `pairs` that trades only when told to (`trade_now`).
pub async fn manual_sim(pairs: &[&str]) -> Simulator {
    integration_tests::sim::start_sim_with(SimConfig {
        rate: Rate::Manual,
        ..integration_tests::sim::test_config(pairs)
    })
    .await
}

/// A simulator where each pair trades every `every`.
pub async fn trading_sim(pairs: &[&str], every: Duration) -> Simulator {
    integration_tests::sim::start_sim_with(SimConfig {
        rate: Rate::PerPair(every),
        ..integration_tests::sim::test_config(pairs)
    })
    .await
}

/// An in-process ingestor configuration on `sim` with the cache TTL `ttl` (quiet pairs are
/// re-published every `ttl / 3`).
pub fn ingestor_config(
    nats: &TestNats,
    prefix: &str,
    sim: &Simulator,
    pairs: &[&str],
    ttl: Duration,
) -> ingestor::Config {
    let mut c = integration_tests::ingestor::test_config(
        &nats.url,
        prefix,
        &sim.ws_url(),
        &sim.rest_url(),
        pairs,
    );
    c.cache.ttl = ttl;
    c
}

/// An in-process query-api configuration (memory cache) with the cache TTL `ttl`.
pub fn api_config(
    nats: &TestNats,
    prefix: &str,
    pairs: &[&str],
    ttl: Duration,
) -> query_api::Config {
    let mut c = integration_tests::query_api::test_config(&nats.url, prefix, pairs);
    c.cache.ttl = ttl;
    c
}

/// Trades `pair` at exactly `price` in the simulator.
pub async fn trade(sim: &Simulator, pair: &str, price: &str) {
    sim.control()
        .trade_now(pair, Some(price))
        .await
        .unwrap_or_else(|e| panic!("trade {pair} at {price}: {e}"));
}

/// Trades `pair` at exactly `price` once `sockets` ingestor sockets are subscribed to it (the
/// trade is repeated until the simulator wrote it to that many), and returns the update's
/// exchange time, by which the last one can be recognised downstream.
pub async fn trade_streamed(sim: &Simulator, pair: &str, price: &str, sockets: usize) -> Timestamp {
    eventually(
        WAIT,
        &format!("{pair} at {price} written to {sockets} socket(s)"),
        || async {
            let report = sim
                .control()
                .trade_now(pair, Some(price))
                .await
                .unwrap_or_else(|e| panic!("trade {pair} at {price}: {e}"));
            (report.written_to >= sockets).then_some(report.timestamp)
        },
    )
    .await
    .parse()
    .expect("the simulator's timestamps are RFC 3339")
}

/// One price of an `ltp` body, as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `BTC/USD`.
    pub pair: String,
    /// The exact decimal text.
    pub price: String,
    /// `ws` or `rest`.
    pub source: String,
    /// When the price was last confirmed.
    pub timestamp: Timestamp,
    /// Age when served.
    pub age_ms: u64,
    /// Kraken's time, for WS prices.
    pub exchange_time: Option<Timestamp>,
}

impl Item {
    /// The item without its age (which differs between two reads of the same price).
    pub fn key(&self) -> (String, String, String, Timestamp, Option<Timestamp>) {
        (
            self.pair.clone(),
            self.price.clone(),
            self.source.clone(),
            self.timestamp,
            self.exchange_time,
        )
    }
}

/// The `ltp` items of a body (none when it is not an `ltp` body).
pub fn items(body: &str) -> Vec<Item> {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    value["ltp"]
        .as_array()
        .map(|all| all.iter().filter_map(item).collect())
        .unwrap_or_default()
}

fn item(v: &Value) -> Option<Item> {
    let time = |field: &str| v[field].as_str().and_then(|s| s.parse::<Timestamp>().ok());
    Some(Item {
        pair: v["pair"].as_str()?.to_owned(),
        price: v["price"].as_str()?.to_owned(),
        source: v["source"].as_str()?.to_owned(),
        timestamp: time("timestamp")?,
        age_ms: v["age_ms"].as_u64()?,
        exchange_time: time("exchange_time"),
    })
}

/// The per-pair `errors` of a body: `(pair, reason)`.
pub fn errors(body: &str) -> Vec<(String, String)> {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    value["errors"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|e| {
                    (
                        e["pair"].as_str().unwrap_or_default().to_owned(),
                        e["reason"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `reply` is a 200 with exactly `expected` (pair, exact price) and, when given, the
/// source of each.
pub fn serves(reply: &Reply, expected: &[(&str, &str)], source: Option<&str>) -> bool {
    if reply.status != 200 {
        return false;
    }
    let got = items(&reply.body);
    got.len() == expected.len()
        && expected.iter().all(|(pair, price)| {
            got.iter().any(|i| {
                i.pair == *pair && i.price == *price && source.is_none_or(|s| i.source == s)
            })
        })
}

/// Waits until `GET /api/v1/ltp` on `api` answers 200 with exactly `expected`.
pub async fn until_served(api: &RunningQueryApi, expected: &[(&str, &str)]) -> Reply {
    eventually(WAIT, &format!("{expected:?} served"), || async {
        let reply = api.get("/api/v1/ltp").await;
        serves(&reply, expected, None).then_some(reply)
    })
    .await
}

/// One read of a [`ReadLoop`].
#[derive(Debug, Clone)]
pub struct Read {
    /// When the request was sent.
    pub sent: Instant,
    /// Wall-clock time when the answer came.
    pub answered_at: Timestamp,
    /// How long it took.
    pub took: Duration,
    /// The status, or `None` when the request failed without one.
    pub status: Option<u16>,
    /// The body (or the error text).
    pub body: String,
    /// The `ltp` items.
    pub items: Vec<Item>,
    /// The `X-Cache-Degraded` header, when set.
    pub degraded: Option<String>,
}

impl Read {
    /// Whether this read served every pair of `pairs` with a 200.
    pub fn ok_for(&self, pairs: &[&str]) -> bool {
        self.status == Some(200)
            && pairs
                .iter()
                .all(|p| self.items.iter().any(|i| i.pair == *p))
    }
}

/// A client reading `GET <url>` steadily in the background, one request at a time, recording
/// every answer.
pub struct ReadLoop {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Read>>,
}

impl ReadLoop {
    /// Starts reading `url` every `every`.
    pub fn start(url: String, every: Duration) -> ReadLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client");
            let mut reads = Vec::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !flag.load(Ordering::Acquire) {
                tick.tick().await;
                let sent = Instant::now();
                let (status, degraded, body) = match http.get(&url).send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let degraded = res
                            .headers()
                            .get("x-cache-degraded")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        (Some(status), degraded, res.text().await.unwrap_or_default())
                    }
                    Err(e) => (None, None, e.to_string()),
                };
                reads.push(Read {
                    sent,
                    answered_at: Timestamp::now(),
                    took: sent.elapsed(),
                    status,
                    items: items(&body),
                    degraded,
                    body,
                });
            }
            reads
        });
        ReadLoop { stop, task }
    }

    /// Stops and returns every read.
    pub async fn finish(self) -> Vec<Read> {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("read loop")
    }
}

/// Checks that no read served a trade of one of `pairs` older than one an earlier read served
/// (by exchange time).
pub fn assert_never_older(reads: &[Read], pairs: &[&str]) {
    for pair in pairs {
        let mut newest: Option<Timestamp> = None;
        for read in reads {
            let Some(t) = read
                .items
                .iter()
                .find(|i| i.pair == *pair)
                .and_then(|i| i.exchange_time)
            else {
                continue;
            };
            assert!(
                newest.is_none_or(|n| t >= n),
                "{pair} went back from {newest:?} to {t}"
            );
            newest = Some(t);
        }
    }
}

/// Checks, over `reads`, that no price was ever served older than `ttl`, and that every pair
/// that became unavailable did so within `slack` of its last confirmation plus `ttl`, saying
/// `expired`. Returns, per pair, how long after its last served confirmation it was first
/// reported unavailable.
pub fn check_expiry(
    reads: &[Read],
    pairs: &[&str],
    ttl: Duration,
    slack: Duration,
) -> Vec<(String, Duration)> {
    let ttl_ms = u64::try_from(ttl.as_millis()).expect("ttl in ms");
    for read in reads {
        for item in &read.items {
            assert!(
                item.age_ms <= ttl_ms,
                "a price older than the TTL was served: {item:?}"
            );
        }
    }
    let mut expiries = Vec::new();
    for pair in pairs {
        let mut last_confirmed: Option<Timestamp> = None;
        for read in reads {
            if let Some(item) = read.items.iter().find(|i| i.pair == *pair) {
                last_confirmed = Some(item.timestamp);
                continue;
            }
            let Some(confirmed) = last_confirmed else {
                continue;
            };
            let reason = errors(&read.body)
                .into_iter()
                .find(|(p, _)| p == pair)
                .map(|(_, r)| r)
                .unwrap_or_default();
            assert_eq!(reason, "expired", "{pair} unavailable: {}", read.body);
            let after = read.answered_at.duration_since(confirmed).unsigned_abs();
            assert!(
                after >= ttl.saturating_sub(Duration::from_millis(50)) && after <= ttl + slack,
                "{pair} was reported unavailable {after:?} after its last confirmation (TTL {ttl:?})"
            );
            expiries.push(((*pair).to_owned(), after));
            break;
        }
    }
    expiries
}
