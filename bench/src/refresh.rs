//! Refresh round trip: `POST /api/v1/ltp/refresh` → query-api → NATS → ingestor → Kraken REST
//! (the simulator, behind `ltp-bench proxy`) → reply, split into the time that is Kraken's and
//! the time that is ours.
//!
//! The ingestor sends at most about one Kraken call a second, and coalesces: a refresh whose
//! pair is in a call already sent waits for that call's answer; any other joins the one pending
//! call, which goes out at the next slot. At 100 refreshes/s a client therefore mostly waits
//! for the slot (0–1 s, by design), and one call answers about a hundred refreshes at once.
//! So two phases:
//!
//! * **solo** — one refresh at a time, each well after the previous call, so it never waits
//!   for a slot: ours = round trip − the span of the Kraken call it caused (from the proxy).
//! * **load** — the target rate, open loop: the client's round trip (every answer); the Kraken
//!   calls it cost; the refreshes answered 200 per second; and per 200 answer the time from its
//!   call's answer (at the proxy) to the refresh's answer, the part that is ours on the
//!   critical path (what comes before the call overlaps the wait). Meanwhile a direct `Ticker`
//!   probe at the same rate times the simulator on its own.
//!
//! Both processes stamp times with `CLOCK_REALTIME` in microseconds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{Conn, Target};
use crate::pace::{self, Plan, wall_us};
use crate::proxy::CALLS_PATH;
use crate::stats;

/// `refresh` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The refresh URL, e.g. `http://127.0.0.1:28080/api/v1/ltp/refresh?pairs=BTC/USD`.
    #[arg(long)]
    url: String,
    /// Base URL of the `ltp-bench proxy` the ingestor's REST calls go through.
    #[arg(long)]
    proxy: String,
    /// The simulator's base URL: the request the ingestor sent it last (as the proxy recorded
    /// it) is sent there directly at the same rate, beside the load.
    #[arg(long)]
    sim: String,
    /// Refreshes per second in the load phase.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Keep-alive connections of the load phase: enough for every refresh in flight
    /// (rate × the longest wait).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Measured seconds of the load phase.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds sent before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Refreshes of the solo phase.
    #[arg(long, default_value_t = 20)]
    solo: u32,
    /// Pause before each solo refresh, in milliseconds: longer than the ingestor's slot
    /// spacing (1 s), so the slot is always free.
    #[arg(long, default_value_t = 1_200)]
    solo_gap_ms: u64,
}

/// A Kraken call as the proxy saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Call {
    begin_us: u64,
    end_us: u64,
}

/// Runs both phases and returns the summary.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    let target = Target::parse(&args.url)?;
    let solo = solo_phase(&target, args.solo, args.solo_gap_ms).await?;
    let (_, kraken_path) = fetch_calls(&args.proxy).await?;
    let kraken_path = kraken_path.context("the ingestor made no Ticker call through the proxy")?;
    let load = Plan {
        target: target.clone(),
        method: Method::POST,
        rate: args.rate,
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration,
    };
    let probe = Plan {
        target: Target::parse(&format!("{}{kraken_path}", args.sim.trim_end_matches('/')))?,
        method: Method::GET,
        rate: args.rate,
        connections: 4,
        warmup: args.warmup,
        duration: args.duration,
    };
    let (load, probe) = tokio::join!(pace::run(&load), pace::run(&probe));
    let (load, probe) = (load?, probe?);
    let (calls, _) = fetch_calls(&args.proxy).await?;

    let Tally {
        statuses,
        mut round_trip,
        mut after,
        mut wait,
        shared_in_flight,
        answered_in_window,
        used,
    } = tally(&load, &calls);
    let mut spans: Vec<u64> = used.iter().map(|c| c.end_us - c.begin_us).collect();
    let mut direct: Vec<u64> = probe
        .samples
        .iter()
        .filter(|s| s.status == Some(200))
        .map(|s| (s.done - s.sent).as_micros() as u64)
        .collect();
    let refreshes = round_trip.len();
    Ok(json!({
        "url": args.url,
        "rate": args.rate,
        "duration_s": args.duration,
        "connections": args.connections,
        "refreshes": refreshes,
        "status": statuses,
        "drain_ms": load.drain.as_millis() as u64,
        "round_trip": stats::summary(&mut round_trip),
        "kraken_calls": used.len(),
        "refreshes_per_call": if used.is_empty() { 0.0 } else { after.len() as f64 / used.len() as f64 },
        "answered_per_s": answered_in_window as f64 / args.duration,
        "call_span": stats::summary(&mut spans),
        "after_kraken": stats::summary(&mut after),
        "budget_wait": stats::summary(&mut wait),
        "shared_in_flight": shared_in_flight,
        "sim_direct": {
            "path": kraken_path,
            "rate": args.rate,
            "ok": direct.len(),
            "failed": probe.samples.len() - direct.len(),
            "answer": stats::summary(&mut direct),
        },
        "solo": solo.summarise(&calls),
        "window_wall_us": [load.measure_from_wall_us, load.end_wall_us],
    }))
}

/// What the refreshes of the load phase measured, each attributed to the Kraken call whose
/// answer it carried.
#[derive(Default)]
struct Tally {
    /// Refreshes by HTTP status (`error` for no answer).
    statuses: BTreeMap<String, u64>,
    /// Due time to answer, µs, every answered refresh.
    round_trip: Vec<u64>,
    /// The call's end to the refresh's answer, µs: our part after Kraken answered.
    after: Vec<u64>,
    /// Due time to the call's start, µs: the REST budget's wait.
    wait: Vec<u64>,
    /// Refreshes that joined a call already in flight.
    shared_in_flight: u64,
    answered_in_window: u64,
    used: Vec<Call>,
}

