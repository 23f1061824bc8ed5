//! The ingestor binary: configuration, logging and signals, then [`ingestor::run`].

use std::process::ExitCode;

use clap::Parser;
use common::cli::{ConfigArgs, load_or_exit};
use common::config::normalize_args;

/// Streams Kraken's WebSocket v2 ticker (REST fallback per pair) and publishes every price to
/// NATS on <prefix>.prices.kraken.<BASE-QUOTE>. Admin endpoints: /health, /ready, /metrics.
/// Every setting is also an environment variable; see README.md.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    let config: ingestor::Config = load_or_exit(&cli.config);
    let code = match ingestor::run(config, common::shutdown::token()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "ingestor failed");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    };
    // The log writer thread holds the last lines (see common::telemetry).
    common::telemetry::flush();
    code
}
