//! The query-api binary: [`common::cli::main`] around [`query_api::run`].

/// jemalloc rather than the system allocator: measured with 7,500 SSE streams opened and closed
/// three times (debug build), 11.7 KiB per stream instead of 23 KiB, and resident memory back
/// to 12 MiB above its level after the streams close instead of 110–140 MiB kept
/// (docs/hardening.md, "Hostile HTTP").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `--help`'s description (`-h` shows the package's).
const LONG_ABOUT: &str = "Serves the last traded prices of Kraken pairs over REST (GET \
/api/v1/ltp?pair=BTC/USD), from prices the ingestor publishes on NATS, cached in memory or \
Redis. Also /health, /ready, /metrics and the OpenAPI UI at /docs. Every setting is also an \
environment variable; see README.md.";

fn main() -> std::process::ExitCode {
    // jemalloc's background thread returns freed pages to the system after its decay time
    // (10 s) even when nothing else allocates, e.g. once a burst of streams has closed.
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!(
            "query-api: jemalloc background thread not started ({error}): freed memory is returned only as the allocator is used"
        );
    }
    common::cli::main(clap::command!().long_about(LONG_ABOUT), query_api::run)
}
