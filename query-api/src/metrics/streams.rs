//! The streams' metrics (SSE and WebSocket): open streams, events, conflated updates,
//! refusals, disconnects by reason, and the delay from a price's arrival to its hand-over to
//! each client's connection.

use common::metrics::Registrar;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec};

use super::Metrics;

/// Delivery buckets: tens of microseconds to a second.
const DELIVERY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

pub(super) struct Streams {
    open: IntGaugeVec,
    events: IntCounterVec,
    conflated: IntCounterVec,
    refused: IntCounterVec,
    disconnects: IntCounterVec,
    delivery: HistogramVec,
}

impl Streams {
    pub fn register(r: Registrar<'_>) -> prometheus::Result<Streams> {
        Ok(Streams {
            open: r.gauge_vec(
                "ltp_streams_open",
                "Streams open now, by kind (sse, ws).",
                &["kind"],
            )?,
            events: r.counter_vec(
                "ltp_stream_events_total",
                "Events written to streams, by kind and type (price, unavailable, heartbeat, close).",
                &["kind", "type"],
            )?,
            conflated: r.counter_vec(
                "ltp_stream_conflated_total",
                "Prices never sent to a stream because a newer one replaced them first (slow client).",
                &["kind"],
            )?,
            refused: r.counter_vec(
                "ltp_stream_refused_total",
                "Streams refused: replica_cap (503), client_cap (429).",
                &["kind", "reason"],
            )?,
            disconnects: r.counter_vec(
                "ltp_stream_disconnects_total",
                "Streams ended, by kind and reason: client (closed by the client), slow (stalled \
                 past streams.stall_timeout), shutdown, protocol (WebSocket garbage or error).",
                &["kind", "reason"],
            )?,
            delivery: r.histogram_vec(
                "ltp_stream_delivery_seconds",
                "Time from a price's arrival from NATS to its hand-over to a stream's connection.",
                DELIVERY_BUCKETS,
                &["kind"],
            )?,
        })
    }
}

impl Metrics {
    /// A stream of `kind` opened.
    pub fn stream_opened(&self, kind: &str) {
        self.0.streams.open.with_label_values(&[kind]).inc();
    }

    /// A stream of `kind` ended for `reason`.
    pub fn stream_closed(&self, kind: &str, reason: &str) {
        let s = &self.0.streams;
        s.open.with_label_values(&[kind]).dec();
        s.disconnects.with_label_values(&[kind, reason]).inc();
    }

    /// A stream refused for `reason`.
    pub fn stream_refused(&self, kind: &str, reason: &str) {
        self.0
            .streams
            .refused
            .with_label_values(&[kind, reason])
            .inc();
    }

    /// The per-event series of streams of `kind`, resolved once per stream.
    pub fn stream_series(&self, kind: &str) -> StreamSeries {
        let s = &self.0.streams;
        let events = |t: &str| s.events.with_label_values(&[kind, t]);
        StreamSeries {
            prices: events("price"),
            unavailable: events("unavailable"),
            heartbeats: events("heartbeat"),
            closes: events("close"),
            conflated: s.conflated.with_label_values(&[kind]),
            delivery: s.delivery.with_label_values(&[kind]),
        }
    }
}

/// One kind's per-event series (see [`Metrics::stream_series`]).
#[derive(Clone)]
pub struct StreamSeries {
    /// Price events written.
    pub prices: IntCounter,
    /// Unavailable events written.
    pub unavailable: IntCounter,
    /// Heartbeats written.
    pub heartbeats: IntCounter,
    /// Final events written.
    pub closes: IntCounter,
    /// Prices skipped for newer ones.
    pub conflated: IntCounter,
    /// Arrival to hand-over, in seconds.
    pub delivery: Histogram,
}
