//! A rough throughput measurement, printed rather than asserted (run with
//! `cargo test --release -p kraken-sim --test it throughput -- --nocapture`; set
//! `SIM_BENCH_RATE` to try another target than 100 000 updates per second).

use std::time::{Duration, Instant};

use futures::StreamExt;
use kraken_sim::{Rate, SimConfig};

use crate::client::{Client, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_is_measured_and_printed() {
    let target = std::env::var("SIM_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sim = start(SimConfig {
        rate: Rate::Total(target),
        ..SimConfig::default()
    })
    .await;
    let symbols: Vec<&str> = common::Pair::all().map(|p| p.as_str()).collect();
    let mut client = Client::subscribed(&sim, &symbols).await;
    let window = Duration::from_secs(2);
    let started = Instant::now();
    let mut frames = 0u64;
    let mut bytes = 0u64;
    while started.elapsed() < window {
        match tokio::time::timeout(Duration::from_millis(500), client.ws.next()).await {
            Ok(Some(Ok(message))) => {
                frames += 1;
                bytes += message.len() as u64;
            }
            _ => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = sim.control().stats();
    println!(
        "kraken-sim throughput: target {target}/s, received {:.0} msg/s ({:.1} MB/s) over {secs:.2}s; trades simulated {}, missed by the slow reader {}",
        frames as f64 / secs,
        bytes as f64 / secs / 1e6,
        stats.trades_simulated,
        stats.ticker_messages_missed,
    );
    assert!(frames > 0, "some updates arrived");
}
