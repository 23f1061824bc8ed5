//! Every Prometheus metric of query-api, in a registry owned by the app (so two instances in
//! one test process never share counters).
//!
//! Names keep the seed's `btc_ltp_*` families where they still make sense (with seconds as the
//! unit of every duration), plus cache availability, NATS state, warm-up and refresh outcomes.
//! Label sets are bounded: routes are templates, pairs come from the market table, and client
//! addresses never become labels. Series used on every request are resolved once, up front.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use common::Pair;
use prometheus::local::LocalHistogram;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets for a service answering in microseconds to milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Methods with their own series; anything else is `OTHER`.
const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "OPTIONS", "OTHER"];

/// Statuses this service answers with, whose request counters are resolved once per
/// `(route, method)`; any other status is looked up by label (hashing three strings).
const STATUSES: [u16; 15] = [
    200, 204, 206, 400, 401, 404, 405, 408, 413, 414, 429, 431, 502, 503, 504,
];

/// Prices served by one response, counted locally (see [`Metrics::hits`]).
pub struct Hits<'a> {
    metrics: &'a Metrics,
    n: u64,
    /// The first age, observed directly when it stays the only one (no local histogram).
    first_age: Option<f64>,
    ages: Option<LocalHistogram>,
}

impl Hits<'_> {
    /// A pair served fresh, `age_ms` old.
    pub fn add(&mut self, pair: Pair, age_ms: u64) {
        let inner = &self.metrics.0;
        inner.price_hits[pair.index()].inc();
        self.n += 1;
        let age = age_ms as f64 / 1000.0;
        match (&mut self.ages, self.first_age) {
            (Some(local), _) => local.observe(age),
            (None, None) => self.first_age = Some(age),
            (None, Some(first)) => {
                let local = inner.served_age.local();
                local.observe(first);
                local.observe(age);
                self.ages = Some(local);
            }
        }
    }
}

impl Drop for Hits<'_> {
    fn drop(&mut self) {
        if self.n == 0 {
            return;
        }
        self.metrics.0.get_hit.inc_by(self.n);
        match self.ages.take() {
            Some(local) => local.flush(),
            None => {
                if let Some(age) = self.first_age {
                    self.metrics.0.served_age.observe(age);
                }
            }
        }
    }
}

