//! Logging set-up: JSON or text lines on stdout, level from configuration (`RUST_LOG` wins).
//!
//! Lines are formatted on the thread that logs, then handed to a dedicated writer thread
//! (`tracing-appender`'s non-blocking writer) that owns stdout. A request therefore never waits
//! for a `write(2)` or for the stdout lock another worker holds, and the writer batches: it
//! buffers what is queued and flushes whenever the queue runs empty, so a burst of access-log
//! lines costs a few system calls instead of one each (docs/benchmarks.md has the figures).
//!
//! Nothing is dropped: when the queue (128 000 lines) is full, the logging thread waits, as it
//! did when it wrote itself. Binaries call [`flush`] before exiting so the last lines are out.

use std::io::{BufWriter, IsTerminal};
use std::sync::Mutex;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingConfig};

/// The writer thread's guard: dropping it writes what is queued and ends the thread.
static WRITER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Bytes the writer thread gathers before writing, when lines arrive faster than it writes.
const WRITE_BUFFER: usize = 64 * 1024;

/// Dependencies whose debug and trace events print credentials (async-nats shows the server URL
/// with its password and the CONNECT fields), held at `info` whatever `LOG_LEVEL` says. Only an
/// explicit `RUST_LOG` lifts this, for debugging by someone who may see the secrets anyway.
const CREDENTIAL_LEAKING_TARGETS: &[&str] = &["async_nats=info"];

/// The filter for a configured level: that level for everything, except the targets above.
fn level_filter(level: &str) -> EnvFilter {
    let level = level.trim().to_ascii_lowercase();
    let mut directives = vec![level.clone()];
    // Only ever lowers them: at `warn` they stay at `warn`.
    if matches!(level.as_str(), "debug" | "trace") {
        directives.extend(CREDENTIAL_LEAKING_TARGETS.iter().map(|d| (*d).to_owned()));
    }
    EnvFilter::new(directives.join(","))
}

/// Installs the global subscriber. Calling it again (tests) is harmless: the first one stays.
pub fn init(logging: &LoggingConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| level_filter(&logging.level));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(WRITE_BUFFER, std::io::stdout()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        // Colour codes only for a terminal: in files and log collectors they are noise.
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    let installed = match logging.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // When a subscriber was already installed, this writer is unused: let its thread end.
    if installed.is_ok()
        && let Ok(mut slot) = WRITER.lock()
    {
        *slot = Some(guard);
    }
}

/// Writes every queued line and stops the writer thread. Call once, at the end of `main`;
/// anything logged afterwards is discarded.
pub fn flush() {
    let guard = WRITER.lock().ok().and_then(|mut slot| slot.take());
    drop(guard);
}

#[cfg(test)]
mod tests {
    use super::level_filter;

    #[test]
    fn credential_leaking_targets_stay_at_info() {
        let shown = level_filter(" TRACE ").to_string();
        assert!(shown.contains("trace"), "{shown}");
        assert!(shown.contains("async_nats=info"), "{shown}");
        let quiet = level_filter("warn").to_string();
        assert!(!quiet.contains("async_nats"), "{quiet}");
    }
}
