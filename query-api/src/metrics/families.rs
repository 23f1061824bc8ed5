//! The metric families, registered by concern: HTTP requests, prices and the cache, the NATS
//! side, the guard (rate limit and API keys), and the process.
//!
//! Registration fails only for a malformed name or a name registered twice in one registry,
//! both fixed in this file: `Metrics::new` treats a failure as a bug here.

use std::sync::OnceLock;
use std::time::Instant;

use common::Pair;
use common::metrics::Registrar;
use common::stage::{Stage, StageTimer};
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};

use crate::route::Route;

/// Latency buckets for a service answering in microseconds to milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Methods with their own series; anything else is `OTHER`.
pub(super) const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "OPTIONS", "OTHER"];

/// Statuses this service answers with, whose request counters are resolved once per
/// `(route, method)`; any other status is looked up by label (hashing three strings).
pub(super) const STATUSES: [u16; 16] = [
    200, 204, 206, 304, 400, 401, 404, 405, 408, 413, 414, 429, 431, 502, 503, 504,
];

/// Requests answered and their durations.
pub(super) struct Http {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    /// `(route, method)` → duration series, resolved on first use.
    pub durations: Box<[OnceLock<Histogram>]>,
    /// `(route, method, status in STATUSES)` → request counter, resolved on first use.
    pub requests_by_status: Box<[OnceLock<IntCounter>]>,
}

impl Http {
    pub fn register(r: Registrar<'_>) -> prometheus::Result<Http> {
        let per_route = Route::COUNT * METHODS.len();
        Ok(Http {
            requests: r.counter_vec(
                "btc_ltp_http_requests_total",
                "HTTP requests answered, by method, route template and status.",
                &["method", "path", "status_code"],
            )?,
            duration: r.histogram_vec(
                "btc_ltp_http_request_duration_seconds",
                "Time from receiving a request to its response, in seconds.",
                LATENCY_BUCKETS,
                &["method", "path"],
            )?,
            durations: (0..per_route).map(|_| OnceLock::new()).collect(),
            requests_by_status: (0..per_route * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
        })
    }
}

/// Prices asked for, served and stored.
pub(super) struct Prices {
    pub cache_ops: IntCounterVec,
    pub get_hit: IntCounter,
    pub get_miss: IntCounter,
    /// `btc_ltp_price_requests_total{pair, cache_result}` by pair index.
    pub pair_hits: Box<[IntCounter]>,
    pub pair_misses: Box<[IntCounter]>,
    pub served_age: Histogram,
    pub current: GaugeVec,
    pub age: GaugeVec,
    pub cache_keys: IntGaugeVec,
    pub cache_available: IntGauge,
}

impl Prices {
    pub fn register(r: Registrar<'_>) -> prometheus::Result<Prices> {
        let cache_ops = r.counter_vec(
            "btc_ltp_cache_operations_total",
            "Cache reads (hit, miss) and writes (success, stale, error), per pair.",
            &["operation", "result"],
        )?;
        let per_pair = r.counter_vec(
            "btc_ltp_price_requests_total",
            "Pairs asked for in /api/v1/ltp, by pair and whether a fresh price was served.",
            &["pair", "cache_result"],
        )?;
        let by_pair = |result: &str| -> Box<[IntCounter]> {
            Pair::all()
                .map(|p| per_pair.with_label_values(&[p.as_str(), result]))
                .collect()
        };
        Ok(Prices {
            get_hit: cache_ops.with_label_values(&["get", "hit"]),
            get_miss: cache_ops.with_label_values(&["get", "miss"]),
            cache_ops,
            pair_hits: by_pair("hit"),
            pair_misses: by_pair("miss"),
            served_age: r.histogram(
                "btc_ltp_served_price_age_seconds",
                "Age of each price served, in seconds.",
                &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 300.0],
            )?,
            current: r.float_gauge_vec(
                "btc_ltp_current_prices",
                "Newest price known per pair (as a float: for dashboards, not for trading).",
                &["pair"],
            )?,
            age: r.float_gauge_vec(
                "btc_ltp_price_age_seconds",
                "Age of the newest price known per pair at scrape time, in seconds.",
                &["pair"],
            )?,
            cache_keys: r.gauge_vec(
                "btc_ltp_cache_keys",
                "Pairs with a fresh price at scrape time, by cache type.",
                &["cache_type"],
            )?,
            cache_available: r.gauge(
                "btc_ltp_cache_available",
                "1 when the cache answers (Redis reachable), else 0.",
            )?,
        })
    }
}

