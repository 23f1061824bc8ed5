//! The state every task of one simulator shares: markets, fault switches, counters, and the
//! broadcast channel that carries pre-serialised ticker updates to the sockets.
//!
//! A trade is serialised once, into a reference-counted buffer, and every subscribed socket
//! writes that same buffer: fan-out costs a refcount per socket, not a serialisation.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use common::Pair;
use tokio::sync::{Notify, broadcast, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Rate, SimConfig};
use crate::decimal::{self, Decimal};
use crate::faults::{Bucket, RestFault, SocketFaults};
use crate::market::{MarketState, Rng};
use crate::stats::Counters;
use crate::wire::{self, Clock, Stamp, TickerKind};

/// One trade's update message, as every socket receives it.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    /// `Pair::index` of the pair.
    pub pair: usize,
    /// The market's trade sequence number; a socket skips updates its snapshot already covers.
    pub seq: u64,
    /// The serialised `update` message.
    pub text: Utf8Bytes,
    /// Set when a caller waits until the update is written (`Control::trade_now`).
    pub ack: Option<Arc<WriteAck>>,
}

/// Counts the sockets that have dealt with one awaited update.
#[derive(Debug, Default)]
pub(crate) struct WriteAck {
    /// Sockets subscribed to the pair that wrote it (or dropped it because they are stalled).
    pub processed: AtomicUsize,
    /// Of those, the ones that actually wrote and flushed it.
    pub written: AtomicUsize,
    pub notify: Notify,
}

impl WriteAck {
    pub fn done(&self, written: bool) {
        if written {
            self.written.fetch_add(1, Relaxed);
        }
        self.processed.fetch_add(1, Relaxed);
        self.notify.notify_one();
    }
}

/// What a trade produced.
#[derive(Debug, Clone)]
pub(crate) struct Emitted {
    pub last: String,
    pub at: Stamp,
}

/// Shared by the server, the sockets, the trade engine and every [`Control`](crate::Control).
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SimConfig,
    /// Indexed by `Pair::index`: offered by this simulator.
    pub offered: Vec<bool>,
    /// Indexed by `Pair::index` (every table market, offered or not).
    pub markets: Vec<Mutex<MarketState>>,
    pub updates: broadcast::Sender<Update>,
    pub faults: watch::Sender<SocketFaults>,
    /// HTTP status answered to WS upgrades; 0 accepts them.
    pub refuse: AtomicU16,
    pub rest_fault: Mutex<Option<RestFault>>,
    pub rest_limit: Mutex<Option<Bucket>>,
    /// How long every REST answer is held after it was computed (a late answer), in ms.
    pub rest_delay_ms: AtomicU64,
    /// Kraken's clock: every stamp the simulator writes.
    pub clock: Clock,
    /// Indexed by `Pair::index`: subscriptions refused as `Currency pair not supported`.
    pub rejected: Vec<AtomicBool>,
    /// Indexed by `Pair::index`: no automatic trades.
    pub quiet: Vec<AtomicBool>,
    /// When set, every subscribe gets this error (e.g. `Exceeded msg rate`).
    pub subscribe_error: Mutex<Option<String>>,
    pub rate: watch::Sender<Rate>,
    pub counters: Counters,
    /// Indexed by `Pair::index`: sockets subscribed now.
    pub subscribers: Vec<AtomicUsize>,
    /// Internal socket ids, in opening order (fault epochs compare against them).
    pub next_socket: AtomicU64,
    /// Wire `connection_id`s.
    pub connection_ids: Mutex<Rng>,
    pub token: CancellationToken,
    pub tracker: TaskTracker,
}

