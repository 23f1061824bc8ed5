//! The access log: one line per request, at the configured level, under the target
//! `query_api::access` (so `RUST_LOG=info,query_api::access=off` also silences it).

use std::net::IpAddr;
use std::time::Duration;

use salvo::http::HeaderValue;

use crate::config::AccessLogLevel;
use crate::routes::Route;

/// One request's line.
pub struct Line<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Route template (never the raw path: it can be long and hostile).
    pub route: Route,
    /// Status sent.
    pub status: u16,
    /// Time spent.
    pub duration: Duration,
    /// `X-Request-ID`.
    pub request_id: &'a HeaderValue,
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

/// Writes the line.
pub fn write(level: AccessLogLevel, line: &Line<'_>) {
    let request_id = line.request_id.to_str().unwrap_or("-");
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
