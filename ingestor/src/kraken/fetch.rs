//! Coalescing REST fetches: polls and refreshes asking for the same pairs at about the same
//! time share one Kraken call.
//!
//! A caller's pairs already in a call that has been sent wait for that call. The others join
//! the *pending* batch, which waits for its limiter slot and then goes out as one multi-pair
//! request; everything asked for while it waits rides along.

use std::sync::{Arc, Mutex};

use common::Pair;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::limiter::Limiter;
use super::offset::OffsetEstimate;
use super::rest::{FetchError, Fetched, Outcome, RestClient};

/// One Kraken call, pending or sent.
struct Batch {
    pairs: Mutex<Vec<Pair>>,
    done: watch::Sender<Option<Arc<Outcome>>>,
}

#[derive(Default)]
struct State {
    pending: Option<Arc<Batch>>,
    in_flight: Vec<Arc<Batch>>,
}

/// The entry point of every REST price fetch.
pub struct Fetcher {
    rest: Arc<RestClient>,
    limiter: Arc<Limiter>,
    offset: Arc<OffsetEstimate>,
    state: Arc<Mutex<State>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Fetcher {
    /// A fetcher whose calls run as tasks of `tracker` and stop on `shutdown`; it asks
    /// Kraken's `Time` for `offset` when the socket gave no evidence (at most once a minute).
    pub fn new(
        rest: Arc<RestClient>,
        limiter: Arc<Limiter>,
        offset: Arc<OffsetEstimate>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Fetcher {
        Fetcher {
            rest,
            limiter,
            offset,
            state: Arc::default(),
            tracker,
            shutdown,
        }
    }

    /// Fetches `pairs` (coalesced with concurrent fetches). Every pair gets a result.
    pub async fn fetch(&self, pairs: &[Pair]) -> Vec<(Pair, Result<Fetched, FetchError>)> {
        let mut waits: Vec<(Arc<Batch>, Vec<Pair>)> = Vec::new();
        {
            let mut state = lock(&self.state);
            let mut rest = Vec::new();
            for &pair in pairs {
                match state
                    .in_flight
                    .iter()
                    .find(|b| lock(&b.pairs).contains(&pair))
                {
                    Some(batch) => add(&mut waits, batch, pair),
                    None => rest.push(pair),
                }
            }
            if !rest.is_empty() {
                let batch = match &state.pending {
                    Some(batch) => batch.clone(),
                    None => {
                        let batch = Arc::new(Batch {
                            pairs: Mutex::new(Vec::new()),
                            done: watch::Sender::new(None),
                        });
                        state.pending = Some(batch.clone());
                        self.start(batch.clone());
                        batch
                    }
                };
                let mut batch_pairs = lock(&batch.pairs);
                for pair in rest {
                    if !batch_pairs.contains(&pair) {
                        batch_pairs.push(pair);
                    }
                    add(&mut waits, &batch, pair);
                }
            }
        }
        let mut out = Vec::with_capacity(pairs.len());
        for (batch, wanted) in waits {
            let mut rx = batch.done.subscribe();
            let outcome = rx
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|o| o.clone());
            for pair in wanted {
                let result = outcome
                    .as_ref()
                    .and_then(|o| o.get(&pair).cloned())
                    .unwrap_or_else(|| Err(FetchError::Unavailable("shutting down".into())));
                out.push((pair, result));
            }
        }
        out
    }

    /// Runs a batch: wait for a slot, seal the pair list, call Kraken, hand out the results.
    fn start(&self, batch: Arc<Batch>) {
        let (rest, limiter, state) = (self.rest.clone(), self.limiter.clone(), self.state.clone());
        let (shutdown, offset) = (self.shutdown.clone(), self.offset.clone());
        // A child of the caller that started the batch (a refresh's span, or none for a poll);
        // callers that join it later wait in their own spans.
        let span = tracing::info_span!(
            "kraken.ticker",
            otel.kind = "client",
            trace_id = tracing::field::Empty
        );
        common::otel::tag(&span);
        let call = async move {
            let run = async {
                limiter.acquire().await;
                // Without a recent stamp from the socket, the prices about to be fetched
                // could not be put on Kraken's clock: ask its `Time` first, in its own slot.
                if offset.time_due(tokio::time::Instant::now()) {
                    if let Some((unixtime, received)) = rest.time().await {
                        offset.observe_unixtime(unixtime, received, tokio::time::Instant::now());
                    }
                    limiter.acquire().await;
                }
                let pairs = {
                    let mut s = lock(&state);
                    s.pending = None;
                    s.in_flight.push(batch.clone());
                    lock(&batch.pairs).clone()
                };
                rest.ticker(&pairs, true).await
            };
            let outcome = tokio::select! {
                outcome = run => outcome,
                () = shutdown.cancelled() => Outcome::new(),
            };
            {
                let mut s = lock(&state);
                s.in_flight.retain(|b| !Arc::ptr_eq(b, &batch));
                if s.pending.as_ref().is_some_and(|b| Arc::ptr_eq(b, &batch)) {
                    s.pending = None;
                }
            }
            batch.done.send_replace(Some(Arc::new(outcome)));
        };
        self.tracker.spawn(call.instrument(span));
    }
}

fn add(waits: &mut Vec<(Arc<Batch>, Vec<Pair>)>, batch: &Arc<Batch>, pair: Pair) {
    match waits.iter_mut().find(|(b, _)| Arc::ptr_eq(b, batch)) {
        Some((_, pairs)) => pairs.push(pair),
        None => waits.push((batch.clone(), vec![pair])),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
