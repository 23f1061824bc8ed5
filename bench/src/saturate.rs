//! `saturate`: the limit of fan-out on this machine (benchmark 3 of issue 12). The same price
//! messages, published by this tool at rising rates, are delivered to N clients two ways, one
//! after the other, round after round:
//!
//! * `sse` — N SSE streams on every pair, through query-api (which receives each message once
//!   from nats-server);
//! * `nats` — N plain async-nats connections, each subscribed to the price subjects, straight
//!   from nats-server.
//!
//! Each phase opens its N clients, publishes for a warm-up then a measured window, and counts
//! what was published and what the clients received in the window, with the CPU time (user +
//! system, `/proc/PID/stat`) query-api, nats-server and this tool spent in it. Conflation means
//! a slow SSE client gets fewer events than were published: delivered counts are what arrived.
//! The messages are the ingestor's: a [`PriceMessage`] in the MessagePack encoding with its
//! `Content-Type` header, on `<prefix>.prices.kraken.<PAIR>`, pairs round-robin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::HeaderMap;
use common::message::{Encoding, SCHEMA_VERSION};
use common::{Pair, Price, PriceMessage, Source, Subjects};
use futures::StreamExt;
use jiff::Timestamp;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fanout::spread;
use crate::procfs::cpu_ticks;
use crate::sse::{self, Events};

/// `saturate` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// query-api `host:port`.
    #[arg(long)]
    addr: String,
    /// NATS URL.
    #[arg(long)]
    nats: String,
    /// Comma-separated pairs to publish (the ones query-api serves).
    #[arg(long)]
    pairs: String,
    /// Clients of each kind.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// Comma-separated publish rates (messages per second, all pairs together).
    #[arg(long, default_value = "1000,5000,20000")]
    rates: String,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds published before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Rounds (each: every rate, both kinds, the order alternating).
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// query-api's pid (CPU time).
    #[arg(long)]
    qa_pid: u32,
    /// nats-server's pid (CPU time).
    #[arg(long)]
    nats_pid: u32,
    /// `getconf CLK_TCK`.
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sse,
    Nats,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Sse => "sse",
            Kind::Nats => "nats",
        }
    }
}

/// Runs every round and returns one row per phase.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let pairs = args
        .pairs
        .split(',')
        .map(|p| Pair::parse(p).map_err(|e| anyhow::anyhow!("{p}: {e}")))
        .collect::<anyhow::Result<Vec<Pair>>>()?;
    let rates = args
        .rates
        .split(',')
        .map(|r| r.trim().parse::<f64>().context("rate"))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let subjects = Subjects::new("ltp")?;
    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        for &rate in &rates {
            let order = if round % 2 == 1 {
                [Kind::Sse, Kind::Nats]
            } else {
                [Kind::Nats, Kind::Sse]
            };
            for kind in order {
                let feed = Feed {
                    nats: args.nats.clone(),
                    subjects: subjects.clone(),
                    pairs: pairs.clone(),
                    rate,
                };
                let mut row = phase(&args, kind, feed).await?;
                row["round"] = json!(round);
                eprintln!("[saturate] {row}");
                rows.push(row);
            }
        }
    }
    Ok(json!({ "clients": args.clients, "duration_s": args.duration, "rows": rows }))
}

/// One measured phase: open the clients, publish, count, close.
async fn phase(args: &Args, kind: Kind, feed: Feed) -> anyhow::Result<serde_json::Value> {
    let receivers = match kind {
        Kind::Sse => sse_receivers(&args.addr, args.clients).await,
        Kind::Nats => nats_receivers(&args.nats, &feed.subjects, args.clients).await,
    };
    // Snapshots (SSE) and subscriptions settle before anything is published.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rate = feed.rate;
    let publisher = feed.start();
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let me = std::process::id();
    let cpu = || -> anyhow::Result<[u64; 3]> {
        Ok([
            cpu_ticks(args.qa_pid)?,
            cpu_ticks(args.nats_pid)?,
            cpu_ticks(me)?,
        ])
    };
    let (c0, p0, r0, t0) = (
        cpu()?,
        publisher.count(),
        receivers.counts(),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    let (c1, p1, r1, t1) = (
        cpu()?,
        publisher.count(),
        receivers.counts(),
        Instant::now(),
    );
    publisher.stop().await?;
    let open = receivers.tasks.len();
    let failed = receivers.failed;
    receivers.stop().await;
    let seconds = (t1 - t0).as_secs_f64();
    let mut per_client: Vec<u64> = r1.iter().zip(&r0).map(|(a, b)| a - b).collect();
    let delivered: u64 = per_client.iter().sum();
    let published = p1 - p0;
    let cpu_s = |i: usize| (c1[i] - c0[i]) as f64 / args.clk_tck as f64;
    let per_event_us = |s: f64| 1e6 * s / delivered.max(1) as f64;
    let server_s = match kind {
        Kind::Sse => cpu_s(0) + cpu_s(1),
        Kind::Nats => cpu_s(1),
    };
    Ok(json!({
        "kind": kind.label(),
        "target_rate": rate,
        "clients_open": open,
        "clients_failed": failed,
        "seconds": seconds,
        "published": published,
        "published_per_s": published as f64 / seconds,
        "delivered": delivered,
        "delivered_per_s": delivered as f64 / seconds,
        "delivered_share": delivered as f64 / (published * open.max(1) as u64).max(1) as f64,
        "per_client_received": spread(&mut per_client),
        "cpu_percent": {
            "query_api": 100.0 * cpu_s(0) / seconds,
            "nats_server": 100.0 * cpu_s(1) / seconds,
            "bench": 100.0 * cpu_s(2) / seconds,
        },
        "server_cpu_us_per_delivered": per_event_us(server_s),
    }))
}

/// N clients counting the messages (or price events) each receives.
struct Receivers {
    counts: Arc<Vec<AtomicU64>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    failed: usize,
}

impl Receivers {
    fn new(n: usize) -> Receivers {
        Receivers {
            counts: Arc::new((0..n).map(|_| AtomicU64::new(0)).collect()),
            stop: watch::Sender::new(false),
            tasks: Vec::with_capacity(n),
            failed: 0,
        }
    }

    /// Each client's count so far.
    fn counts(&self) -> Vec<u64> {
        self.counts.iter().map(|c| c.load(Relaxed)).collect()
    }

    /// Closes every client and waits until they are gone.
    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// N SSE streams on every pair, each counting its price events.
async fn sse_receivers(addr: &str, n: usize) -> Receivers {
    let mut receivers = Receivers::new(n);
    let opened: Vec<_> = futures::stream::iter(0..n)
        .map(|_| sse::open(addr, "/api/v1/ltp/stream"))
        .buffer_unordered(100)
        .collect()
        .await;
    for (i, stream) in opened.into_iter().enumerate() {
        let Ok(mut stream) = stream else {
            receivers.failed += 1;
            continue;
        };
        let (counts, mut stop) = (receivers.counts.clone(), receivers.stop.subscribe());
        receivers.tasks.push(tokio::spawn(async move {
            let mut events = Events::default();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    read = stream.socket.read(&mut buf) => match read {
                        Ok(n) if n > 0 => {
                            counts[i].fetch_add(events.feed(&buf[..n], |_| ()), Relaxed);
                        }
                        _ => return,
                    },
                }
            }
        }));
    }
    receivers
}

