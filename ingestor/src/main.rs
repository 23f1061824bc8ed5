//! The ingestor binary: [`common::cli::main`] around [`ingestor::run`].

/// `--help`'s description (`-h` shows the package's).
const LONG_ABOUT: &str = "Streams Kraken's WebSocket v2 ticker (REST fallback per pair) and \
publishes every price to NATS on <prefix>.prices.kraken.<BASE-QUOTE>. Admin endpoints: /health, \
/ready, /metrics. Every setting is also an environment variable; see README.md.";

fn main() -> std::process::ExitCode {
    common::cli::main(clap::command!().long_about(LONG_ABOUT), ingestor::run)
}