/// The NATS side: connection, price messages, warm-ups and refreshes.
pub(super) struct Bus {
    pub connected: IntGauge,
    pub messages: IntCounterVec,
    pub warmups: IntCounterVec,
    pub refreshes: IntCounterVec,
    /// `published_at` of a new price → stored here.
    pub publish_to_cache: StageTimer,
}

impl Bus {
    pub fn register(r: Registrar<'_>) -> prometheus::Result<Bus> {
        Ok(Bus {
            connected: r.gauge(
                "btc_ltp_nats_connection_status",
                "1 while connected to NATS, else 0.",
            )?,
            messages: r.counter_vec(
                "btc_ltp_nats_messages_total",
                "Price messages received: stored, stale (older than the held price), invalid.",
                &["result"],
            )?,
            warmups: r.counter_vec(
                "btc_ltp_warmups_total",
                "Warm-up attempts by source (jetstream, snapshot) and result.",
                &["source", "result"],
            )?,
            refreshes: r.counter_vec(
                "btc_ltp_price_refreshes_total",
                "POST /api/v1/ltp/refresh outcomes: success, kraken_error, no_ingestor, \
                 timeout, nats_error, bad_reply, encode_error, cache_error.",
                &["result"],
            )?,
            publish_to_cache: {
                let [timer] = r.stages([Stage::PublishToCache])?;
                timer
            },
        })
    }
}

/// The rate limiter and API keys.
pub(super) struct Guard {
    pub rate_limited: IntCounterVec,
    pub clients: IntGauge,
    pub auth_failures: IntCounterVec,
}

impl Guard {
    pub fn register(r: Registrar<'_>) -> prometheus::Result<Guard> {
        Ok(Guard {
            rate_limited: r.counter_vec(
                "btc_ltp_rate_limit_requests_total",
                "Requests checked by the rate limiter: allowed or blocked.",
                &["result"],
            )?,
            clients: r.gauge(
                "btc_ltp_rate_limit_clients",
                "Clients the rate limiter currently tracks (bounded by rate_limit.max_clients).",
            )?,
            auth_failures: r.counter_vec(
                "btc_ltp_auth_failures_total",
                "Requests refused for a missing or invalid API key.",
                &["code"],
            )?,
        })
    }
}

/// Build, uptime, readiness and the process collector (CPU, memory, file descriptors; Linux
/// only).
pub(super) struct Process {
    pub started: Instant,
    pub uptime: Gauge,
    pub ready: IntGauge,
    /// The configured `cache.ttl`, set once.
    pub cache_ttl: Gauge,
}

impl Process {
    pub fn register(r: Registrar<'_>) -> prometheus::Result<Process> {
        r.gauge_vec(
            "btc_ltp_application_info",
            "Version of this build (always 1).",
            &["version"],
        )?
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        #[cfg(target_os = "linux")]
        r.0.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Process {
            started: Instant::now(),
            uptime: r.float_gauge("btc_ltp_uptime_seconds", "Seconds since start.")?,
            ready: r.gauge("btc_ltp_ready", "1 while /ready answers 200, else 0.")?,
            cache_ttl: r.float_gauge(
                "ltp_cache_ttl_seconds",
                "The configured cache.ttl: a price older than this is not served.",
            )?,
        })
    }
}
