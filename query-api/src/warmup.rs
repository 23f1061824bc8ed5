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

use crate::cache::Entry;
use crate::refresh::{RefreshError, Refresher};
use crate::state::AppState;

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

/// Tracks the NATS connection and warms the cache whenever it (re)connects, until `token` is
/// cancelled. Keeps `/ready`'s NATS and warm-up states current.
pub async fn run(
    client: Client,
    mut events: broadcast::Receiver<Event>,
    subjects: Subjects,
    use_jetstream: bool,
    state: AppState,
    token: CancellationToken,
) {
    let refresher = Refresher::Nats {
        client: client.clone(),
        subject: subjects.refresh(),
        timeout: state.config.nats.request_timeout,
    };
    let readiness = &state.readiness;
    readiness.set_cold("not connected to NATS yet");
    loop {
        // Wait for a connection.
        while client.connection_state() != State::Connected {
            if !wait_event(&mut events, &token).await {
                return;
            }
        }
        readiness.set_nats(true);
        state.metrics.set_nats_connected(true);
        // Warm up, retrying while connected.
        let mut delay = RETRY_MIN;
        loop {
            match warm(&client, &subjects, use_jetstream, &refresher, &state).await {
                Ok((source, loaded)) => {
                    tracing::info!(source, loaded, "warm-up done");
                    state.metrics.warmup(source, "success");
                    readiness.set_warm();
                    break;
                }
                Err(err) => {
                    state.metrics.warmup("any", "failure");
                    tracing::info!(error = %err, retry_in = ?delay, "warm-up not possible yet");
                    readiness.set_cold(err.to_string());
                }
            }
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(RETRY_MAX);
            if client.connection_state() != State::Connected {
                break;
            }
        }
        // Wait for the connection to drop.
        while client.connection_state() == State::Connected {
            if !wait_event(&mut events, &token).await {
                return;
            }
        }
        readiness.set_nats(false);
        readiness.set_cold("reconnecting to NATS");
        state.metrics.set_nats_connected(false);
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

/// One warm-up attempt: JetStream first, else a snapshot. Returns the source and how many
/// prices were loaded.
pub async fn warm(
    client: &Client,
    subjects: &Subjects,
    use_jetstream: bool,
    refresher: &Refresher,
    state: &AppState,
) -> Result<(&'static str, usize), WarmupError> {
    if use_jetstream && let Some(entries) = from_jetstream(client, subjects, state).await {
        let loaded = entries.len();
        state
            .cache
            .store(entries)
            .await
            .map_err(WarmupError::Cache)?;
        return Ok(("jetstream", loaded));
    }
    let reply = refresher
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
        .filter(|m| state.served.contains(m.pair))
        .map(|m| Arc::new(Entry::new(m)))
        .collect();
    let loaded = entries.len();
    state
        .cache
        .store(entries)
        .await
        .map_err(WarmupError::Cache)?;
    Ok(("snapshot", loaded))
}

/// The last message of every served pair's subject, or `None` when there is no usable
/// stream (no JetStream, no stream yet, or direct gets not allowed).
async fn from_jetstream(
    client: &Client,
    subjects: &Subjects,
    state: &AppState,
) -> Option<Vec<Arc<Entry>>> {
    let js = jetstream::new(client.clone());
    let stream = match js.get_stream(subjects.stream_name()).await {
        Ok(stream) => stream,
        Err(err) => {
            tracing::debug!(error = %err, stream = %subjects.stream_name(), "no last-value stream");
            return None;
        }
    };
    let gets = state.served.pairs.iter().map(|pair| {
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