/// N NATS connections, each subscribed to every price subject and counting messages.
async fn nats_receivers(url: &str, subjects: &Subjects, n: usize) -> Receivers {
    let mut receivers = Receivers::new(n);
    let opened: Vec<_> = futures::stream::iter(0..n)
        .map(|_| async {
            let client = async_nats::connect(url).await?;
            let sub = client.subscribe(subjects.prices_wildcard()).await?;
            client.flush().await?;
            anyhow::Ok((client, sub))
        })
        .buffer_unordered(50)
        .collect()
        .await;
    for (i, opened) in opened.into_iter().enumerate() {
        let Ok((client, mut sub)) = opened else {
            receivers.failed += 1;
            continue;
        };
        let (counts, mut stop) = (receivers.counts.clone(), receivers.stop.subscribe());
        receivers.tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    msg = sub.next() => match msg {
                        Some(_) => { counts[i].fetch_add(1, Relaxed); }
                        None => break,
                    },
                }
            }
            drop(sub);
            drop(client);
        }));
    }
    receivers
}

/// What the publisher sends, and how fast.
struct Feed {
    nats: String,
    subjects: Subjects,
    pairs: Vec<Pair>,
    rate: f64,
}

/// A running publisher.
struct Publisher {
    published: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl Feed {
    /// Publishes at `rate` (checked every millisecond, catching up in a burst when late) until
    /// stopped, on its own OS thread, runtime and NATS connection: on the receivers' runtime,
    /// among a thousand busy client tasks, it was polled too rarely to keep any rate.
    fn start(self) -> Publisher {
        let published = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (published.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(self.publish(&count, &stopped))
        });
        Publisher {
            published,
            stop,
            thread,
        }
    }

    async fn publish(self, count: &AtomicU64, stopped: &AtomicBool) -> anyhow::Result<()> {
        let client = async_nats::connect(&self.nats).await?;
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", Encoding::Msgpack.content_type());
        let ingestor: Arc<str> = Arc::from("ltp-bench");
        let began = Instant::now();
        let mut n = 0u64;
        while !stopped.load(Relaxed) {
            let due = (began.elapsed().as_secs_f64() * self.rate) as u64;
            while n < due {
                let pair = self.pairs[(n % self.pairs.len() as u64) as usize];
                let payload = Encoding::Msgpack.encode(&message(pair, n, &ingestor)?);
                let subject = self.subjects.price(pair).clone();
                client
                    .publish_with_headers(subject, headers.clone(), payload)
                    .await?;
                n += 1;
                count.store(n, Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        client.flush().await?;
        Ok(())
    }
}

impl Publisher {
    fn count(&self) -> u64 {
        self.published.load(Relaxed)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.stop.store(true, Relaxed);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("publisher thread panicked"))?
    }
}

/// The `n`-th message: a fresh price (exact decimal text) stamped now, so every message of a
/// pair is newer than the one before and query-api takes it.
fn message(pair: Pair, n: u64, ingestor: &Arc<str>) -> anyhow::Result<PriceMessage> {
    let now = Timestamp::now();
    let price = format!("{}.{:02}", 100 + (n / 100) % 10_000, n % 100);
    Ok(PriceMessage {
        v: SCHEMA_VERSION,
        pair,
        price: Price::parse(&price)?,
        source: Source::Ws,
        exchange_time: Some(now),
        as_of: Some(now),
        received_at: now,
        published_at: now,
        seq: n,
        ingestor: ingestor.clone(),
    })
}
