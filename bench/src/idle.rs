//! `hold`: opens many SSE streams, waits for each one's snapshot, then holds them all open
//! until SIGTERM, for `bench/streams.sh` to measure query-api with them held (benchmark 1 of
//! issue 12: resident memory per stream, REST latency beside them).
//!
//! Held streams are drained through a small buffer as data comes (a stream on one pair gets an
//! event per trade of that pair), so none of them fills its socket and gets dropped as slow.
//! When every stream is open and has its snapshot, a JSON line is written to `--ready`; on
//! SIGTERM the summary is printed and the sockets are reset.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::sse::{self, Events};

/// `hold` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// query-api `host:port`.
    #[arg(long)]
    addr: String,
    /// The stream request target.
    #[arg(long, default_value = "/api/v1/ltp/stream?pair=BTC/USD")]
    path: String,
    /// Streams to open.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Streams being opened at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Seconds a new stream may take to deliver its snapshot.
    #[arg(long, default_value_t = 30.0)]
    snapshot_timeout: f64,
    /// File the "all open" JSON line is written to.
    #[arg(long)]
    ready: std::path::PathBuf,
}

/// Counters shared by the streams' tasks.
#[derive(Default)]
struct Tally {
    /// Streams that had their snapshot and are held.
    held: AtomicU64,
    /// Held streams the server closed.
    closed: AtomicU64,
    /// Bytes read after the snapshots.
    bytes: AtomicU64,
}

/// Opens the streams, reports readiness, holds them until SIGTERM, then reports.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let mut term = signal(SignalKind::terminate())?;
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop) = watch::channel(false);
    let began = Instant::now();
    let timeout = Duration::from_secs_f64(args.snapshot_timeout);
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..args.streams)
        .map(|_| {
            let (addr, path, tally, stop) = (
                args.addr.clone(),
                args.path.clone(),
                tally.clone(),
                stop.clone(),
            );
            async move { open_and_hold(&addr, &path, timeout, tally, stop).await }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let open_s = began.elapsed().as_secs_f64();
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}")))
        .collect();
    let ready = json!({
        "streams": args.streams,
        "held": tally.held.load(Relaxed),
        "failed": errors.len(),
        "first_error": errors.first(),
        "open_seconds": open_s,
    });
    std::fs::write(&args.ready, format!("{ready}\n"))?;
    term.recv().await;
    let held_s = began.elapsed().as_secs_f64() - open_s;
    let _ = stop_tx.send(true);
    Ok(json!({
        "streams": args.streams,
        "held": tally.held.load(Relaxed),
        "failed": errors.len(),
        "first_error": errors.first(),
        "open_seconds": open_s,
        "held_seconds": held_s,
        "closed_by_server": tally.closed.load(Relaxed),
        "bytes_after_snapshot": tally.bytes.load(Relaxed),
    }))
}

/// Opens one stream and waits for its snapshot (returning then), leaving a task that drains
/// it until `stop`.
async fn open_and_hold(
    addr: &str,
    path: &str,
    timeout: Duration,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut stream = sse::open(addr, path).await?;
    let mut events = Events::default();
    let mut buf = [0u8; 1024];
    let mut seen = events.feed(&stream.first, |_| ());
    let deadline = tokio::time::Instant::now() + timeout;
    while seen == 0 {
        let n = tokio::time::timeout_at(deadline, stream.socket.read(&mut buf))
            .await
            .map_err(|_| anyhow::anyhow!("no snapshot within {timeout:?}"))??;
        anyhow::ensure!(n > 0, "closed before the snapshot");
        seen += events.feed(&buf[..n], |_| ());
    }
    tally.held.fetch_add(1, Relaxed);
    tokio::spawn(async move {
        let mut socket = stream.socket;
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                read = socket.read(&mut buf) => match read {
                    Ok(n) if n > 0 => { tally.bytes.fetch_add(n as u64, Relaxed); }
                    _ => { tally.closed.fetch_add(1, Relaxed); return; }
                },
            }
        }
    });
    Ok(())
}
