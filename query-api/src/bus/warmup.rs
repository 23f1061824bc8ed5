//! Warm start: before reporting ready, load the last price of every served pair — from the
//! JetStream last-value stream when the server has one (one direct get per subject), else from
//! an ingestor's snapshot reply. A replica started after the ingestor therefore serves every
//! pair at once instead of after the next tick. Done again after every NATS reconnect, since
//! core NATS does not replay what was published while we were away.

use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;
use async_nats::jetstream::stream::DirectGetErrorKind;
use async_nats::{Client, Event};
use common::Subjects;
use common::control::RefreshRequest;
use common::message::decode;
use futures::future::join_all;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::requester::{RefreshError, Refresher};
use crate::cache::{Board, Cache, Entry};
use crate::metrics::Metrics;
use crate::params::Served;
use crate::readiness::Readiness;

/// How often the connection state is re-read when no event arrives.
const POLL: Duration = Duration::from_millis(250);
/// Delays between failed warm-up attempts.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Why a warm-up attempt found nothing to load.
#[derive(Debug, thiserror::Error)]
pub enum WarmupError {
    /// No stream and no ingestor.
    #[error("no last-value stream and no ingestor answered a snapshot request")]
    NoSource,
    /// The snapshot request failed otherwise.
    #[error("snapshot request failed")]
    Snapshot(#[source] RefreshError),
    /// The prices could not be stored.
    #[error("cache unavailable")]
    Cache(#[source] crate::cache::Error),
}

/// Everything a warm-up reads and writes.
pub struct Warmup {
    /// The NATS connection whose (re)connections trigger a warm-up.
    pub client: Client,
    pub subjects: Subjects,
    /// Read the JetStream last-value stream first (`nats.jetstream`).
    pub use_jetstream: bool,
    /// Asks an ingestor for a snapshot when there is no stream.
    pub refresher: Refresher,
    pub cache: Cache,
    /// Fed the loaded prices too, whether or not the cache takes them.
    pub board: Board,
    pub served: Served,
    /// Where the NATS and warm-up states are reported.
    pub readiness: Readiness,
    pub metrics: Metrics,
}

impl Warmup {
    /// Tracks the NATS connection and warms the cache whenever it (re)connects, until `token`
    /// is cancelled. Keeps `/ready`'s NATS and warm-up states current.
    pub async fn run(self, mut events: broadcast::Receiver<Event>, token: CancellationToken) {
        self.readiness.set_cold("not connected to NATS yet");
        loop {
            while self.client.connection_state() != State::Connected {
                if !wait_event(&mut events, &token).await {
                    return;
                }
            }
            self.connected(true);
            if !self.warm_while_connected(&token).await {
                return;
            }
            while self.client.connection_state() == State::Connected {
                if !wait_event(&mut events, &token).await {
                    return;
                }
            }
            self.connected(false);
            self.readiness.set_cold("reconnecting to NATS");
        }
    }

    fn connected(&self, up: bool) {
        self.readiness.set_nats(up);
        self.metrics.set_nats_connected(up);
    }

    /// Attempts a warm-up until one succeeds or the connection drops, backing off between
    /// attempts; false when cancelled.
    async fn warm_while_connected(&self, token: &CancellationToken) -> bool {
        let mut delay = RETRY_MIN;
        loop {
            match self.warm().await {
                Ok((source, loaded)) => {
                    tracing::info!(source, loaded, "warm-up done");
                    self.metrics.warmup(source, "success");
                    self.readiness.set_warm();
                    return true;
                }
                Err(err) => {
                    self.metrics.warmup("any", "failure");
                    tracing::info!(error = %err, retry_in = ?delay, "warm-up not possible yet");
                    self.readiness.set_cold(err.to_string());
                }
            }
            tokio::select! {
                () = token.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(RETRY_MAX);
            if self.client.connection_state() != State::Connected {
                return true;
            }
        }
    }

    /// One warm-up attempt: JetStream first, else a snapshot. Returns the source and how many
    /// prices were loaded.
    pub async fn warm(&self) -> Result<(&'static str, usize), WarmupError> {
        if self.use_jetstream
            && let Some(entries) = self.last_values_in_stream().await
        {
            return Ok(("jetstream", self.store(entries).await?));
        }
        let reply = self
            .refresher
            .request(&RefreshRequest {
                pairs: Vec::new(),
                snapshot: true,
            })
            .await
            .map_err(|err| match err {
                RefreshError::NoResponders => WarmupError::NoSource,
                other => WarmupError::Snapshot(other),
            })?;
        let entries: Vec<Arc<Entry>> = reply
            .prices
            .into_iter()
            .filter(|m| self.served.contains(m.pair))
            .map(|m| Arc::new(Entry::new(m)))
            .collect();
        Ok(("snapshot", self.store(entries).await?))
    }

    /// Stores the loaded prices; returns how many there were.
    async fn store(&self, entries: Vec<Arc<Entry>>) -> Result<usize, WarmupError> {
        let loaded = entries.len();
        for entry in &entries {
            self.board.offer(entry.clone());
        }
        self.cache
            .store(entries)
            .await
            .map_err(WarmupError::Cache)?;
        Ok(loaded)
    }

    /// The last message of every served pair's subject, or `None` when there is no usable
    /// stream (no JetStream, no stream yet, or direct gets not allowed).
    async fn last_values_in_stream(&self) -> Option<Vec<Arc<Entry>>> {
        let subjects = &self.subjects;
        let js = jetstream::new(self.client.clone());
        let stream = match js.get_stream(subjects.stream_name()).await {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(error = %err, stream = %subjects.stream_name(), "no last-value stream");
                return None;
            }
        };
        let gets = self.served.pairs.iter().map(|pair| {
            let stream = &stream;
            async move {
                (
                    *pair,
                    stream
                        .direct_get_last_for_subject(subjects.price(*pair).as_str())
                        .await,
                )
            }
        });
        let mut entries = Vec::new();
        for (pair, result) in join_all(gets).await {
            match result {
                Ok(message) => {
                    let content_type = message.headers.get("Content-Type").map(|v| v.as_str());
                    match decode(content_type, &message.payload) {
                        Ok(msg) if msg.pair == pair => entries.push(Arc::new(Entry::new(msg))),
                        Ok(_) | Err(_) => {
                            tracing::warn!(pair = %pair, "undecodable last value in the stream; skipped");
                        }
                    }
                }
                Err(err) if matches!(err.kind(), DirectGetErrorKind::NotFound) => {}
                Err(err) => {
                    tracing::debug!(pair = %pair, error = %err, "direct get failed");
                    return None;
                }
            }
        }
        Some(entries)
    }
}

/// Waits for a connection event or the poll interval; false when cancelled.
async fn wait_event(events: &mut broadcast::Receiver<Event>, token: &CancellationToken) -> bool {
    tokio::select! {
        () = token.cancelled() => false,
        _ = events.recv() => true,
        () = tokio::time::sleep(POLL) => true,
    }
}
