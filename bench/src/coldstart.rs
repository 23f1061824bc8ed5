//! Cold start: spawn a query-api process (configured by the environment the script sets) and
//! poll `GET /api/v1/ltp` — every configured pair — until it answers 200, which it does only
//! when every pair has a fresh price. Measured from just before `spawn`, so it includes exec,
//! configuration, binding, connecting to NATS and loading the last values from JetStream.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::Command;

use crate::client::Conn;
use crate::stats;

/// `coldstart` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The query-api binary.
    #[arg(long)]
    bin: String,
    /// `host:port` it listens on (set `PORT` in the environment to match).
    #[arg(long)]
    addr: String,
    /// Processes to start, one after the other.
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Give up on one run after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
}

/// Runs the probe.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let mut to_listen = Vec::new();
    let mut to_all_pairs = Vec::new();
    let mut failed = 0;
    for _ in 0..args.runs {
        let started = Instant::now();
        let mut child = Command::new(&args.bin)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let deadline = started + Duration::from_millis(args.timeout_ms);
        let mut listening = None;
        let mut served = None;
        let mut conn: Option<Conn> = None;
        while Instant::now() < deadline {
            if conn.is_none() {
                conn = Conn::connect(&args.addr).await.ok();
            }
            if let Some(c) = conn.as_mut() {
                match c.get("/api/v1/ltp").await {
                    Ok((status, _)) => {
                        listening.get_or_insert(started.elapsed());
                        if status == 200 {
                            served = Some(started.elapsed());
                            break;
                        }
                    }
                    Err(_) => conn = None,
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = child.kill().await;
        match (listening, served) {
            (Some(l), Some(s)) => {
                to_listen.push(l.as_micros() as u64);
                to_all_pairs.push(s.as_micros() as u64);
            }
            _ => failed += 1,
        }
        // Let the port and NATS forget the previous process.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(json!({
        "runs": args.runs,
        "failed": failed,
        "first_answer": stats::summary(&mut to_listen),
        "all_pairs_served": stats::summary(&mut to_all_pairs),
    }))
}
