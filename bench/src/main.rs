//! `ltp-bench`: the small tools `bench/run.sh` needs beside wrk.
//!
//! * `serve` — the baseline: a minimal hyper server answering every request with one captured
//!   response (status, headers and body of a real `GET /api/v1/ltp?pair=BTC/USD`).
//! * `load` — an open-loop, fixed-rate load generator whose latencies are measured from each
//!   request's *intended* send time, so a stall is charged to every request it delayed
//!   (no coordinated omission).
//! * `tick` — tick-to-API latency: the simulator trades a unique price, a poller hammers the API
//!   until the price is visible, and the delay is measured against the update's own timestamp.
//! * `coldstart` — time from spawning a query-api process to its first answer with every
//!   configured pair.
//! * `proxy` — forwards the ingestor's Kraken REST calls to the simulator and records when
//!   each began and ended.
//! * `refresh` — refresh round trips at a fixed rate and one at a time, split by the proxy's
//!   records into Kraken's time and ours.
//! * `hold` — opens many SSE streams and holds them until SIGTERM (idle streams, issue 12).
//! * `fanout` — SSE streams on every pair: updates delivered per client and the delay from a
//!   price's arrival on NATS to each client (issue 12).
//! * `saturate` — the same messages delivered to N SSE clients through query-api and to N
//!   plain NATS subscribers, events per second and CPU per event (issue 12).
//!
//! Every tool prints one JSON object on stdout, for the script to tabulate.

mod client;
mod coldstart;
mod fanout;
mod idle;
mod load;
mod pace;
mod procfs;
mod proxy;
mod refresh;
mod saturate;
mod serve;
mod sse;
mod stats;
mod tick;

use clap::{Parser, Subcommand};

/// Benchmark helpers for ltp (see bench/run.sh and docs/benchmarks.md).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve one captured HTTP response to every request (the baseline server).
    Serve(serve::Args),
    /// Fixed-rate load with latency from the intended send time.
    Load(load::Args),
    /// Tick-to-API latency through simulator, ingestor, NATS and query-api.
    Tick(tick::Args),
    /// Time from process start until a new query-api serves every pair.
    Coldstart(coldstart::Args),
    /// Forward REST requests to the simulator, recording when each began and ended.
    Proxy(proxy::Args),
    /// Refresh round trip through NATS, Kraken's time and ours apart.
    Refresh(refresh::Args),
    /// Open many SSE streams and hold them until SIGTERM.
    Hold(idle::Args),
    /// SSE fan-out: updates delivered per client, arrival-to-client latency.
    Fanout(fanout::Args),
    /// Delivered events per second and CPU per event: query-api's SSE against nats-server.
    Saturate(saturate::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One worker per CPU this process may run on (tokio's default, which follows `taskset`),
    // the rule the services under test follow too: pinned to one core, one worker.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await.map(|()| serde_json::Value::Null),
            Command::Load(args) => load::run(args).await,
            Command::Tick(args) => tick::run(args).await,
            Command::Coldstart(args) => coldstart::run(args).await,
            Command::Proxy(args) => proxy::run(args).await.map(|()| serde_json::Value::Null),
            Command::Refresh(args) => refresh::run(args).await,
            Command::Hold(args) => idle::run(args).await,
            Command::Fanout(args) => fanout::run(args).await,
            Command::Saturate(args) => saturate::run(args).await,
        }
    })?;
    if !result.is_null() {
        println!("{result}");
    }
    Ok(())
}
