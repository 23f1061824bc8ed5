//! Every metric of one ingestor instance, in a registry it owns (two instances in one test
//! process do not share counters). Per-pair counters of the hot path are resolved once, so
//! counting a price is one atomic add, not a label lookup.

use common::metrics::Registrar;
use common::stage::{Stage, StageTimer};
use common::{Pair, Source};
use prometheus::{Encoder, Histogram, IntCounter, IntCounterVec, IntGauge, Registry, TextEncoder};

/// Per-pair handles, indexed by [`Pair::index`].
#[derive(Clone)]
pub struct PairMetrics {
    pub received_ws: IntCounter,
    pub received_rest: IntCounter,
    /// Messages published, new prices.
    pub published_update: IntCounter,
    /// Messages published, re-publishes of a confirmed price.
    pub published_republish: IntCounter,
    /// Prices not published because the current one is newer.
    pub dropped_older: IntCounter,
    /// 1 while the pair is served by REST polling.
    pub fallback: IntGauge,
    /// 1 while some source confirms the pair's price.
    pub available: IntGauge,
    /// Seconds since the price was last confirmed (set at scrape time).
    pub price_age: prometheus::Gauge,
    pub rejected: IntCounter,
}

/// The metrics of one instance.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pairs: Vec<Option<PairMetrics>>,
    /// 1 while the WebSocket is open and subscribed.
    pub ws_connected: IntGauge,
    pub ws_connects: IntCounterVec,
    /// Connections lost or abandoned (stall), by reason.
    pub ws_disconnects: IntCounterVec,
    pub ws_frames: IntCounterVec,
    /// Frames by kind, resolved for the hot path: ticker, heartbeat, other.
    pub frames_ticker: IntCounter,
    pub frames_heartbeat: IntCounter,
    /// Frames that are not JSON or not the expected shape.
    pub frames_invalid: IntCounter,
    pub rest_requests: IntCounterVec,
    pub rest_duration: Histogram,
    /// Publish failures (NATS refused or was too slow).
    pub publish_errors: IntCounter,
    /// 1 while NATS is connected and accepting publishes.
    pub nats_connected: IntGauge,
    /// 1 when the last-value stream is in use.
    pub jetstream: IntGauge,
    /// Prices waiting for NATS (at most one per pair).
    pub held_prices: IntGauge,
    /// Refresh requests answered, by result.
    pub refresh_requests: IntCounterVec,
    pub status_events: IntCounterVec,
    /// Kraken's time of a WebSocket update → its receipt.
    pub exchange_to_receipt: StageTimer,
    /// Receipt of a WebSocket update → NATS took the message.
    pub receipt_to_publish: StageTimer,
    /// The configured `cache.ttl`, set once.
    pub cache_ttl: prometheus::Gauge,
}

impl PairMetrics {
    /// Registers the per-pair families and resolves the series of each of `pairs`, indexed by
    /// [`Pair::index`] (`None` for a pair not configured).
    fn register(r: Registrar<'_>, pairs: &[Pair]) -> prometheus::Result<Vec<Option<PairMetrics>>> {
        let received = r.counter_vec(
            "ingestor_prices_received_total",
            "Prices received from Kraken",
            &["pair", "source"],
        )?;
        let published = r.counter_vec(
            "ingestor_prices_published_total",
            "Price messages published on NATS (update: a new price; republish: a confirmation)",
            &["pair", "kind"],
        )?;
        let dropped = r.counter_vec(
            "ingestor_prices_dropped_total",
            "Prices not published because a newer one was already current",
            &["pair", "reason"],
        )?;
        let fallback = r.gauge_vec(
            "ingestor_fallback_active",
            "1 while the pair is polled over REST instead of streamed",
            &["pair"],
        )?;
        let available = r.gauge_vec(
            "ingestor_pair_available",
            "1 while a source confirms the pair's price (it is re-published)",
            &["pair"],
        )?;
        let age = r.float_gauge_vec(
            "ingestor_price_age_seconds",
            "Seconds since the pair's price was last confirmed by a source",
            &["pair"],
        )?;
        let rejected = r.counter_vec(
            "ingestor_subscription_rejections_total",
            "Ticker subscriptions Kraken rejected",
            &["pair"],
        )?;
        let mut per_pair = vec![None; Pair::all().len()];
        for &pair in pairs {
            let p = pair.as_str();
            per_pair[pair.index()] = Some(PairMetrics {
                received_ws: received.with_label_values(&[p, Source::Ws.as_str()]),
                received_rest: received.with_label_values(&[p, Source::Rest.as_str()]),
                published_update: published.with_label_values(&[p, "update"]),
                published_republish: published.with_label_values(&[p, "republish"]),
                dropped_older: dropped.with_label_values(&[p, "older"]),
                fallback: fallback.with_label_values(&[p]),
                available: available.with_label_values(&[p]),
                price_age: age.with_label_values(&[p]),
                rejected: rejected.with_label_values(&[p]),
            });
        }
        Ok(per_pair)
    }
}