fn tally(load: &pace::Run, calls: &[Call]) -> Tally {
    let mut t = Tally::default();
    for s in &load.samples {
        let key = s.status.map_or("error".to_owned(), |c| c.to_string());
        *t.statuses.entry(key).or_default() += 1;
        if s.status.is_none() {
            continue;
        }
        t.round_trip.push((s.done - s.due).as_micros() as u64);
        if s.status != Some(200) {
            // A 502 or 504 carries no call's answer.
            continue;
        }
        if (load.measure_from_wall_us..load.end_wall_us).contains(&s.done_wall_us) {
            t.answered_in_window += 1;
        }
        let Some(call) = answered_by(calls, s.done_wall_us) else {
            continue;
        };
        t.after.push(s.done_wall_us - call.end_us);
        match call.begin_us.checked_sub(s.due_wall_us) {
            Some(w) => t.wait.push(w),
            None => t.shared_in_flight += 1,
        }
        if !t.used.contains(&call) {
            t.used.push(call);
        }
    }
    t
}

/// The call whose answer a refresh answered at `done_us` carried: the last one to end before
/// it. Calls are at least a second apart, so this is unambiguous unless our part took longer
/// than that.
fn answered_by(calls: &[Call], done_us: u64) -> Option<Call> {
    let i = calls.partition_point(|c| c.end_us <= done_us);
    i.checked_sub(1).map(|i| calls[i])
}

/// Solo refreshes: (sent, answered) on the wall clock, status, round trip.
struct Solo {
    runs: Vec<(u64, u64, Option<u16>, u64)>,
}

async fn solo_phase(target: &Target, n: u32, gap_ms: u64) -> anyhow::Result<Solo> {
    let mut conn = Conn::connect(&target.authority).await?;
    let mut runs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        let (sent_us, started) = (wall_us(), Instant::now());
        let result = conn.send(Method::POST, &target.path).await;
        let rtt = started.elapsed().as_micros() as u64;
        runs.push((sent_us, wall_us(), result.as_ref().ok().map(|r| r.0), rtt));
        if result.is_err() {
            conn = Conn::connect(&target.authority).await?;
        }
    }
    Ok(Solo { runs })
}

impl Solo {
    /// Ours = round trip − the span of the one call made between sending and the answer.
    fn summarise(&self, calls: &[Call]) -> Value {
        let (mut rtt, mut spans, mut ours) = (Vec::new(), Vec::new(), Vec::new());
        let mut unmatched = 0;
        for &(sent, answered, status, round_trip) in &self.runs {
            if status != Some(200) {
                unmatched += 1;
                continue;
            }
            let call = calls
                .iter()
                .find(|c| c.begin_us >= sent && c.end_us <= answered);
            let Some(call) = call else {
                unmatched += 1;
                continue;
            };
            let span = call.end_us - call.begin_us;
            rtt.push(round_trip);
            spans.push(span);
            ours.push(round_trip.saturating_sub(span));
        }
        json!({
            "n": self.runs.len(),
            "unmatched": unmatched,
            "round_trip": stats::summary(&mut rtt),
            "call_span": stats::summary(&mut spans),
            "ours": stats::summary(&mut ours),
        })
    }
}

/// Every successful call the proxy forwarded, by end time, and the path of the last `Ticker`
/// call.
async fn fetch_calls(proxy: &str) -> anyhow::Result<(Vec<Call>, Option<String>)> {
    let target = Target::parse(proxy)?;
    let mut conn = Conn::connect(&target.authority).await?;
    let (status, body) = conn.get(CALLS_PATH).await?;
    anyhow::ensure!(status == 200, "proxy answered {status} for {CALLS_PATH}");
    let doc: Value = serde_json::from_slice(&body).context("proxy's call list")?;
    let list = doc["calls"].as_array().context("no calls array")?;
    let last_ticker = list
        .iter()
        .filter_map(|c| c["path"].as_str())
        .rfind(|p| p.starts_with("/0/public/Ticker"))
        .map(str::to_owned);
    let mut calls: Vec<Call> = list
        .iter()
        .filter(|c| c["status"] == 200)
        .filter_map(|c| {
            Some(Call {
                begin_us: c["begin_us"].as_u64()?,
                end_us: c["end_us"].as_u64()?,
            })
        })
        .collect();
    calls.sort_by_key(|c| c.end_us);
    Ok((calls, last_ticker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_is_charged_to_the_last_call_that_ended_before_its_answer() {
        let calls = [
            Call {
                begin_us: 1_000,
                end_us: 1_400,
            },
            Call {
                begin_us: 1_001_000,
                end_us: 1_001_500,
            },
        ];
        assert_eq!(answered_by(&calls, 900), None);
        assert_eq!(answered_by(&calls, 1_400), Some(calls[0]));
        assert_eq!(answered_by(&calls, 1_000_999), Some(calls[0]));
        assert_eq!(answered_by(&calls, 1_002_000), Some(calls[1]));
    }

    #[test]
    fn solo_ours_is_the_round_trip_minus_its_own_call() {
        let calls = [
            Call {
                begin_us: 10_200,
                end_us: 10_700,
            },
            Call {
                begin_us: 2_000_200,
                end_us: 2_000_900,
            },
        ];
        let solo = Solo {
            runs: vec![
                (10_000, 11_000, Some(200), 1_000),
                (2_000_000, 2_001_200, Some(200), 1_200),
                (3_000_000, 3_000_100, Some(504), 100),
            ],
        };
        let s = solo.summarise(&calls);
        assert_eq!(s["unmatched"], 1);
        assert_eq!(s["ours"]["n"], 2);
        assert_eq!(s["ours"]["p50_us"], 500);
        assert_eq!(s["ours"]["max_us"], 500);
        assert_eq!(s["call_span"]["max_us"], 700);
    }
}
