//! Feed state changes on `<prefix>.status.kraken` (docs/architecture.md, "Status events").
//!
//! Events are queued (bounded) and published by one task, so the code that notices a change
//! never waits for NATS. When NATS is down the events are logged and dropped: they describe
//! a moment, and the metrics and `/ready` keep the current state.

use std::sync::Arc;

use async_nats::Client;
use common::Pair;
use common::control::{FeedEvent, StatusEvent};
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::publisher::Gate;
use crate::metrics::Metrics;

/// Events waiting to be published; beyond this they are dropped (and logged).
const QUEUE: usize = 1024;

/// Sends status events; cheap to clone.
#[derive(Clone)]
pub struct StatusSender {
    tx: mpsc::Sender<StatusEvent>,
    instance: Arc<str>,
    metrics: Metrics,
}

impl StatusSender {
    /// A sender and the receiving end for [`run`].
    pub fn new(
        instance: Arc<str>,
        metrics: Metrics,
    ) -> (StatusSender, mpsc::Receiver<StatusEvent>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            StatusSender {
                tx,
                instance,
                metrics,
            },
            rx,
        )
    }

    /// Logs, counts and queues one event.
    pub fn emit(&self, event: FeedEvent, pair: Option<Pair>, reason: Option<String>) {
        let name = event_name(event);
        self.metrics.status_events.with_label_values(&[name]).inc();
        match event {
            FeedEvent::Connected | FeedEvent::FallbackOff => {
                tracing::info!(event = name, pair = ?pair, reason = ?reason, "feed status")
            }
            _ => tracing::warn!(event = name, pair = ?pair, reason = ?reason, "feed status"),
        }
        let msg = StatusEvent {
            v: 1,
            ingestor: self.instance.clone(),
            at: Timestamp::now(),
            event,
            pair,
            reason,
        };
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(event = name, "status queue full: event not published");
            }
            // The publisher has stopped: the ingestor is shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(
                    event = name,
                    "status publisher stopped: event not published"
                );
            }
        }
    }
}

fn event_name(event: FeedEvent) -> &'static str {
    match event {
        FeedEvent::Connected => "connected",
        FeedEvent::Disconnected => "disconnected",
        FeedEvent::FallbackOn => "fallback_on",
        FeedEvent::FallbackOff => "fallback_off",
        FeedEvent::SubscriptionRejected => "subscription_rejected",
        FeedEvent::Unavailable => "unavailable",
    }
}

/// Publishes queued events as JSON on `subject` until `shutdown`.
pub async fn run(
    client: Client,
    subject: String,
    gate: Arc<Gate>,
    mut rx: mpsc::Receiver<StatusEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            event = rx.recv() => match event { Some(e) => e, None => return },
            () = shutdown.cancelled() => return,
        };
        // Events noticed while NATS is still connecting (start-up) get a moment to go out.
        let mut waited = 0;
        while !gate.is_open() && waited < 100 {
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => waited += 1,
                () = shutdown.cancelled() => return,
            }
        }
        if !gate.is_open() {
            continue;
        }
        let Ok(payload) = serde_json::to_vec(&event) else {
            continue;
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", common::message::CONTENT_TYPE_JSON);
        let send = client.publish_with_headers(subject.clone(), headers, payload.into());
        if !matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), send).await,
            Ok(Ok(()))
        ) {
            tracing::debug!("status event not published");
        }
    }
}
