//! Logging set-up: JSON or text lines on stdout, level from configuration (`RUST_LOG` wins).
//!
//! Lines are formatted on the thread that logs and appended to a shared buffer; a dedicated
//! writer thread owns stdout and writes the buffer in batches. A request therefore never waits
//! for a `write(2)` or for the stdout lock, and a busy service pays neither a channel hand-off
//! nor a thread wake-up per line: the first line into an empty buffer wakes the writer, which
//! lets lines gather for `GATHER` and then writes them all at once (docs/benchmarks.md has
//! what this bought over a per-line channel).
//!
//! Nothing is dropped: when `MAX_PENDING` bytes are waiting, the logging thread waits, as it
//! did when it wrote itself. Binaries call [`flush`] before exiting so the last lines are out.
//!
//! Lines written on every request skip tracing's formatter: [`json_line`] writes them in the
//! same shape as the JSON formatter does.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LoggingConfig, TelemetryConfig};
use crate::rfc3339::MicrosWriter;

/// How long the writer lets lines gather after the first one arrives.
const GATHER: Duration = Duration::from_millis(5);

/// Bytes waiting to be written beyond which a logging thread waits for the writer.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// The writer thread, for [`flush`].
static WRITER: Mutex<Option<(Arc<Shared>, JoinHandle<()>)>> = Mutex::new(None);

/// The installed subscriber's buffer, when it writes JSON lines: [`json_line`] appends there.
static JSON_LINES: OnceLock<Arc<Shared>> = OnceLock::new();

/// State shared by the logging threads and the writer thread.
#[derive(Default)]
struct Shared {
    state: Mutex<Pending>,
    /// The writer waits here for a first line (or for the end).
    wake: Condvar,
    /// Logging threads wait here while the buffer is full.
    room: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one formatted line (or any bytes), waiting while the buffer is full.
    fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        while pending.bytes.len() >= MAX_PENDING && !pending.closed {
            pending = self
                .room
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if pending.closed {
            return;
        }
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        drop(pending);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// The writer thread: waits for a first line, lets more gather, writes them all.
    fn run(&self, out: &mut impl Write) {
        let mut spare = Vec::new();
        loop {
            let mut pending = self.lock();
            while pending.bytes.is_empty() && !pending.closed {
                pending = self
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if !pending.closed {
                drop(pending);
                std::thread::sleep(GATHER);
                pending = self.lock();
            }
            std::mem::swap(&mut pending.bytes, &mut spare);
            let closed = pending.closed;
            drop(pending);
            self.room.notify_all();
            if !spare.is_empty() {
                // stdout gone (closed pipe): nothing better to do than go on without it.
                let _ = out.write_all(&spare).and_then(|()| out.flush());
                spare.clear();
                if spare.capacity() > MAX_PENDING {
                    spare = Vec::new();
                }
            }
            if closed {
                return;
            }
        }
    }
}

/// What the formatting layer writes each event through.
#[derive(Clone)]
struct Lines(Arc<Shared>);

impl Write for &Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = &'a Lines;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

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
    install(logging, None);
}

/// [`init`], and spans exported over OTLP as `service` when `telemetry.otlp_endpoint` is set
/// (crate::otel). An exporter that cannot be set up is reported on stderr; the service runs
/// without traces.
pub fn init_traced(logging: &LoggingConfig, telemetry: &TelemetryConfig, service: &str) {
    install(logging, telemetry.traces_url().map(|url| (url, service)));
}

fn install(logging: &LoggingConfig, traces: Option<(String, &str)>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| level_filter(&logging.level));
    let shared = Arc::new(Shared::default());
    let writer = Lines(shared.clone());
    let lines = tracing_subscriber::fmt::layer()
        .with_target(true)
        // Colour codes only for a terminal: in files and log collectors they are noise.
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    // Each layer has its own filter: the log level never hides spans from the trace layer.
    let lines = match logging.format {
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => lines.with_filter(filter).boxed(),
    };
    let spans = traces.and_then(|(url, service)| {
        crate::otel::layer(&url, service)
            .inspect_err(|err| eprintln!("warning: {err}; running without traces"))
            .ok()
    });
    let traced = spans.is_some();
    let installed = tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .try_init();
    if traced {
        crate::otel::activate(installed.is_ok());
    }
    // When a subscriber was already installed, this writer is unused: no thread for it.
    if installed.is_err() {
        return;
    }
    if logging.format == LogFormat::Json {
        let _ = JSON_LINES.set(shared.clone());
    }
    let worker = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || worker.run(&mut std::io::stdout().lock()));
    match spawned {
        Ok(handle) => {
            if let Ok(mut slot) = WRITER.lock() {
                *slot = Some((shared, handle));
            }
        }
        // No thread: lines would pile up, so close the buffer and write nothing rather than
        // block every logging thread once it is full.
        Err(_) => shared.lock().closed = true,
    }
}

