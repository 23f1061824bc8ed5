//! The access log: one line per request, at the configured level, under the target
//! `query_api::access` (so `RUST_LOG=info,query_api::access=off` also silences it).
//!
//! With JSON logs (the default) the line is written by hand through
//! [`common::telemetry::json_line`], in the formatter's shape: through tracing it cost about
//! 1.2 µs per request, a tenth of all the CPU a request costs (docs/benchmarks.md).

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::AccessLogLevel;
use crate::json;
use crate::route::Route;

/// One request's line.
pub struct Line<'a> {
    /// As received (not reduced to the metrics' known methods).
    pub method: &'a str,
    /// Route template (never the raw path: it can be long and hostile).
    pub route: Route,
    /// The status sent (200 when the handler set none).
    pub status: u16,
    /// From receiving the request to the end of the handler.
    pub duration: Duration,
    /// The request's `X-Request-ID`, as kept or generated.
    pub request_id: &'a str,
    /// Client address (see `client_ip`).
    pub client_ip: IpAddr,
}

/// Whether a line would be written at all (so callers skip preparing one).
pub fn enabled(level: AccessLogLevel) -> bool {
    match level {
        AccessLogLevel::Info => {
            tracing::enabled!(target: "query_api::access", tracing::Level::INFO)
        }
        AccessLogLevel::Debug => {
            tracing::enabled!(target: "query_api::access", tracing::Level::DEBUG)
        }
        AccessLogLevel::Off => false,
    }
}

/// The lines' tracing target (what `RUST_LOG` filters on).
const TARGET: &str = "query_api::access";

/// Writes the line at `level`: by hand into the JSON log stream when it is the active format,
/// else through tracing.
pub fn write(level: AccessLogLevel, line: &Line<'_>) {
    let request_id = line.request_id;
    let tracing_level = match level {
        AccessLogLevel::Info => tracing::Level::INFO,
        AccessLogLevel::Debug => tracing::Level::DEBUG,
        AccessLogLevel::Off => return,
    };
    let written = common::telemetry::json_line(tracing_level, TARGET, "request", |out| {
        out.extend_from_slice(b",\"method\":");
        json::push_str(out, line.method);
        out.extend_from_slice(b",\"route\":");
        json::push_str(out, line.route.label());
        out.extend_from_slice(b",\"status\":");
        json::push_u64(out, u64::from(line.status));
        out.extend_from_slice(b",\"duration_ms\":");
        push_millis(out, line.duration);
        out.extend_from_slice(b",\"request_id\":");
        json::push_str(out, request_id);
        out.extend_from_slice(b",\"client_ip\":\"");
        // An address is digits, dots, hex and colons: nothing to escape.
        let _ = write!(out, "{}", line.client_ip);
        out.push(b'"');
    });
    if written {
        return;
    }
    let duration_ms = line.duration.as_secs_f64() * 1000.0;
    macro_rules! emit {
        ($macro:ident) => {
            tracing::$macro!(
                target: "query_api::access",
                method = line.method,
                route = line.route.label(),
                status = line.status,
                duration_ms,
                request_id,
                client_ip = %line.client_ip,
                "request"
            )
        };
    }
    match level {
        AccessLogLevel::Info => emit!(info),
        AccessLogLevel::Debug => emit!(debug),
        AccessLogLevel::Off => {}
    }
}

/// Milliseconds with up to six decimals (nanosecond precision), written exactly: `0.000711`,
/// `12.5`, `3.0` (a number with a fraction, as the formatter wrote an `f64`).
fn push_millis(out: &mut Vec<u8>, duration: Duration) {
    let nanos = duration.as_nanos();
    let whole = u64::try_from(nanos / 1_000_000).unwrap_or(u64::MAX);
    json::push_u64(out, whole);
    out.push(b'.');
    let mut fraction = (nanos % 1_000_000) as u32;
    if fraction == 0 {
        out.push(b'0');
        return;
    }
    let mut digits = 6;
    while fraction.is_multiple_of(10) {
        fraction /= 10;
        digits -= 1;
    }
    let text = itoa::Buffer::new().format(fraction).len();
    out.extend(std::iter::repeat_n(b'0', digits - text));
    json::push_u64(out, u64::from(fraction));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_are_exact() {
        let shown = |nanos: u64| {
            let mut out = Vec::new();
            push_millis(&mut out, Duration::from_nanos(nanos));
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(shown(711), "0.000711");
        assert_eq!(shown(0), "0.0");
        assert_eq!(shown(3_000_000), "3.0");
        assert_eq!(shown(12_500_000), "12.5");
        assert_eq!(shown(1_000_001), "1.000001");
        assert_eq!(shown(45_678_900), "45.6789");
        assert_eq!(shown(5_000), "0.005");
        for nanos in [1, 999, 1_234_567, 987_654_321_000] {
            let value: f64 = shown(nanos).parse().expect("number");
            assert!((value - nanos as f64 / 1e6).abs() < 1e-9, "{nanos}");
        }
    }
}
