//! Following the NATS connection: after every (re)connect, ensure the last-value stream, prove
//! the connection with a flush, then open the publish [`Gate`]; close it on a disconnect.

use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, Event};
use common::Subjects;
use common::config::NatsConfig;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::publisher::Gate;
use super::stream::ensure_stream;
use crate::metrics::Metrics;

/// How often the connection state is looked at besides events (an event sent before we
/// subscribed must not be missed).
const POLL: Duration = Duration::from_millis(250);
/// Bound on ensuring the stream and on the proving flush.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

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
        if gate.is_open() || client.connection_state() != State::Connected {
            continue;
        }
        let js = tokio::time::timeout(STEP_TIMEOUT, ensure_stream(&client, &subjects, &config))
            .await
            .unwrap_or(false);
        metrics.jetstream.set(i64::from(js));
        if let Ok(Ok(())) = tokio::time::timeout(STEP_TIMEOUT, client.flush()).await {
            gate.set(true);
            metrics.nats_connected.set(1);
            tracing::info!(jetstream = js, "nats ready: publishing");
        }
    }
}