/// Locks a mutex, ignoring poisoning: every critical section leaves consistent state.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(config: SimConfig, token: CancellationToken) -> Shared {
        let mut offered = vec![false; Pair::all().len()];
        for p in &config.pairs {
            offered[p.index()] = true;
        }
        let flags = || Pair::all().map(|_| AtomicBool::new(false)).collect();
        let (updates, _) = broadcast::channel(config.buffer.max(16));
        Shared {
            offered,
            markets: Pair::all()
                .map(|p| Mutex::new(MarketState::new(p, config.seed)))
                .collect(),
            updates,
            faults: watch::Sender::new(SocketFaults::default()),
            refuse: AtomicU16::new(0),
            rest_fault: Mutex::new(None),
            rest_limit: Mutex::new(None),
            rest_delay_ms: AtomicU64::new(0),
            // SimConfig::clock_offset is checked by Simulator::start.
            clock: Clock::new(config.clock_offset).unwrap_or_default(),
            rejected: flags(),
            quiet: flags(),
            subscribe_error: Mutex::new(None),
            rate: watch::Sender::new(config.rate),
            counters: Counters::new(),
            subscribers: Pair::all().map(|_| AtomicUsize::new(0)).collect(),
            next_socket: AtomicU64::new(0),
            connection_ids: Mutex::new(Rng::new(config.seed, "connection_id")),
            token,
            tracker: TaskTracker::new(),
            config,
        }
    }

    /// The offered pair named by a WS v2 symbol (exact, case-sensitive like Kraken).
    pub fn offered_symbol(&self, symbol: &str) -> Option<Pair> {
        Pair::from_symbol(symbol).filter(|p| self.offered[p.index()])
    }

    /// Offered pairs, sorted.
    pub fn offered_pairs(&self) -> impl Iterator<Item = Pair> + '_ {
        Pair::all().filter(|p| self.offered[p.index()])
    }

    /// A fresh wire `connection_id`. The top bit is always set so that every client meets an
    /// id above `i64::MAX`, as in most captures.
    pub fn connection_id(&self) -> u64 {
        lock(&self.connection_ids).next_u64() | (1 << 63)
    }

    /// Simulates a trade of `pair` and broadcasts its update to every socket.
    pub fn trade(&self, pair: Pair, price: Option<Decimal>, ack: Option<Arc<WriteAck>>) -> Emitted {
        let mut out = Vec::with_capacity(384);
        let at = self.clock.now();
        let mut market = lock(&self.markets[pair.index()]);
        market.trade(price);
        wire::write_ticker(
            &mut out,
            TickerKind::Update,
            &market,
            at,
            self.config.trades_field,
        );
        let update = Update {
            pair: pair.index(),
            seq: market.seq,
            text: Utf8Bytes::try_from(out).unwrap_or_else(|_| Utf8Bytes::from_static("")),
            ack,
        };
        // Sent under the market lock, so updates of one pair leave in sequence order.
        // An error only means no socket is listening.
        let _ = self.updates.send(update);
        self.counters.trades.fetch_add(1, Relaxed);
        Emitted {
            last: last_text(&market),
            at,
        }
    }

    /// The snapshot message of `pair` now, with the sequence number it covers.
    pub fn snapshot(&self, pair: Pair) -> (Utf8Bytes, u64) {
        let mut out = Vec::with_capacity(384);
        let market = lock(&self.markets[pair.index()]);
        wire::write_ticker(
            &mut out,
            TickerKind::Snapshot,
            &market,
            self.clock.now(),
            self.config.trades_field,
        );
        let text = Utf8Bytes::try_from(out).unwrap_or_else(|_| Utf8Bytes::from_static(""));
        (text, market.seq)
    }

    /// The last price of `pair` as the WS ticker writes it.
    pub fn last_price(&self, pair: Pair) -> String {
        last_text(&lock(&self.markets[pair.index()]))
    }
}

fn last_text(m: &MarketState) -> String {
    let mut out = Vec::with_capacity(24);
    if m.last_injected {
        decimal::write(&mut out, m.last);
    } else {
        decimal::write_normalized(&mut out, m.last);
    }
    // The writer only produces ASCII digits, '-' and '.'.
    String::from_utf8_lossy(&out).into_owned()
}
