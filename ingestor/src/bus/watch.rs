//! Following the NATS connection: after every (re)connect, ensure the last-value stream, prove
//! the connection with a flush, then open the publish [`Gate`]; close it on a disconnect.
//!
//! The stream is ensured before the gate opens, so the first prices are captured by a stream
//! created for them. Publishing waits for that up to [`ENSURE_AT_START`] until the stream has
//! been ensured once (creating a replicated stream on a cluster takes a moment), and after
//! that only [`ENSURE_ON_RECONNECT`] on each reconnect (the stream is there already, and prices
//! must not wait for a cluster electing a leader). When it could not be ensured in time, or
//! JetStream failed, prices flow on core NATS and the stream is ensured again every
//! [`ENSURE_RETRY`] until it is.

use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, Event};
use common::Subjects;
use common::config::NatsConfig;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::publisher::Gate;
use super::stream::{StreamState, ensure_stream};
use crate::metrics::Metrics;

/// How often the connection state is looked at besides events (an event sent before we
/// subscribed must not be missed).
const POLL: Duration = Duration::from_millis(250);
/// Bound on the proving flush.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long publishing waits for the stream before it was ever ensured: creating a stream
/// with three copies on a fresh cluster took more than 250 ms in the cluster scenarios.
const ENSURE_AT_START: Duration = Duration::from_secs(5);
/// How long publishing waits for the stream after a reconnect, once it was ensured. A healthy
/// server answers in milliseconds (10–40 ms in the cluster scenarios); a cluster whose
/// JetStream is electing a leader after a node loss may not answer for seconds (1–3 s seen in
/// a rolling restart), and prices must not wait for that.
const ENSURE_ON_RECONNECT: Duration = Duration::from_millis(250);
/// Delay between attempts while JetStream could not ensure the stream; also the bound on a
/// retry.
const ENSURE_RETRY: Duration = Duration::from_secs(2);

/// Watches the connection until `shutdown`.
pub async fn watch(
    client: Client,
    mut events: broadcast::Receiver<Event>,
    gate: Arc<Gate>,
    subjects: Arc<Subjects>,
    config: NatsConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let mut stream = StreamTracker {
        client: client.clone(),
        subjects,
        config,
        metrics: metrics.clone(),
        ensured_once: false,
        retry_at: None,
    };
    loop {
        tokio::select! {
            event = events.recv() => {
                if let Ok(Event::Disconnected) = event
                    && gate.set(false)
                {
                    metrics.nats_connected.set(0);
                    tracing::warn!("nats down: holding the latest price per pair");
                }
            }
            () = tokio::time::sleep(POLL) => {}
            () = shutdown.cancelled() => return,
        }
        if client.connection_state() != State::Connected {
            continue;
        }
        if gate.is_open() {
            if stream.retry_at.is_some_and(|at| Instant::now() >= at) {
                stream.ensure(ENSURE_RETRY).await;
            }
            continue;
        }
        let wait = if stream.ensured_once {
            ENSURE_ON_RECONNECT
        } else {
            ENSURE_AT_START
        };
        let state = stream.ensure(wait).await;
        if let Ok(Ok(())) = tokio::time::timeout(STEP_TIMEOUT, client.flush()).await {
            gate.set(true);
            metrics.nats_connected.set(1);
            tracing::info!(
                jetstream = state == StreamState::Ensured,
                "nats ready: publishing"
            );
        }
    }
}

/// The last-value stream's state as far as publishing is concerned.
struct StreamTracker {
    client: Client,
    subjects: Arc<Subjects>,
    config: NatsConfig,
    metrics: Metrics,
    /// Ensured at least once by this process: it exists, reconnects need not wait long.
    ensured_once: bool,
    /// When to try again after a failure, while publishing goes on.
    retry_at: Option<Instant>,
}

impl StreamTracker {
    /// Ensures the stream, waiting at most `within`, and records the outcome.
    async fn ensure(&mut self, within: Duration) -> StreamState {
        let state = tokio::time::timeout(
            within,
            ensure_stream(&self.client, &self.subjects, &self.config),
        )
        .await
        .unwrap_or(StreamState::Failed);
        let ensured = state == StreamState::Ensured;
        if ensured && self.retry_at.is_some() {
            tracing::info!("price stream ensured");
        }
        self.ensured_once |= ensured;
        self.metrics.jetstream.set(i64::from(ensured));
        self.retry_at = (state == StreamState::Failed).then(|| Instant::now() + ENSURE_RETRY);
        state
    }
}
