//! Fixed-rate (open-loop) load, latency measured from the intended send time (see
//! [`crate::pace`] for why and how).

use hyper::Method;
use serde_json::json;

use crate::client::Target;
use crate::pace::{self, Plan};
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

/// Runs the load and returns the summary.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let plan = Plan {
        target: Target::parse(&args.url)?,
        method: Method::GET,
        rate: args.rate,
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration,
    };
    let run = pace::run(&plan).await?;
    let mut latencies = Vec::with_capacity(run.samples.len());
    let mut service = Vec::with_capacity(run.samples.len());
    let (mut ok, mut non_2xx, mut errors) = (0u64, 0u64, 0u64);
    for s in &run.samples {
        match s.status {
            Some(status) => {
                if (200..300).contains(&status) {
                    ok += 1;
                } else {
                    non_2xx += 1;
                }
                latencies.push((s.done - s.due).as_micros() as u64);
                service.push((s.done - s.sent).as_micros() as u64);
            }
            None => errors += 1,
        }
    }
    Ok(json!({
        "url": args.url,
        "target_rate": args.rate,
        "connections": args.connections,
        "duration_s": args.duration,
        "achieved_rate": (ok + non_2xx) as f64 / args.duration,
        "ok": ok,
        "non_2xx": non_2xx,
        "errors": errors,
        "drain_ms": run.drain.as_millis() as u64,
        "latency": stats::summary(&mut latencies),
        "service_time": stats::summary(&mut service),
    }))
}
