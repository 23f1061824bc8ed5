//! The query-api binary: configuration, logging and signals, then [`query_api::run`].

use std::process::ExitCode;

use clap::Parser;
use common::cli::{ConfigArgs, load_or_exit};
use common::config::normalize_args;

/// Serves the last traded prices of Kraken pairs over REST (GET /api/v1/ltp?pair=BTC/USD),
/// from prices the ingestor publishes on NATS, cached in memory or Redis. Also /health,
/// /ready, /metrics and the OpenAPI UI at /docs. Every setting is also an environment
/// variable; see README.md.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    let config: query_api::Config = load_or_exit(&cli.config);
    let code = match query_api::run(config, common::shutdown::token()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "query-api failed");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    };
    // The log writer thread holds the last lines (see common::telemetry).
    common::telemetry::flush();
    code
}