impl Metrics {
    /// Registers every metric, with per-pair series for `pairs`, in a new registry, with the
    /// process collector (CPU, memory, descriptors; Linux only).
    pub fn new(pairs: &[Pair]) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let r = Registrar(&registry);
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let [exchange_to_receipt, receipt_to_publish] =
            r.stages([Stage::ExchangeToReceipt, Stage::ReceiptToPublish])?;
        let ws_frames = r.counter_vec(
            "ingestor_ws_frames_total",
            "WebSocket frames received",
            &["kind"],
        )?;
        Ok(Metrics {
            pairs: PairMetrics::register(r, pairs)?,
            ws_connected: r.gauge(
                "ingestor_ws_connected",
                "1 while the Kraken WebSocket is open",
            )?,
            ws_connects: r.counter_vec(
                "ingestor_ws_connect_attempts_total",
                "WebSocket connection attempts",
                &["result"],
            )?,
            ws_disconnects: r.counter_vec(
                "ingestor_ws_disconnects_total",
                "WebSocket connections lost or abandoned",
                &["reason"],
            )?,
            frames_ticker: ws_frames.with_label_values(&["ticker"]),
            frames_heartbeat: ws_frames.with_label_values(&["heartbeat"]),
            frames_invalid: ws_frames.with_label_values(&["invalid"]),
            ws_frames,
            rest_requests: r.counter_vec(
                "ingestor_rest_requests_total",
                "Kraken REST requests, by outcome",
                &["outcome"],
            )?,
            rest_duration: r.histogram(
                "ingestor_rest_request_duration_seconds",
                "Kraken REST request latency",
                &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            )?,
            publish_errors: r.counter(
                "ingestor_publish_errors_total",
                "Price publishes NATS refused or did not take in time",
            )?,
            nats_connected: r.gauge(
                "ingestor_nats_connected",
                "1 while NATS is connected and accepting publishes",
            )?,
            jetstream: r.gauge(
                "ingestor_jetstream_enabled",
                "1 when prices are kept in the JetStream last-value stream",
            )?,
            held_prices: r.gauge(
                "ingestor_held_prices",
                "Prices held while NATS is unavailable (at most one per pair)",
            )?,
            refresh_requests: r.counter_vec(
                "ingestor_refresh_requests_total",
                "Refresh and snapshot requests answered",
                &["kind", "result"],
            )?,
            status_events: r.counter_vec(
                "ingestor_status_events_total",
                "Feed status events",
                &["event"],
            )?,
            exchange_to_receipt,
            receipt_to_publish,
            cache_ttl: r.float_gauge(
                "ltp_cache_ttl_seconds",
                "The configured cache.ttl: quiet prices are re-published well inside it",
            )?,
            registry,
        })
    }

    /// The handles of a configured pair.
    pub fn pair(&self, pair: Pair) -> &PairMetrics {
        // Every pair the feed handles is configured; an unknown one gets a detached set.
        self.pairs[pair.index()]
            .as_ref()
            .unwrap_or_else(|| &DETACHED)
    }

    /// The registry in Prometheus text format (`/metrics`).
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec only fails on invalid metric names, which are constants here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

static DETACHED: std::sync::LazyLock<PairMetrics> = std::sync::LazyLock::new(|| PairMetrics {
    received_ws: IntCounter::new("detached", "-").expect("valid"),
    received_rest: IntCounter::new("detached", "-").expect("valid"),
    published_update: IntCounter::new("detached", "-").expect("valid"),
    published_republish: IntCounter::new("detached", "-").expect("valid"),
    dropped_older: IntCounter::new("detached", "-").expect("valid"),
    fallback: IntGauge::new("detached", "-").expect("valid"),
    available: IntGauge::new("detached", "-").expect("valid"),
    price_age: prometheus::Gauge::new("detached", "-").expect("valid"),
    rejected: IntCounter::new("detached", "-").expect("valid"),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_pairs_are_labelled() {
        let btc = Pair::parse("BTC/USD").expect("known");
        let m = Metrics::new(&[btc]).expect("registers");
        m.pair(btc).received_ws.inc();
        m.rest_duration.observe(0.2);
        m.rest_requests.with_label_values(&["ok"]).inc();
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(
            text.contains(r#"ingestor_prices_received_total{pair="BTC/USD",source="ws"} 1"#),
            "{text}"
        );
        assert!(text.contains("ingestor_rest_request_duration_seconds_bucket"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            // ingestor_* kept, ltp_* new, process_* the collector's (docs/operations.md).
            assert!(
                ["ingestor_", "ltp_", "process_"]
                    .iter()
                    .any(|prefix| name.starts_with(prefix)),
                "{line}"
            );
            assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
        }
    }

    #[test]
    fn two_instances_do_not_share_counters() {
        let btc = Pair::parse("BTC/USD").expect("known");
        let a = Metrics::new(&[btc]).expect("a");
        let b = Metrics::new(&[btc]).expect("b");
        a.pair(btc).received_ws.inc();
        assert_eq!(b.pair(btc).received_ws.get(), 0);
    }
}
