//! Every Prometheus metric of query-api, in a registry owned by the app (so two instances in
//! one test process never share counters).
//!
//! Names keep the seed's `btc_ltp_*` families where they still make sense (with seconds as the
//! unit of every duration), plus cache availability, NATS state, warm-up and refresh outcomes.
//! Label sets are bounded: routes are templates, pairs come from the market table, and client
//! addresses never become labels. Series used on every request are resolved once, up front.

mod families;
mod streams;

use std::sync::Arc;

use common::Pair;
use common::metrics::Registrar;
use prometheus::local::LocalHistogram;
use prometheus::{Encoder, Registry, TextEncoder};

use self::families::{Bus, Guard, Http, METHODS, Prices, Process, STATUSES};
pub use self::streams::StreamSeries;
use self::streams::Streams;
use crate::route::Route;

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
        let prices = &self.metrics.0.prices;
        prices.pair_hits[pair.index()].inc();
        self.n += 1;
        let age = age_ms as f64 / 1000.0;
        match (&mut self.ages, self.first_age) {
            (Some(local), _) => local.observe(age),
            (None, None) => self.first_age = Some(age),
            (None, Some(first)) => {
                let local = prices.served_age.local();
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
        let prices = &self.metrics.0.prices;
        prices.get_hit.inc_by(self.n);
        match self.ages.take() {
            Some(local) => local.flush(),
            None => {
                if let Some(age) = self.first_age {
                    prices.served_age.observe(age);
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
    http: Http,
    prices: Prices,
    bus: Bus,
    guard: Guard,
    streams: Streams,
    process: Process,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric in a new registry.
    ///
    /// # Panics
    /// On a malformed or repeated metric name in `metrics/families.rs`: a bug there, caught by
    /// every test that builds the service.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = Registrar(&registry);
        let register = || -> prometheus::Result<Inner> {
            Ok(Inner {
                http: Http::register(r)?,
                prices: Prices::register(r)?,
                bus: Bus::register(r)?,
                guard: Guard::register(r)?,
                streams: Streams::register(r)?,
                process: Process::register(r)?,
                registry: registry.clone(),
            })
        };
        Metrics(Arc::new(register().expect("the metric families register")))
    }

    /// Counts one answered request.
    pub fn http_request(&self, route: Route, method: &str, status: u16, seconds: f64) {
        let m = METHODS
            .iter()
            .position(|&known| known == method)
            .unwrap_or(METHODS.len() - 1);
        let index = route as usize * METHODS.len() + m;
        let http = &self.0.http;
        http.durations[index]
            .get_or_init(|| {
                http.duration
                    .with_label_values(&[METHODS[m], route.label()])
            })
            .observe(seconds);
        let labels = || {
            let mut code = itoa::Buffer::new();
            http.requests
                .with_label_values(&[METHODS[m], route.label(), code.format(status)])
        };
        match STATUSES.iter().position(|&known| known == status) {
            Some(s) => http.requests_by_status[index * STATUSES.len() + s]
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
        self.0.prices.get_miss.inc();
        self.0.prices.pair_misses[pair.index()].inc();
    }

    /// `n` cache writes with `result` (success, stale, error).
    pub fn cache_set(&self, result: &str, n: u64) {
        if n > 0 {
            self.0
                .prices
                .cache_ops
                .with_label_values(&["set", result])
                .inc_by(n);
        }
    }

    /// Whether the cache answers.
    pub fn set_cache_available(&self, up: bool) {
        self.0.prices.cache_available.set(i64::from(up));
    }

    /// One refresh outcome.
    pub fn refresh(&self, result: &str) {
        self.0.bus.refreshes.with_label_values(&[result]).inc();
    }

    /// One rate-limit decision, and the number of clients tracked.
    pub fn rate_limit(&self, allowed: bool, clients: usize) {
        let result = if allowed { "allowed" } else { "blocked" };
        self.0.guard.rate_limited.with_label_values(&[result]).inc();
        self.0.guard.clients.set(clients as i64);
    }

    /// One refused API key.
    pub fn auth_failure(&self, code: &str) {
        self.0.guard.auth_failures.with_label_values(&[code]).inc();
    }

    /// NATS connection state.
    pub fn set_nats_connected(&self, up: bool) {
        self.0.bus.connected.set(i64::from(up));
    }

    /// One price message received, with what became of it.
    pub fn nats_message(&self, result: &str) {
        self.0.bus.messages.with_label_values(&[result]).inc();
    }

    /// The newest price of a pair changed.
    pub fn set_current_price(&self, pair: Pair, price: &str) {
        if let Ok(value) = price.parse::<f64>() {
            self.0
                .prices
                .current
                .with_label_values(&[pair.as_str()])
                .set(value);
        }
    }

    /// One warm-up attempt.
    pub fn warmup(&self, source: &str, result: &str) {
        self.0
            .bus
            .warmups
            .with_label_values(&[source, result])
            .inc();
    }

    /// The configured TTL, exported once as `ltp_cache_ttl_seconds`.
    pub fn set_cache_ttl(&self, ttl: std::time::Duration) {
        self.0.process.cache_ttl.set(ttl.as_secs_f64());
    }

    /// A new price published at `published_at` was stored now.
    pub fn published_to_cache(&self, published_at: jiff::Timestamp) {
        self.0.bus.publish_to_cache.observe_until_now(published_at);
    }

    /// Readiness as last computed.
    pub fn set_ready(&self, ready: bool) {
        self.0.process.ready.set(i64::from(ready));
    }

    /// Sets the scrape-time gauges: per-pair age, fresh key count, uptime.
    pub fn observe_cache(&self, cache_type: &str, ages_ms: &[(Pair, Option<u64>)], ttl_ms: u64) {
        let mut fresh = 0;
        for (pair, age) in ages_ms {
            let gauge = self.0.prices.age.with_label_values(&[pair.as_str()]);
            match age {
                Some(age) => {
                    gauge.set(*age as f64 / 1000.0);
                    fresh += i64::from(*age <= ttl_ms);
                }
                None => gauge.set(f64::NAN),
            }
        }
        self.0
            .prices
            .cache_keys
            .with_label_values(&[cache_type])
            .set(fresh);
        let process = &self.0.process;
        process.uptime.set(process.started.elapsed().as_secs_f64());
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
