//! The per-pair source state machine and everything that publishes prices.
//!
//! - A pair is streamed (`Ws`) once the healthy socket has delivered it since (re)subscribing.
//! - It falls back to REST polling when the socket goes down or stalls, when its subscription
//!   is rejected, or when the socket delivers nothing for it within the grace period.
//! - It is handed back to the socket as soon as the socket delivers it again.
//! - A healthy quiet pair is re-published every `republish_interval` with the time it was
//!   last confirmed; when no source confirms it, re-publishing stops and a status event says
//!   the pair is `unavailable` (docs/architecture.md, "Freshness").
//!
//! Each pair has its own lock, held across the publish so a pair's messages reach NATS in
//! `seq` order; pairs never wait for each other. The decisions themselves (which price is
//! newer, when to re-publish) are pure functions of one pair's state, in `pair_state`; this
//! module does the I/O around them.

#[cfg(test)]
mod ordering_tests;
mod pair_state;
mod socket_health;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::control::FeedEvent;
use common::message::Price;
use common::{Pair, PriceMessage, Source};
use jiff::Timestamp;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bus::{Publisher, Sent, StatusSender};
use crate::clock::Clock;
use crate::kraken::offset::OffsetEstimate;
use crate::kraken::rest::Fetched;
use crate::metrics::Metrics;
use pair_state::{Decision, Mode, PairState, Quote};
pub use socket_health::SocketHealth;

/// How often the feed re-publishes, checks grace periods and sends what NATS missed.
const TICK: Duration = Duration::from_millis(250);

/// Timing of the state machine.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Re-publish a quiet pair's confirmed price this often (a third of the TTL).
    pub republish_every: Duration,
    /// How long a pair may wait for socket data before REST takes over.
    pub grace: Duration,
    /// A pair whose price was not confirmed for this long is unavailable.
    pub stale_after: Duration,
}

/// Our clock and what the ingestor knows of Kraken's.
#[derive(Debug, Clone)]
pub struct Clocks {
    /// Our clock (shifted only in tests).
    pub ours: Clock,
    /// The lower bound of Kraken's clock offset, shared with the REST fetcher.
    pub kraken: Arc<OffsetEstimate>,
}

/// The feed of one ingestor: pair states, publisher, status events.
pub struct Feed {
    pairs: Vec<Pair>,
    slots: Vec<Option<Mutex<PairState>>>,
    publisher: Publisher,
    status: StatusSender,
    metrics: Metrics,
    instance: Arc<str>,
    timing: Timing,
    /// The socket's state, written by the socket task.
    pub socket: SocketHealth,
    available: AtomicUsize,
    /// Our clock (shifted only in tests).
    pub clock: Clock,
    /// Kraken's clock offset, fed by the socket and REST `Time`.
    pub offset: Arc<OffsetEstimate>,
}

impl Feed {
    /// A feed for `pairs`, all waiting for the socket.
    pub fn new(
        pairs: Vec<Pair>,
        publisher: Publisher,
        status: StatusSender,
        metrics: Metrics,
        instance: Arc<str>,
        timing: Timing,
        clocks: Clocks,
    ) -> Feed {
        let now = Instant::now();
        let mut slots: Vec<Option<Mutex<PairState>>> = Pair::all().map(|_| None).collect();
        for &p in &pairs {
            slots[p.index()] = Some(Mutex::new(PairState::new(p, now)));
        }
        Feed {
            pairs,
            slots,
            publisher,
            status,
            metrics,
            instance,
            timing,
            socket: SocketHealth::default(),
            available: AtomicUsize::new(0),
            clock: clocks.ours,
            offset: clocks.kraken,
        }
    }

    /// The configured pairs, in configuration order.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// Whether `pair` is served.
    pub fn serves(&self, pair: Pair) -> bool {
        self.slot(pair).is_some()
    }

    fn slot(&self, pair: Pair) -> Option<&Mutex<PairState>> {
        self.slots.get(pair.index()).and_then(Option::as_ref)
    }

