//! Fixed-rate (open-loop) load, latency measured from the intended send time.
//!
//! Why not wrk: Debian bookworm has no wrk2, and wrk (closed loop) sends the next request only
//! when the previous one returned, so a server stall hides the requests it delayed
//! ("coordinated omission"). Here a pacer thread releases request *i* at `start + i / rate`
//! whatever happens; any free connection takes the next due request, and its latency runs from
//! that due time to the last byte of the response. A server that falls behind therefore shows
//! its queueing in the percentiles, as wrk2 would report it.
//!
//! The pacer is an OS thread sleeping with `nanosleep` (tens of microseconds of slack) rather
//! than a tokio timer (millisecond wheel), so the schedule itself adds little.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;
use tokio::sync::mpsc::unbounded_channel;

use crate::client::{Conn, Target};
use crate::stats;

/// `load` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Full URL, e.g. `http://127.0.0.1:18080/api/v1/ltp?pair=BTC/USD`.
    #[arg(long)]
    url: String,
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds sent at the same rate before measuring.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    service: Vec<u64>,
    ok: u64,
    non_2xx: u64,
    errors: u64,
}

/// Runs the load and returns the summary.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        args.rate > 0.0 && args.connections > 0,
        "rate and connections > 0"
    );
    let target = Target::parse(&args.url)?;
    let mut conns = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        conns.push(Conn::connect(&target.authority).await?);
    }
    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let total = ((args.warmup + args.duration) * args.rate) as u64;
    let (tx, rx) = unbounded_channel::<Instant>();
    let rate = args.rate;
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if tx.send(due).is_err() {
                return;
            }
        }
    });
    let queue = Arc::new(Mutex::new(rx));
    let mut workers = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let queue = queue.clone();
        let target = target.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let due = { queue.lock().await.recv().await };
                let Some(due) = due else { break };
                let sent = Instant::now();
                let result = conn.get(&target.path).await;
                let done = Instant::now();
                let measured = due >= measure_from && due < end;
                match result {
                    Ok((status, _)) => {
                        if measured {
                            if (200..300).contains(&status) {
                                tally.ok += 1;
                            } else {
                                tally.non_2xx += 1;
                            }
                            tally.latencies.push((done - due).as_micros() as u64);
                            tally.service.push((done - sent).as_micros() as u64);
                        }
                    }
                    Err(_) => {
                        if measured {
                            tally.errors += 1;
                        }
                        // A broken connection is replaced; the failure is counted once.
                        match Conn::connect(&target.authority).await {
                            Ok(fresh) => conn = fresh,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for worker in workers {
        let t = worker.await?;
        all.latencies.extend(t.latencies);
        all.service.extend(t.service);
        all.ok += t.ok;
        all.non_2xx += t.non_2xx;
        all.errors += t.errors;
    }
    let _ = pacer.join();
    let finished = Instant::now();
    let completed = all.ok + all.non_2xx;
    Ok(json!({
        "url": args.url,
        "target_rate": args.rate,
        "connections": args.connections,
        "duration_s": args.duration,
        "achieved_rate": completed as f64 / args.duration,
        "ok": all.ok,
        "non_2xx": all.non_2xx,
        "errors": all.errors,
        "drain_ms": finished.saturating_duration_since(end).as_millis() as u64,
        "latency": stats::summary(&mut all.latencies),
        "service_time": stats::summary(&mut all.service),
    }))
}
