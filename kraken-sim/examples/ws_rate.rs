//! A minimal WS v2 client that measures how many ticker messages per second a running
//! simulator (or Kraken) delivers to one socket.
//!
//! ```text
//! kraken-sim --rate 100000 &
//! cargo run --release -p kraken-sim --example ws_rate -- ws://127.0.0.1:8090/v2 10
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8090/v2".into());
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .with_context(|| format!("connect {url}"))?;
    let symbols: Vec<&str> = common::Pair::all().map(|p| p.as_str()).collect();
    let request = serde_json::json!({
        "method": "subscribe",
        "params": { "channel": "ticker", "symbol": symbols },
    });
    ws.send(Message::Text(request.to_string().into())).await?;
    let started = Instant::now();
    let mut last_report = started;
    let (mut tickers, mut other, mut bytes, mut window) = (0u64, 0u64, 0u64, 0u64);
    while started.elapsed() < Duration::from_secs(seconds) {
        let Some(message) = ws.next().await else {
            break;
        };
        if let Message::Text(text) = message? {
            bytes += text.len() as u64;
            if text.starts_with(r#"{"channel":"ticker""#) {
                tickers += 1;
                window += 1;
            } else {
                other += 1;
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            println!(
                "{:>8.0} ticker msg/s",
                window as f64 / last_report.elapsed().as_secs_f64()
            );
            (window, last_report) = (0, Instant::now());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "total: {tickers} ticker messages ({:.0}/s, {:.1} MB/s), {other} other frames, {secs:.1} s",
        tickers as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