    /// A ticker update from the socket (the hot path), received at `received_at` on our
    /// clock. Without Kraken's stamp its time on Kraken's clock is estimated like REST's.
    pub async fn on_ws_price(
        &self,
        pair: Pair,
        price: Price,
        exchange_time: Option<Timestamp>,
        received_at: Timestamp,
    ) {
        let Some(slot) = self.slot(pair) else {
            return;
        };
        let m = self.metrics.pair(pair);
        m.received_ws.inc();
        if let Some(exchange_time) = exchange_time {
            self.metrics
                .exchange_to_receipt
                .observe(exchange_time, received_at);
        }
        let mut st = slot.lock().await;
        if st.mode != Mode::Ws && self.socket.is_up() {
            if st.mode == Mode::Rest {
                self.status.emit(FeedEvent::FallbackOff, Some(pair), None);
                m.fallback.set(0);
            }
            st.mode = Mode::Ws;
        }
        let as_of =
            exchange_time.unwrap_or_else(|| self.offset.to_kraken(received_at, Instant::now()));
        let quote = Quote {
            price,
            source: Source::Ws,
            exchange_time,
            as_of,
            received_at,
        };
        let decision = st.offer(quote, &self.instance, self.clock.now());
        self.apply(&mut st, decision).await;
    }

    /// A price fetched over REST (poll or refresh). Returns the pair's current message after
    /// it, which may be a newer WS price. With `confirm_now` (a refresh asked for it), an
    /// unchanged price is re-published at once with the answer's time, instead of at the next
    /// re-publish interval.
    pub async fn on_rest_price(
        &self,
        pair: Pair,
        fetched: Fetched,
        confirm_now: bool,
    ) -> Option<PriceMessage> {
        let slot = self.slot(pair)?;
        self.metrics.pair(pair).received_rest.inc();
        let mut st = slot.lock().await;
        let sent_at = fetched.sent_at;
        st.confirm(sent_at);
        // Kraken answered with every trade it had when the request arrived, which was after
        // `sent_at` on any clock: on Kraken's clock, after `as_of`.
        let quote = Quote {
            price: fetched.price,
            source: Source::Rest,
            exchange_time: None,
            as_of: self.offset.to_kraken(sent_at, Instant::now()),
            received_at: sent_at,
        };
        let decision = st.offer(quote, &self.instance, self.clock.now());
        if decision == Decision::Confirm && confirm_now {
            let now = Instant::now();
            if let Some(msg) = st.republish(now, sent_at, Duration::ZERO) {
                let sent = self.publisher.republish(&msg).await;
                st.sent(now, sent == Sent::Yes);
                if sent == Sent::Yes {
                    self.metrics.pair(pair).published_republish.inc();
                }
            }
        } else {
            self.apply(&mut st, decision).await;
        }
        st.current.clone()
    }

    async fn apply(&self, st: &mut PairState, decision: Decision) {
        match decision {
            Decision::Publish(msg) => {
                let sent = self.publisher.publish(&msg).await;
                st.sent(Instant::now(), sent == Sent::Yes);
                let m = self.metrics.pair(st.pair);
                if sent == Sent::Yes {
                    m.published_update.inc();
                    if msg.source == Source::Ws {
                        self.metrics
                            .receipt_to_publish
                            .observe_until_now(msg.received_at);
                    }
                }
            }
            Decision::Confirm => {}
            Decision::Older => self.metrics.pair(st.pair).dropped_older.inc(),
        }
    }

    /// The socket delivered its first frame: it is up, and pairs not yet on REST wait for it.
    pub fn on_socket_up(&self) {
        self.socket.set_up(true);
        self.socket.frames_seen(self.clock.now());
        self.metrics.ws_connected.set(1);
        self.status.emit(FeedEvent::Connected, None, None);
    }

    /// After [`Self::on_socket_up`]: restart the grace period of waiting pairs.
    pub async fn restart_grace(&self) {
        let now = Instant::now();
        for &pair in &self.pairs {
            if let Some(slot) = self.slot(pair) {
                let mut st = slot.lock().await;
                if let Mode::Waiting { .. } = st.mode {
                    st.mode = Mode::Waiting { since: now };
                }
            }
        }
    }

    /// The socket is gone (closed, failed, or declared stalled): every pair goes to REST.
    pub async fn on_socket_down(&self, reason: &str) {
        self.mark_disconnected(reason);
        for &pair in &self.pairs {
            if let Some(slot) = self.slot(pair) {
                let mut st = slot.lock().await;
                self.fall_back(&mut st, reason);
            }
        }
    }

    /// The socket was closed because the ingestor is stopping: reported as a disconnect, but
    /// no pair "falls back" to a REST poller that is stopping too.
    pub fn on_shutdown(&self, reason: &str) {
        self.mark_disconnected(reason);
    }

