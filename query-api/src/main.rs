//! The query-api binary: [`common::cli::main`] around [`query_api::run`].

/// `--help`'s description (`-h` shows the package's).
const LONG_ABOUT: &str = "Serves the last traded prices of Kraken pairs over REST (GET \
/api/v1/ltp?pair=BTC/USD), from prices the ingestor publishes on NATS, cached in memory or \
Redis. Also /health, /ready, /metrics and the OpenAPI UI at /docs. Every setting is also an \
environment variable; see README.md.";

fn main() -> std::process::ExitCode {
    common::cli::main(clap::command!().long_about(LONG_ABOUT), query_api::run)
}
