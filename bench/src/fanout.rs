//! `fanout`: many SSE streams on every pair while the simulator trades at a modest rate
//! (benchmark 2 of issue 12): does every client that keeps up get every update, and how long
//! from a price's arrival on NATS to each client?
//!
//! "Arrival" is when this tool's own NATS subscriber, on the price subjects, received the
//! message: the same messages query-api receives, from the same nats-server, on the same
//! machine. Every message and every SSE event is stamped with this process's monotonic clock
//! as it is read and matched afterwards by pair and `published_at` (an SSE item's
//! `timestamp`), which is unique per message. A client's latency is its event's stamp minus
//! the message's. Updates published = messages that arrived in the measured window; a client
//! delivered an update when it received that message's event (at any time until the grace
//! period after the window). The server's own view, `ltp_stream_delivery_seconds` (from the
//! price's arrival in query-api to its write to each client), is scraped before and after.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::procfs;
use crate::sse::{self, Events};
use crate::stats;

/// `fanout` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// query-api `host:port`.
    #[arg(long)]
    addr: String,
    /// NATS URL (the bench's own subscriber).
    #[arg(long)]
    nats: String,
    /// Subject of every price (`ltp.prices.kraken.*`).
    #[arg(long, default_value = "ltp.prices.kraken.*")]
    subject: String,
    /// SSE clients.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// The stream request target (no `pair`: every served pair).
    #[arg(long, default_value = "/api/v1/ltp/stream")]
    path: String,
    /// Seconds after the streams are open before measuring.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds after the window during which late events still count.
    #[arg(long, default_value_t = 2.0)]
    grace: f64,
}

/// `(key, when read)`: one price message or one price event.
type Stamp = (u64, Instant);

/// Runs the benchmark.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let nats = async_nats::connect(&args.nats).await?;
    let mut sub = nats.subscribe(args.subject.clone()).await?;
    nats.flush().await?;
    let (stop_tx, stop) = watch::channel(false);
    let mut stop_nats = stop.clone();
    let bus = tokio::spawn(async move {
        let mut seen: Vec<Stamp> = Vec::new();
        loop {
            tokio::select! {
                _ = stop_nats.changed() => return seen,
                msg = sub.next() => {
                    let Some(msg) = msg else { return seen };
                    let at = Instant::now();
                    let ct = msg.headers.as_ref().and_then(|h| h.get("Content-Type")).map(|v| v.as_str());
                    if let Ok(price) = common::message::decode(ct, &msg.payload) {
                        let stamp = price.published_at.to_string();
                        seen.push((sse::key(price.pair.as_str().as_bytes(), stamp.as_bytes()), at));
                    }
                }
            }
        }
    });
    let opened: Vec<anyhow::Result<sse::Stream>> = futures::stream::iter(0..args.clients)
        .map(|_| sse::open(&args.addr, &args.path))
        .buffer_unordered(100)
        .collect()
        .await;
    let mut readers = Vec::with_capacity(args.clients);
    let mut failed = 0;
    for stream in opened {
        match stream {
            Ok(stream) => readers.push(tokio::spawn(read_events(stream, stop.clone()))),
            Err(_) => failed += 1,
        }
    }
    let metrics_url = format!("http://{}/metrics", args.addr);
    let hist = ("ltp_stream_delivery_seconds", "kind=\"sse\"");
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let before = procfs::scrape_histogram(&metrics_url, hist.0, hist.1).await?;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    let to = Instant::now();
    let after = procfs::scrape_histogram(&metrics_url, hist.0, hist.1).await?;
    tokio::time::sleep(Duration::from_secs_f64(args.grace)).await;
    let _ = stop_tx.send(true);
    let published: HashMap<u64, Instant> = bus
        .await?
        .into_iter()
        .filter(|(_, at)| *at >= from && *at < to)
        .collect();
    let mut clients = Vec::with_capacity(readers.len());
    for reader in readers {
        clients.push(reader.await?);
    }
    let mut summary = tally(&published, &clients, args.duration);
    summary["clients"] = json!(args.clients);
    summary["failed_to_open"] = json!(failed);
    summary["server_delivery_seconds"] = procfs::window(&before, &after);
    Ok(summary)
}

/// Reads one stream until `stop`, stamping every price event.
async fn read_events(mut stream: sse::Stream, mut stop: watch::Receiver<bool>) -> Vec<Stamp> {
    let mut stamps = Vec::new();
    let mut events = Events::default();
    let mut record = |data: &[u8], stamps: &mut Vec<Stamp>| {
        let at = Instant::now();
        events.feed(data, |e| {
            if let Some(key) = sse::event_key(e) {
                stamps.push((key, at));
            }
        });
    };
    record(&stream.first, &mut stamps);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            _ = stop.changed() => return stamps,
            read = stream.socket.read(&mut buf) => match read {
                Ok(n) if n > 0 => record(&buf[..n], &mut stamps),
                _ => return stamps,
            },
        }
    }
}

/// Minimum, median and maximum of per-client counts.
pub fn spread(counts: &mut [u64]) -> serde_json::Value {
    counts.sort_unstable();
    json!({
        "min": counts.first().copied().unwrap_or(0),
        "median": stats::percentile(counts, 50.0),
        "max": counts.last().copied().unwrap_or(0),
    })
}

/// Per client: updates received of those published in the window, and their latencies.
fn tally(
    published: &HashMap<u64, Instant>,
    clients: &[Vec<Stamp>],
    duration: f64,
) -> serde_json::Value {
    let total = published.len() as u64;
    let mut latencies: Vec<u64> = Vec::new();
    let mut counts: Vec<u64> = Vec::with_capacity(clients.len());
    let mut early = 0u64;
    for stamps in clients {
        let mut got = 0u64;
        for (key, at) in stamps {
            let Some(arrived) = published.get(key) else {
                continue;
            };
            got += 1;
            match at.checked_duration_since(*arrived) {
                Some(d) => latencies.push(d.as_micros() as u64),
                None => {
                    // Read from the stream before our own subscriber had the message.
                    early += 1;
                    latencies.push(0);
                }
            }
        }
        counts.push(got);
    }
    let complete = counts.iter().filter(|&&c| c == total).count();
    let delivered: u64 = counts.iter().sum();
    json!({
        "duration_s": duration,
        "published": total,
        "published_rate": total as f64 / duration,
        "clients_open": clients.len(),
        "clients_with_every_update": complete,
        "delivered": delivered,
        "expected": total * clients.len() as u64,
        "per_client_received": spread(&mut counts),
        "events_before_bench_subscriber": early,
        "latency": stats::summary(&mut latencies),
    })
}
