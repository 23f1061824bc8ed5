//! Tick to API: how long from the simulator emitting a ticker update until query-api serves
//! the new price.
//!
//! The simulator runs with `--manual`, so only our trades happen. For each update a unique
//! price is injected with `POST /control/trade?pair=…&price=…` while a poller hammers
//! `GET /api/v1/ltp?pair=…` on one keep-alive connection until the body carries that price.
//! The delay is the poller's wall clock when that response arrived minus the update's own
//! `exchange_time` (the ticker `timestamp` the simulator stamped when it made the trade, before
//! serialising and writing it), so it covers simulator write, ingestor parse and publish, NATS,
//! query-api consume and cache, and one API round trip. Both clocks are this machine's
//! `CLOCK_REALTIME`. The resolution is one poll round trip (reported).

use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::Method;
use jiff::Timestamp;
use serde_json::json;

use crate::client::{Conn, Target};
use crate::stats;

/// `tick` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// query-api base URL.
    #[arg(long)]
    api: String,
    /// Simulator base URL.
    #[arg(long)]
    sim: String,
    /// Pair traded.
    #[arg(long, default_value = "BTC/USD")]
    pair: String,
    /// Updates to measure.
    #[arg(long, default_value_t = 10_000)]
    updates: u32,
    /// An update not visible after this many milliseconds counts as lost.
    #[arg(long, default_value_t = 2_000)]
    timeout_ms: u64,
}

/// The `price` and `exchange_time` of the body's first item.
fn fields(body: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(body).ok()?;
    let field = |name: &str| {
        let key = format!("\"{name}\":\"");
        let start = text.find(&key)? + key.len();
        let len = text[start..].find('"')?;
        Some(&text[start..start + len])
    };
    Some((field("price")?, field("exchange_time")?))
}

/// The i-th price: one decimal (BTC/USD's precision), cycling through 100 000 values far from
/// the simulator's own walk, never equal to the one before.
fn price(i: u32) -> String {
    let k = i % 100_000;
    format!("{}.{}", 20_000 + k / 10, k % 10)
}

/// Runs the probe.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let api = Target::parse(&args.api)?;
    let sim = Target::parse(&args.sim)?;
    let pair_q = args.pair.replace('/', "%2F");
    let ltp_path = format!("/api/v1/ltp?pair={pair_q}");
    let mut poller = Conn::connect(&api.authority).await?;
    let mut trader = Some(Conn::connect(&sim.authority).await?);
    let (_, body) = poller.get(&ltp_path).await?;
    let mut current = fields(&body).map(|(p, _)| p.to_owned()).unwrap_or_default();
    let mut delays = Vec::with_capacity(args.updates as usize);
    let mut polls: u64 = 0;
    let mut poll_time = Duration::ZERO;
    let mut lost = 0u32;
    let mut i = 0u32;
    let began = Instant::now();
    while delays.len() + (lost as usize) < args.updates as usize {
        let mut wanted = price(i);
        i += 1;
        if wanted == current {
            wanted = price(i);
            i += 1;
        }
        let mut conn = trader.take().context("trader connection")?;
        let path = format!("/control/trade?pair={pair_q}&price={wanted}");
        let trade = tokio::spawn(async move {
            let result = conn.send(Method::POST, &path).await;
            (conn, result)
        });
        let deadline = Instant::now() + Duration::from_millis(args.timeout_ms);
        let mut seen = None;
        while Instant::now() < deadline {
            let sent = Instant::now();
            let (status, body) = poller.get(&ltp_path).await?;
            let arrived = Timestamp::now();
            polls += 1;
            poll_time += sent.elapsed();
            if status == 200
                && let Some((p, exchange_time)) = fields(&body)
                && p == wanted
            {
                let stamped: Timestamp = exchange_time.parse()?;
                let delay = arrived.as_microsecond() - stamped.as_microsecond();
                seen = Some(u64::try_from(delay).unwrap_or(0));
                break;
            }
        }
        let (conn, result) = trade.await?;
        let (status, _) = result.context("trade request")?;
        anyhow::ensure!(status == 200, "simulator refused the trade: HTTP {status}");
        trader = Some(conn);
        match seen {
            Some(delay) => delays.push(delay),
            None => lost += 1,
        }
        current = wanted;
    }
    let elapsed = began.elapsed().as_secs_f64();
    Ok(json!({
        "api": args.api,
        "updates": args.updates,
        "lost": lost,
        "seconds": elapsed,
        "poll_rtt_us": (poll_time.as_micros() as u64).checked_div(polls).unwrap_or(0),
        "polls": polls,
        "delay": stats::summary(&mut delays),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_price_and_exchange_time() {
        let body = br#"{"ltp":[{"pair":"BTC/USD","amount":20000.1,"price":"20000.1","timestamp":"2026-07-08T05:24:41.2101Z","age_ms":3,"exchange_time":"2026-07-08T05:24:41.204829Z","source":"ws"}]}"#;
        assert_eq!(
            fields(body),
            Some(("20000.1", "2026-07-08T05:24:41.204829Z"))
        );
        assert_eq!(price(0), "20000.0");
        assert_eq!(price(123), "20012.3");
        assert_ne!(price(99_999), price(100_000 - 1 + 1));
    }
}
