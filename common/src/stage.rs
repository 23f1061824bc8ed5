//! Latency by stage of a price's way from Kraken to a cache, measured from the timestamps the
//! price message carries (docs/operations.md, "Latency by stage").
//!
//! Every stage is a series of one histogram family, `ltp_stage_latency_seconds{stage}`; each
//! binary registers the stages it sees. A stage whose two ends are stamped by different hosts
//! (Kraken → ingestor, ingestor → query-api) measures the delay **plus** the clock offset
//! between them: a negative value (the receiver's clock behind the sender's by more than the
//! delay) is recorded as 0 and counted in `ltp_stage_clock_skew_total{stage}`, so a skewed
//! clock shows up as a rising counter instead of vanishing from the histogram.

use jiff::Timestamp;
use prometheus::{Histogram, IntCounter};

use crate::metrics::Registrar;

/// Upper bounds of the stage buckets, from 50 µs (inside one process) to 10 s (a stuck
/// connection or a badly skewed clock).
pub const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// The stages, in the order a price goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Kraken's `timestamp` of a ticker update → the ingestor read the frame (WebSocket only;
    /// crosses hosts).
    ExchangeToReceipt,
    /// The ingestor read the frame → NATS took the message (WebSocket updates; one process).
    ReceiptToPublish,
    /// The message's `published_at` → a query-api replica stored it (new prices, not
    /// re-publishes; crosses hosts).
    PublishToCache,
}

impl Stage {
    /// The `stage` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::ExchangeToReceipt => "exchange_to_receipt",
            Stage::ReceiptToPublish => "receipt_to_publish",
            Stage::PublishToCache => "publish_to_cache",
        }
    }
}

/// The series of one stage.
#[derive(Clone)]
pub struct StageTimer {
    latency: Histogram,
    skew: IntCounter,
}

impl StageTimer {
    /// Records the time from `start` to `end`; see the module doc for negative spans.
    pub fn observe(&self, start: Timestamp, end: Timestamp) {
        let nanos = end.as_nanosecond() - start.as_nanosecond();
        if nanos < 0 {
            self.skew.inc();
            self.latency.observe(0.0);
        } else {
            self.latency.observe(nanos as f64 / 1e9);
        }
    }

    /// Records the time from `start` to now.
    pub fn observe_until_now(&self, start: Timestamp) {
        self.observe(start, Timestamp::now());
    }
}

impl Registrar<'_> {
    /// Registers the stage families and returns the timers of `stages`, in order.
    pub fn stages<const N: usize>(self, stages: [Stage; N]) -> prometheus::Result<[StageTimer; N]> {
        let latency = self.histogram_vec(
            "ltp_stage_latency_seconds",
            "Time a price spent in each stage on its way from Kraken to a cache, from the \
             message's timestamps (cross-host stages include the clocks' offset)",
            BUCKETS,
            &["stage"],
        )?;
        let skew = self.counter_vec(
            "ltp_stage_clock_skew_total",
            "Stage spans that came out negative (the receiver's clock behind the sender's) \
             and were recorded as 0",
            &["stage"],
        )?;
        Ok(stages.map(|s| StageTimer {
            latency: latency.with_label_values(&[s.as_str()]),
            skew: skew.with_label_values(&[s.as_str()]),
        }))
    }
}

#[cfg(test)]
mod tests {
    use prometheus::Registry;

    use super::*;

    #[test]
    fn negative_spans_count_as_skew_and_zero() {
        let registry = Registry::new();
        let timers = Registrar(&registry)
            .stages([Stage::ExchangeToReceipt, Stage::PublishToCache])
            .expect("registers");
        let t0 = Timestamp::from_second(1_000).expect("in range");
        let later = |ms: i64| {
            t0.checked_add(jiff::SignedDuration::from_millis(ms))
                .expect("in range")
        };
        timers[0].observe(t0, later(3));
        timers[0].observe(t0, later(-2));
        timers[1].observe(t0, later(40));
        let text = {
            let mut out = Vec::new();
            prometheus::Encoder::encode(
                &prometheus::TextEncoder::new(),
                &registry.gather(),
                &mut out,
            )
            .expect("encodes");
            String::from_utf8(out).expect("utf8")
        };
        let value = |prefix: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{prefix} in {text}"))
        };
        let exchange = r#"stage="exchange_to_receipt""#;
        assert_eq!(
            value(&format!("ltp_stage_clock_skew_total{{{exchange}}}")),
            1.0
        );
        assert_eq!(
            value(&format!("ltp_stage_latency_seconds_count{{{exchange}}}")),
            2.0
        );
        assert!(
            (value(&format!("ltp_stage_latency_seconds_sum{{{exchange}}}")) - 0.003).abs() < 1e-9
        );
        let cache = r#"stage="publish_to_cache""#;
        assert_eq!(
            value(&format!("ltp_stage_clock_skew_total{{{cache}}}")),
            0.0
        );
        assert!((value(&format!("ltp_stage_latency_seconds_sum{{{cache}}}")) - 0.04).abs() < 1e-9);
    }
}
