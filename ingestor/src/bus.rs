//! Following the NATS connection: after every (re)connect, ensure the last-value stream, prove
//! the connection with a flush, then open the publish [`Gate`]; close it on a disconnect.
//!
//! The stream is ensured before the gate opens, so the first prices after a server restart
//! are captured by a stream created for them. But publishing waits for it at most
//! [`ENSURE_FIRST`]: when JetStream is slow or failing (a cluster electing a leader, a
//! conflicting stream), prices flow on core NATS at once and the stream is ensured again every
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

use crate::metrics::Metrics;
use crate::publisher::{Gate, StreamState, ensure_stream};

/// How often the connection state is looked at besides events (an event sent before we
/// subscribed must not be missed).
const POLL: Duration = Duration::from_millis(250);
/// Bound on the proving flush.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long publishing waits for the stream after a (re)connect. A healthy server answers in
/// milliseconds (10–40 ms in the cluster scenarios); a cluster whose JetStream is electing a
/// leader after a node loss may not answer for seconds (1–3 s seen in a rolling restart), and
/// prices must not wait for that.
const ENSURE_FIRST: Duration = Duration::from_millis(250);
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
    let ensure = |within: Duration| {
        let (client, subjects, config) = (client.clone(), subjects.clone(), config.clone());
        async move {
            tokio::time::timeout(within, ensure_stream(&client, &subjects, &config))
                .await
                .unwrap_or(StreamState::Failed)
        }
    };
    // When the stream is to be ensured again while the gate is open.
    let mut retry: Option<Instant> = None;
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
            if retry.is_some_and(|at| Instant::now() >= at) {
                let state = ensure(ENSURE_RETRY).await;
                metrics
                    .jetstream
                    .set(i64::from(state == StreamState::Ensured));
                retry = (state == StreamState::Failed).then(|| Instant::now() + ENSURE_RETRY);
                if state == StreamState::Ensured {
                    tracing::info!("price stream ensured");
                }
            }
            continue;
        }
        let state = ensure(ENSURE_FIRST).await;
        metrics
            .jetstream
            .set(i64::from(state == StreamState::Ensured));
        if let Ok(Ok(())) = tokio::time::timeout(STEP_TIMEOUT, client.flush()).await {
            gate.set(true);
            metrics.nats_connected.set(1);
            retry = (state == StreamState::Failed).then(|| Instant::now() + ENSURE_RETRY);
            tracing::info!(
                jetstream = state == StreamState::Ensured,
                "nats ready: publishing"
            );
        }
    }
}