/// The app's metrics; clones share one registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    started: Instant,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// `(route, method)` → duration series, resolved on first use.
    durations: Box<[OnceLock<Histogram>]>,
    /// `(route, method, status in STATUSES)` → request counter, resolved on first use.
    requests: Box<[OnceLock<IntCounter>]>,
    cache_ops: IntCounterVec,
    get_hit: IntCounter,
    get_miss: IntCounter,
    /// `btc_ltp_price_requests_total{pair, cache_result}` by pair index: hit, miss.
    price_hits: Box<[IntCounter]>,
    price_misses: Box<[IntCounter]>,
    served_age: Histogram,
    current_prices: GaugeVec,
    price_age: GaugeVec,
    cache_keys: IntGaugeVec,
    cache_available: IntGauge,
    refreshes: IntCounterVec,
    rate_limited: IntCounterVec,
    rate_limit_clients: IntGauge,
    auth_failures: IntCounterVec,
    nats_connected: IntGauge,
    nats_messages: IntCounterVec,
    warmups: IntCounterVec,
    ready: IntGauge,
    uptime: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric in a new registry.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let http_requests = counter(
            &r,
            "btc_ltp_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            &["method", "path", "status_code"],
        );
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "btc_ltp_http_request_duration_seconds",
                "Time from receiving a request to its response, in seconds.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "path"],
        )
        .expect("valid metric");
        r.register(Box::new(http_duration.clone()))
            .expect("unique metric");
        let cache_ops = counter(
            &r,
            "btc_ltp_cache_operations_total",
            "Cache reads (hit, miss) and writes (success, stale, error), per pair.",
            &["operation", "result"],
        );
        let price_requests = counter(
            &r,
            "btc_ltp_price_requests_total",
            "Pairs asked for in /api/v1/ltp, by pair and whether a fresh price was served.",
            &["pair", "cache_result"],
        );
        let served_age = Histogram::with_opts(
            HistogramOpts::new(
                "btc_ltp_served_price_age_seconds",
                "Age of each price served, in seconds.",
            )
            .buckets(vec![0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 300.0]),
        )
        .expect("valid metric");
        r.register(Box::new(served_age.clone()))
            .expect("unique metric");
        let current_prices = GaugeVec::new(
            Opts::new(
                "btc_ltp_current_prices",
                "Newest price known per pair (as a float: for dashboards, not for trading).",
            ),
            &["pair"],
        )
        .expect("valid metric");
        r.register(Box::new(current_prices.clone()))
            .expect("unique metric");
        let price_age = GaugeVec::new(
            Opts::new(
                "btc_ltp_price_age_seconds",
                "Age of the newest price known per pair at scrape time, in seconds.",
            ),
            &["pair"],
        )
        .expect("valid metric");
        r.register(Box::new(price_age.clone()))
            .expect("unique metric");
        let cache_keys = IntGaugeVec::new(
            Opts::new(
                "btc_ltp_cache_keys",
                "Pairs with a fresh price at scrape time, by cache type.",
            ),
            &["cache_type"],
        )
        .expect("valid metric");
        r.register(Box::new(cache_keys.clone()))
            .expect("unique metric");
        let app_info = IntGaugeVec::new(
            Opts::new(
                "btc_ltp_application_info",
                "Version of this build (always 1).",
            ),
            &["version"],
        )
        .expect("valid metric");
        r.register(Box::new(app_info.clone()))
            .expect("unique metric");
        app_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let uptime = Gauge::new("btc_ltp_uptime_seconds", "Seconds since start.").expect("valid");
        r.register(Box::new(uptime.clone())).expect("unique metric");
        #[cfg(target_os = "linux")]
        let _ = r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));

        let get = |result: &str| cache_ops.with_label_values(&["get", result]);
        let per_pair = |result: &str| -> Box<[IntCounter]> {
            Pair::all()
                .map(|p| price_requests.with_label_values(&[p.as_str(), result]))
                .collect()
        };
        Metrics(Arc::new(Inner {
            started: Instant::now(),
            durations: (0..crate::routes::Route::COUNT * METHODS.len())
                .map(|_| OnceLock::new())
                .collect(),
            requests: (0..crate::routes::Route::COUNT * METHODS.len() * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
            get_hit: get("hit"),
            get_miss: get("miss"),
            price_hits: per_pair("hit"),
            price_misses: per_pair("miss"),
            cache_available: gauge(
                &r,
                "btc_ltp_cache_available",
                "1 when the cache answers (Redis reachable), else 0.",
            ),
            refreshes: counter(
                &r,
                "btc_ltp_price_refreshes_total",
                "POST /api/v1/ltp/refresh outcomes: success, kraken_error, no_ingestor, \
                 timeout, nats_error, cache_error.",
                &["result"],
            ),
            rate_limited: counter(
                &r,
                "btc_ltp_rate_limit_requests_total",
                "Requests checked by the rate limiter: allowed or blocked.",
                &["result"],
            ),
            rate_limit_clients: gauge(
                &r,
                "btc_ltp_rate_limit_clients",
                "Clients the rate limiter currently tracks (bounded by rate_limit.max_clients).",
            ),
            auth_failures: counter(
                &r,
                "btc_ltp_auth_failures_total",
                "Requests refused for a missing or invalid API key.",
                &["code"],
            ),
            nats_connected: gauge(
                &r,
                "btc_ltp_nats_connection_status",
                "1 while connected to NATS, else 0.",
            ),
            nats_messages: counter(
                &r,
                "btc_ltp_nats_messages_total",
                "Price messages received: stored, stale (older than the held price), invalid.",
                &["result"],
            ),
            warmups: counter(
                &r,
                "btc_ltp_warmups_total",
                "Warm-up attempts by source (jetstream, snapshot) and result.",
                &["source", "result"],
            ),
            ready: gauge(&r, "btc_ltp_ready", "1 while /ready answers 200, else 0."),
            registry: r,
            http_requests,
            http_duration,
            cache_ops,
            served_age,
            current_prices,
            price_age,
            cache_keys,
            uptime,
        }))
    }

    /// Counts one answered request.
    pub fn http_request(
        &self,
        route: crate::routes::Route,
        method: &str,
        status: u16,
        seconds: f64,
    ) {
        let m = METHODS
            .iter()
            .position(|&known| known == method)
            .unwrap_or(METHODS.len() - 1);
        let index = route as usize * METHODS.len() + m;
        self.0.durations[index]
            .get_or_init(|| {
                self.0
                    .http_duration
                    .with_label_values(&[METHODS[m], route.label()])
            })
            .observe(seconds);
        let labels = || {
            let mut code = itoa::Buffer::new();
            self.0.http_requests.with_label_values(&[
                METHODS[m],
                route.label(),
                code.format(status),
            ])
        };
        match STATUSES.iter().position(|&known| known == status) {
            Some(s) => self.0.requests[index * STATUSES.len() + s]
                .get_or_init(labels)
                .inc(),
            None => labels().inc(),
        }
    }

    /// A tally of the prices one response serves: per pair served, the hit counters and the
    /// served-age histogram count one, but the shared hit counter and age histogram move once, when it is dropped
    /// (a response with every pair otherwise pays a few contended atomics per pair).
    pub fn hits(&self) -> Hits<'_> {
        Hits {
            metrics: self,
            n: 0,
            first_age: None,
            ages: None,
        }
    }

    /// A pair asked for and not served.
    pub fn price_miss(&self, pair: Pair) {
        self.0.get_miss.inc();
        self.0.price_misses[pair.index()].inc();
    }

    /// `n` cache writes with `result` (success, stale, error).
    pub fn cache_set(&self, result: &str, n: u64) {
        if n > 0 {
            self.0
                .cache_ops
                .with_label_values(&["set", result])
                .inc_by(n);
        }
    }

    /// Whether the cache answers.
    pub fn set_cache_available(&self, up: bool) {
        self.0.cache_available.set(i64::from(up));
    }

    /// One refresh outcome.
    pub fn refresh(&self, result: &str) {
        self.0.refreshes.with_label_values(&[result]).inc();
    }

    /// One rate-limit decision, and the number of clients tracked.
    pub fn rate_limit(&self, allowed: bool, clients: usize) {
        let result = if allowed { "allowed" } else { "blocked" };
        self.0.rate_limited.with_label_values(&[result]).inc();
        self.0.rate_limit_clients.set(clients as i64);
    }

    /// One refused API key.
    pub fn auth_failure(&self, code: &str) {
        self.0.auth_failures.with_label_values(&[code]).inc();
    }

    /// NATS connection state.
    pub fn set_nats_connected(&self, up: bool) {
        self.0.nats_connected.set(i64::from(up));
    }

    /// One price message received, with what became of it.
    pub fn nats_message(&self, result: &str) {
        self.0.nats_messages.with_label_values(&[result]).inc();
    }

    /// The newest price of a pair changed.
    pub fn set_current_price(&self, pair: Pair, price: &str) {
        if let Ok(value) = price.parse::<f64>() {
            self.0
                .current_prices
                .with_label_values(&[pair.as_str()])
                .set(value);
        }
    }

    /// One warm-up attempt.
    pub fn warmup(&self, source: &str, result: &str) {
        self.0.warmups.with_label_values(&[source, result]).inc();
    }

    /// Readiness as last computed.
    pub fn set_ready(&self, ready: bool) {
        self.0.ready.set(i64::from(ready));
    }

    /// Sets the scrape-time gauges: per-pair age, fresh key count, uptime.
    pub fn observe_cache(&self, cache_type: &str, ages_ms: &[(Pair, Option<u64>)], ttl_ms: u64) {
        let mut fresh = 0;
        for (pair, age) in ages_ms {
            let gauge = self.0.price_age.with_label_values(&[pair.as_str()]);
            match age {
                Some(age) => {
                    gauge.set(*age as f64 / 1000.0);
                    fresh += i64::from(*age <= ttl_ms);
                }
                None => gauge.set(f64::NAN),
            }
        }
        self.0
            .cache_keys
            .with_label_values(&[cache_type])
            .set(fresh);
        self.0.uptime.set(self.0.started.elapsed().as_secs_f64());
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.0.registry.gather(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}"))
    }

    #[test]
    fn a_tally_counts_every_price_once() {
        let metrics = Metrics::new();
        let btc = Pair::parse("BTC/USD").expect("pair");
        let eth = Pair::parse("ETH/USD").expect("pair");
        {
            let mut one = metrics.hits();
            one.add(btc, 40);
        }
        {
            let mut three = metrics.hits();
            three.add(btc, 1);
            three.add(eth, 2);
            three.add(eth, 3_000);
        }
        drop(metrics.hits());
        let text = String::from_utf8(metrics.render()).expect("utf8");
        assert!(line(&text, "btc_ltp_served_price_age_seconds_count").ends_with(" 4"));
        let sum: f64 = line(&text, "btc_ltp_served_price_age_seconds_sum")
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("sum");
        assert!((sum - 3.043).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        use crate::routes::Route;
        let metrics = Metrics::new();
        metrics.http_request(Route::Ltp, "GET", 200, 0.0001);
        metrics.http_request(Route::Ltp, "GET", 200, 0.0001);
        metrics.http_request(Route::Ltp, "HEAD", 200, 0.0001);
        metrics.http_request(Route::Ltp, "GET", 206, 0.0001);
        // Not among the statuses resolved up front.
        metrics.http_request(Route::Ltp, "GET", 418, 0.0001);
        metrics.http_request(Route::Unknown, "PROPFIND", 404, 0.0001);
        let text = String::from_utf8(metrics.render()).expect("utf8");
        for (labels, count) in [
            (r#"method="GET",path="/api/v1/ltp",status_code="200""#, 2),
            (r#"method="HEAD",path="/api/v1/ltp",status_code="200""#, 1),
            (r#"method="GET",path="/api/v1/ltp",status_code="206""#, 1),
            (r#"method="GET",path="/api/v1/ltp",status_code="418""#, 1),
            (r#"method="OTHER",path="/unknown",status_code="404""#, 1),
        ] {
            let prefix = format!("btc_ltp_http_requests_total{{{labels}}} ");
            assert!(
                line(&text, &prefix).ends_with(&format!(" {count}")),
                "{prefix}"
            );
        }
    }
}
