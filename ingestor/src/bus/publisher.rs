//! Publishing price messages on NATS, and keeping the bus usable across NATS outages.
//!
//! A publish goes out at once when NATS is accepting them; otherwise the caller keeps the
//! message as the pair's latest and the feed sends it when NATS is back (only the
//! latest per pair: no unbounded buffer). The [`Gate`] opens after every (re)connect once the
//! last-value stream has been ensured, and closes on a disconnect or a publish that NATS did
//! not take in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::{Client, HeaderMap};
use common::{Encoding, PriceMessage, Subjects};

use crate::metrics::Metrics;

/// A publish NATS does not take within this time means NATS is in trouble: stop sending and
/// hold prices until a flush proves it healthy again.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether NATS is currently taking publishes.
#[derive(Debug, Default)]
pub struct Gate(AtomicBool);

impl Gate {
    /// True while publishes go out.
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Sets the state; returns the previous one.
    pub fn set(&self, open: bool) -> bool {
        self.0.swap(open, Ordering::AcqRel)
    }
}

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Handed to NATS.
    Yes,
    /// NATS is unavailable: the caller keeps the message to send later.
    Held,
}

/// Publishes encoded price messages on their subjects.
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    subjects: Arc<Subjects>,
    encoding: Encoding,
    headers: HeaderMap,
    /// `headers` with [`common::message::REPUBLISH_HEADER`].
    republish_headers: HeaderMap,
    gate: Arc<Gate>,
    metrics: Metrics,
}

impl Publisher {
    /// A publisher for `client`, closed until the first connect is confirmed.
    pub fn new(
        client: Client,
        subjects: Arc<Subjects>,
        encoding: Encoding,
        metrics: Metrics,
    ) -> Publisher {
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", encoding.content_type());
        let mut republish_headers = headers.clone();
        republish_headers.insert(common::message::REPUBLISH_HEADER, "1");
        Publisher {
            client,
            subjects,
            encoding,
            headers,
            republish_headers,
            gate: Arc::default(),
            metrics,
        }
    }

    /// The open/closed state, shared with the connection watcher.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Publishes one message with a new price on its pair's subject.
    pub async fn publish(&self, msg: &PriceMessage) -> Sent {
        self.send(msg, &self.headers).await
    }

    /// Publishes a re-publish (the current price confirmed again), marked as such.
    pub async fn republish(&self, msg: &PriceMessage) -> Sent {
        self.send(msg, &self.republish_headers).await
    }

    async fn send(&self, msg: &PriceMessage, headers: &HeaderMap) -> Sent {
        if !self.gate.is_open() {
            return Sent::Held;
        }
        let payload = self.encoding.encode(msg);
        let subject = self.subjects.price(msg.pair).clone();
        let mut headers = headers.clone();
        // The context of the ingest (or refresh) that produced the price, when traced.
        common::otel::inject_nats(&tracing::Span::current(), &mut headers);
        let send = self.client.publish_with_headers(subject, headers, payload);
        match tokio::time::timeout(PUBLISH_TIMEOUT, send).await {
            Ok(Ok(())) => Sent::Yes,
            Ok(Err(e)) => self.fail(&e),
            Err(_) => self.fail(&"nats did not take the message in time"),
        }
    }

    fn fail(&self, why: &dyn std::fmt::Display) -> Sent {
        self.metrics.publish_errors.inc();
        if self.gate.set(false) {
            tracing::warn!(error = %why, "publishing paused; holding the latest price per pair");
            self.metrics.nats_connected.set(0);
        }
        Sent::Held
    }
}
