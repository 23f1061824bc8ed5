//! `kraken-sim`: the simulator as a process, for demos, compose and benchmarks.
//!
//! ```text
//! kraken-sim --port 8090 --seed 1 --interval 2s --pairs BTC/USD,ETH/USD
//! kraken-sim --host 0.0.0.0 --rate 100000
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use common::Pair;
use common::config::{LogFormat, LoggingConfig};
use kraken_sim::{Rate, SimConfig, Simulator};

/// A local Kraken (public WS v2 + REST) with fault injection under /control/.
#[derive(Debug, Parser)]
#[command(name = "kraken-sim", version, about)]
struct Args {
    /// Address to listen on (use 0.0.0.0 in a container).
    #[arg(long, env = "KRAKEN_SIM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port for REST (/0/public/*), WebSocket (/v2) and control (/control/*); 0 picks one.
    #[arg(long, env = "KRAKEN_SIM_PORT", default_value_t = 8090)]
    port: u16,
    /// Seed of the price scripts: the same seed replays the same prices per pair.
    #[arg(long, env = "KRAKEN_SIM_SEED", default_value_t = 1)]
    seed: u64,
    /// Total ticker updates per second over all pairs (benchmarks: up to 100000). Overrides
    /// --interval.
    #[arg(long, env = "KRAKEN_SIM_RATE", conflicts_with = "manual")]
    rate: Option<u32>,
    /// Each pair trades once per this interval (e.g. 500ms, 2s).
    #[arg(long, env = "KRAKEN_SIM_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// No automatic trades (use POST /control/trade).
    #[arg(long)]
    manual: bool,
    /// Pairs offered, comma-separated BASE/QUOTE (default: all 64 of the built-in table).
    #[arg(long, env = "KRAKEN_SIM_PAIRS", value_delimiter = ',')]
    pairs: Vec<String>,
    /// Heartbeat period on subscribed, otherwise silent sockets.
    #[arg(long, env = "KRAKEN_SIM_HEARTBEAT", default_value = "1s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// Close sockets without subscriptions after this long without a request.
    #[arg(long, env = "KRAKEN_SIM_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Omit the undocumented `trades` field from ticker messages.
    #[arg(long)]
    no_trades_field: bool,
    /// How far the simulated Kraken's clock runs ahead of this host's, in milliseconds
    /// (negative: behind); every stamp it writes is shifted. Also POST /control/clock.
    #[arg(
        long,
        env = "KRAKEN_SIM_CLOCK_OFFSET_MS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    clock_offset_ms: i64,
    /// Log level (RUST_LOG overrides).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    common::telemetry::init(&LoggingConfig {
        level: args.log_level.clone(),
        format: if args.log_json {
            LogFormat::Json
        } else {
            LogFormat::Text
        },
    });
    let pairs = if args.pairs.is_empty() {
        Pair::all().collect()
    } else {
        args.pairs
            .iter()
            .map(|p| Pair::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--pairs (supported: {})", common::pair::supported_list()))?
    };
    let rate = match (args.manual, args.rate) {
        (true, _) => Rate::Manual,
        (false, Some(per_second)) => Rate::Total(per_second),
        (false, None) if args.interval.is_zero() => anyhow::bail!("--interval must be above zero"),
        (false, None) => Rate::PerPair(args.interval),
    };
    let config = SimConfig {
        pairs,
        seed: args.seed,
        rate,
        heartbeat_interval: args.heartbeat,
        idle_timeout: args.idle_timeout,
        bind: SocketAddr::new(args.host, args.port),
        trades_field: !args.no_trades_field,
        clock_offset: jiff::SignedDuration::from_millis(args.clock_offset_ms),
        ..SimConfig::default()
    };
    let token = common::shutdown::token();
    let sim = Simulator::start(config).await?;
    tracing::info!(ws = %sim.ws_url(), rest = %sim.rest_url(), "ready");
    token.cancelled().await;
    sim.shutdown().await;
    // The log writer thread holds the last lines (see common::telemetry).
    common::telemetry::flush();
    Ok(())
}
