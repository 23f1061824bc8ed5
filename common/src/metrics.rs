//! Registering Prometheus metrics: every metric of a service goes into the registry that
//! service owns (two instances in one test process never share a counter), and a broken name or
//! a second registration of a name is an error for the caller, not a panic.

use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Creates metrics and registers them in one registry; each method returns the handle to
/// update (clones share the series).
#[derive(Debug, Clone, Copy)]
pub struct Registrar<'r>(pub &'r Registry);

impl Registrar<'_> {
    /// Registers an already built metric (any [`Collector`]) and hands it back.
    pub fn register<M: Collector + Clone + 'static>(self, metric: M) -> prometheus::Result<M> {
        self.0.register(Box::new(metric.clone()))?;
        Ok(metric)
    }

    /// An integer counter.
    pub fn counter(self, name: &str, help: &str) -> prometheus::Result<IntCounter> {
        self.register(IntCounter::new(name, help)?)
    }

    /// Integer counters by `labels`.
    pub fn counter_vec(
        self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        self.register(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    /// An integer gauge.
    pub fn gauge(self, name: &str, help: &str) -> prometheus::Result<IntGauge> {
        self.register(IntGauge::new(name, help)?)
    }

    /// Integer gauges by `labels`.
    pub fn gauge_vec(
        self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntGaugeVec> {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }

    /// A floating-point gauge (seconds, ages, prices for dashboards).
    pub fn float_gauge(self, name: &str, help: &str) -> prometheus::Result<Gauge> {
        self.register(Gauge::new(name, help)?)
    }

    /// Floating-point gauges by `labels`.
    pub fn float_gauge_vec(
        self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<GaugeVec> {
        self.register(GaugeVec::new(Opts::new(name, help), labels)?)
    }

    /// A histogram with these upper bucket bounds.
    pub fn histogram(
        self,
        name: &str,
        help: &str,
        buckets: &[f64],
    ) -> prometheus::Result<Histogram> {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        self.register(Histogram::with_opts(opts)?)
    }

    /// Histograms by `labels`, with these upper bucket bounds.
    pub fn histogram_vec(
        self,
        name: &str,
        help: &str,
        buckets: &[f64],
        labels: &[&str],
    ) -> prometheus::Result<HistogramVec> {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        self.register(HistogramVec::new(opts, labels)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_land_in_their_registry_and_a_second_name_is_an_error() {
        let registry = Registry::new();
        let r = Registrar(&registry);
        r.counter("probe_total", "A probe.").expect("new").inc();
        r.histogram("probe_seconds", "A probe.", &[0.1, 1.0])
            .expect("new")
            .observe(0.5);
        r.float_gauge_vec("probe_age_seconds", "A probe.", &["pair"])
            .expect("new")
            .with_label_values(&["BTC/USD"])
            .set(1.5);
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert_eq!(names, ["probe_age_seconds", "probe_seconds", "probe_total"]);
        assert!(r.gauge("probe_total", "Again.").is_err());
        assert!(r.counter("not a name", "Bad.").is_err());
        assert!(
            Registrar(&Registry::new())
                .counter("probe_total", "A probe.")
                .is_ok()
        );
    }
}