/// Writes one JSON line in the shape of the installed JSON formatter —
/// `{"timestamp":…,"level":…,"message":…,<fields>,"target":…}` — straight to the log writer.
///
/// For lines written on every request (the access log): tracing's formatter records each field
/// through `dyn Visit` and serde, which cost as much as serving the request did
/// (docs/benchmarks.md). `fields` appends `,"name":value` pairs, each already valid JSON;
/// `target` and `message` are literals that need no escaping. The caller checks the level
/// filter first (`tracing::enabled!`). Returns `false`, writing nothing, when logs are not JSON
/// lines of this module (text format, or another subscriber in tests): log through tracing then.
pub fn json_line(
    level: tracing::Level,
    target: &'static str,
    message: &'static str,
    fields: impl FnOnce(&mut Vec<u8>),
) -> bool {
    let Some(shared) = JSON_LINES.get() else {
        return false;
    };
    let now = Timestamp::now();
    // `try_with`: a thread being torn down has no buffer left; its caller logs through tracing.
    LINE.try_with(|line| {
        let mut line = line.borrow_mut();
        line.format(now, level, target, message, fields);
        shared.append(&line.bytes);
    })
    .is_ok()
}

thread_local! {
    /// Each thread formats its [`json_line`]s in its own buffer, then appends them whole.
    static LINE: RefCell<LineBuffer> = RefCell::new(LineBuffer::default());
}

#[derive(Default)]
struct LineBuffer {
    bytes: Vec<u8>,
    clock: MicrosWriter,
}

impl LineBuffer {
    /// Formats one line (see [`json_line`]) into `bytes`.
    fn format(
        &mut self,
        at: Timestamp,
        level: tracing::Level,
        target: &str,
        message: &str,
        fields: impl FnOnce(&mut Vec<u8>),
    ) {
        let bytes = &mut self.bytes;
        bytes.clear();
        bytes.extend_from_slice(b"{\"timestamp\":\"");
        self.clock.write(bytes, at);
        bytes.extend_from_slice(b"\",\"level\":\"");
        bytes.extend_from_slice(level.as_str().as_bytes());
        bytes.extend_from_slice(b"\",\"message\":\"");
        bytes.extend_from_slice(message.as_bytes());
        bytes.push(b'"');
        fields(bytes);
        bytes.extend_from_slice(b",\"target\":\"");
        bytes.extend_from_slice(target.as_bytes());
        bytes.extend_from_slice(b"\"}\n");
    }
}

/// Exports the last spans (when tracing), writes every pending line and stops the writer
/// thread. Call once, at the end of `main`; anything logged afterwards is discarded.
pub fn flush() {
    crate::otel::shutdown();
    let writer = WRITER.lock().ok().and_then(|mut slot| slot.take());
    if let Some((shared, handle)) = writer {
        shared.lock().closed = true;
        shared.wake.notify_one();
        shared.room.notify_all();
        let _ = handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of [`json_line`] is the line tracing's JSON formatter writes for the same event,
    /// byte for byte but the timestamp.
    #[test]
    fn json_lines_have_the_formatter_shape() {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lock").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_target(true)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "ltp::probe", method = "GET", status = 200u16, "request");
        });
        let theirs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
        let mut line = LineBuffer::default();
        line.format(
            Timestamp::from_second(1).expect("in range"),
            tracing::Level::WARN,
            "ltp::probe",
            "request",
            |out| out.extend_from_slice(br#","method":"GET","status":200"#),
        );
        let ours = String::from_utf8(line.bytes).expect("utf8");
        let without_time = |s: &str| {
            let value: serde_json::Value = serde_json::from_str(s).expect("json");
            assert!(
                value["timestamp"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z')),
                "{s}"
            );
            s.split_once("\",\"level\"")
                .map(|(_, rest)| rest.to_owned())
        };
        assert_eq!(
            without_time(&ours),
            without_time(&theirs),
            "{ours} vs {theirs}"
        );
        assert!(ours.ends_with('\n'));
    }

    #[test]
    fn credential_leaking_targets_stay_at_info() {
        let shown = super::level_filter(" TRACE ").to_string();
        assert!(shown.contains("trace"), "{shown}");
        assert!(shown.contains("async_nats=info"), "{shown}");
        let quiet = super::level_filter("warn").to_string();
        assert!(!quiet.contains("async_nats"), "{quiet}");
    }

    #[test]
    fn every_line_arrives_in_order_and_nothing_after_close() {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let writer = std::thread::spawn(move || {
            let mut out = Vec::new();
            worker.run(&mut out);
            out
        });
        let producers: Vec<_> = (0..4)
            .map(|t| {
                let lines = Lines(shared.clone());
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        (&lines)
                            .write_all(format!("{t} {i}\n").as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().expect("producer");
        }
        shared.lock().closed = true;
        shared.wake.notify_one();
        let out = String::from_utf8(writer.join().expect("writer")).expect("utf8");
        shared.append(b"late\n");
        assert!(
            shared.lock().bytes.is_empty(),
            "lines after close are dropped"
        );
        let mut next = [0u32; 4];
        for line in out.lines() {
            let (t, i) = line.split_once(' ').expect("line");
            let t: usize = t.parse().expect("thread");
            assert_eq!(
                i.parse::<u32>().expect("index"),
                next[t],
                "thread {t} in order"
            );
            next[t] += 1;
        }
        assert_eq!(next, [5_000; 4]);
    }
}
