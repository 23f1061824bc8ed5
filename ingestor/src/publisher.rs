//! Publishing price messages on NATS, and keeping the bus usable across NATS outages.
//!
//! A publish goes out at once when NATS is accepting them; otherwise the caller keeps the
//! message as the pair's latest and [`crate::feed::Feed`] sends it when NATS is back (only the
//! latest per pair: no unbounded buffer). The [`Gate`] opens after every (re)connect once the
//! last-value stream has been ensured, and closes on a disconnect or a publish that NATS did
//! not take in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::{Client, HeaderMap};
use common::config::NatsConfig;
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
        Publisher {
            client,
            subjects,
            encoding,
            headers,
            gate: Arc::default(),
            metrics,
        }
    }

    /// The open/closed state, shared with the connection watcher.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Publishes one message on its pair's subject.
    pub async fn publish(&self, msg: &PriceMessage) -> Sent {
        if !self.gate.is_open() {
            return Sent::Held;
        }
        let payload = self.encoding.encode(msg);
        let subject = self.subjects.price(msg.pair).clone();
        let send = self
            .client
            .publish_with_headers(subject, self.headers.clone(), payload);
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

/// What [`ensure_stream`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// The stream exists (created now or before); its settings were reconciled.
    Ensured,
    /// No JetStream here (disabled in the configuration, or the server has none): core NATS
    /// only, and asking again is pointless.
    NoJetStream,
    /// JetStream is there but did not do it (a cluster electing a leader, a conflicting
    /// stream, …): worth asking again later.
    Failed,
}

/// Makes sure the last-value stream exists (architecture.md, "Last value on the bus") with the
/// wanted settings where NATS allows changing them ([`crate::stream::reconcile`]).
/// A server without JetStream is not an error.
pub async fn ensure_stream(
    client: &Client,
    subjects: &Subjects,
    config: &NatsConfig,
) -> StreamState {
    if !config.jetstream {
        return StreamState::NoJetStream;
    }
    // No account probe first: `query_account` cannot parse the answers of older servers
    // (2.9); a server without JetStream fails the stream request with "no responders".
    let js = jetstream::new(client.clone());
    let wanted = crate::stream::wanted(subjects, config);
    match js.get_or_create_stream(wanted.clone()).await {
        Ok(s) => {
            crate::stream::reconcile(&js, s.cached_info().config.clone(), &wanted).await;
            StreamState::Ensured
        }
        Err(e) => {
            let text = e.to_string();
            if text.contains("no responders") {
                tracing::info!("no JetStream on this server: publishing on core NATS only");
                StreamState::NoJetStream
            } else {
                tracing::warn!(error = %text, stream = %subjects.stream_name(), "cannot ensure the price stream yet: publishing on core NATS, trying again");
                StreamState::Failed
            }
        }
    }
}