    /// Records the socket as down and reports it, once per connection.
    fn mark_disconnected(&self, reason: &str) {
        if self.socket.set_up(false) {
            self.metrics.ws_connected.set(0);
            self.status
                .emit(FeedEvent::Disconnected, None, Some(reason.to_owned()));
        }
    }

    /// Kraken rejected the subscription of `pair`: REST serves it.
    pub async fn on_rejected(&self, pair: Pair, error: &str) {
        let Some(slot) = self.slot(pair) else {
            return;
        };
        self.metrics.pair(pair).rejected.inc();
        self.status.emit(
            FeedEvent::SubscriptionRejected,
            Some(pair),
            Some(error.to_owned()),
        );
        let mut st = slot.lock().await;
        self.fall_back(&mut st, &format!("subscription rejected: {error}"));
    }

    fn fall_back(&self, st: &mut PairState, reason: &str) {
        if st.mode != Mode::Rest {
            st.mode = Mode::Rest;
            self.metrics.pair(st.pair).fallback.set(1);
            self.status.emit(
                FeedEvent::FallbackOn,
                Some(st.pair),
                Some(reason.to_owned()),
            );
        }
    }

    /// Pairs REST must poll now.
    pub async fn rest_pairs(&self) -> Vec<Pair> {
        let mut out = Vec::new();
        for &pair in &self.pairs {
            if let Some(slot) = self.slot(pair)
                && slot.lock().await.mode == Mode::Rest
            {
                out.push(pair);
            }
        }
        out
    }

    /// The current message of every pair that has one.
    pub async fn snapshot(&self) -> Vec<PriceMessage> {
        let mut out = Vec::new();
        for &pair in &self.pairs {
            if let Some(slot) = self.slot(pair)
                && let Some(msg) = &slot.lock().await.current
            {
                out.push(msg.clone());
            }
        }
        out
    }

    /// Whether NATS currently takes publishes.
    pub fn nats_ready(&self) -> bool {
        self.publisher.gate().is_open()
    }

    /// Pairs whose price a source currently confirms.
    pub fn available_pairs(&self) -> usize {
        self.available.load(Ordering::Acquire)
    }

    /// Periodic work: grace timeouts, re-publishing, availability, sending what NATS missed,
    /// price-age gauges.
    pub async fn tick(&self) {
        let now = Instant::now();
        let wall = self.clock.now();
        let socket_frame = self.socket.last_frame();
        let gate_open = self.publisher.gate().is_open();
        let mut available = 0;
        let mut held = 0;
        for &pair in &self.pairs {
            let Some(slot) = self.slot(pair) else {
                continue;
            };
            let mut st = slot.lock().await;
            if let Mode::Waiting { since } = st.mode
                && now.saturating_duration_since(since) >= self.timing.grace
            {
                let reason = if self.socket.is_up() {
                    "no data from the socket"
                } else {
                    "socket not connected"
                };
                self.fall_back(&mut st, reason);
            }
            let m = self.metrics.pair(pair);
            // A live subscription on a socket that still sends frames confirms the price.
            if st.mode == Mode::Ws
                && let Some(frame) = socket_frame
            {
                st.confirm(frame);
            }
            let Some(confirmed) = st.confirmed_at() else {
                continue;
            };
            let age = wall.duration_since(confirmed).as_secs_f64().max(0.0);
            m.price_age.set(age);
            let fresh = age <= self.timing.stale_after.as_secs_f64();
            if fresh {
                available += 1;
            }
            // Set on every tick, not only on a change: a pair starts as available.
            m.available.set(i64::from(fresh));
            if fresh != st.available {
                st.available = fresh;
                if fresh {
                    tracing::info!(%pair, "price confirmed again");
                } else {
                    self.status.emit(
                        FeedEvent::Unavailable,
                        Some(pair),
                        Some(format!("no source confirmed the price for {age:.1}s")),
                    );
                }
            }
            if gate_open
                && let Some(msg) = st.republish(now, confirmed, self.timing.republish_every)
            {
                let sent = self.publisher.republish(&msg).await;
                st.sent(now, sent == Sent::Yes);
                if sent == Sent::Yes {
                    m.published_republish.inc();
                }
            }
            if st.unsent {
                held += 1;
            }
        }
        self.available.store(available, Ordering::Release);
        self.metrics.held_prices.set(held);
    }
}

/// Runs [`Feed::tick`] every [`TICK`] until `shutdown`.
pub async fn tick_until(feed: Arc<Feed>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => feed.tick().await,
            () = shutdown.cancelled() => return,
        }
    }
}
