//! Counters tests read back: sockets, subscriptions, ticker messages, REST requests (with
//! arrival times, so a test can check a client's request budget).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use common::Pair;
use serde::Serialize;

/// Arrival times kept per simulator; older ones are forgotten first.
const MAX_ARRIVALS: usize = 100_000;

/// A REST endpoint, for per-endpoint counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Endpoint {
    /// `/0/public/Ticker`.
    Ticker,
    /// `/0/public/AssetPairs`.
    AssetPairs,
    /// `/0/public/SystemStatus`.
    SystemStatus,
    /// `/0/public/Time`.
    Time,
    /// Any other path under `/0/`.
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::Ticker,
        Endpoint::AssetPairs,
        Endpoint::SystemStatus,
        Endpoint::Time,
        Endpoint::Other,
    ];

    /// The endpoint a `/0/public/...` path names.
    pub fn from_path(path: &str) -> Endpoint {
        match path.trim_end_matches('/') {
            "/0/public/Ticker" => Endpoint::Ticker,
            "/0/public/AssetPairs" => Endpoint::AssetPairs,
            "/0/public/SystemStatus" => Endpoint::SystemStatus,
            "/0/public/Time" => Endpoint::Time,
            _ => Endpoint::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The live counters (atomics, shared by every task).
#[derive(Debug)]
pub(crate) struct Counters {
    pub ws_opened: AtomicU64,
    pub ws_open: AtomicU64,
    pub ws_refused: AtomicU64,
    pub subscribe_requests: AtomicU64,
    pub ticker_sent: AtomicU64,
    pub ticker_by_pair: Vec<AtomicU64>,
    pub ticker_missed: AtomicU64,
    pub heartbeats: AtomicU64,
    pub trades: AtomicU64,
    pub rest: [AtomicU64; 5],
    pub arrivals: Mutex<VecDeque<(Instant, Endpoint)>>,
}

impl Counters {
    pub fn new() -> Counters {
        Counters {
            ws_opened: AtomicU64::new(0),
            ws_open: AtomicU64::new(0),
            ws_refused: AtomicU64::new(0),
            subscribe_requests: AtomicU64::new(0),
            ticker_sent: AtomicU64::new(0),
            ticker_by_pair: Pair::all().map(|_| AtomicU64::new(0)).collect(),
            ticker_missed: AtomicU64::new(0),
            heartbeats: AtomicU64::new(0),
            trades: AtomicU64::new(0),
            rest: Default::default(),
            arrivals: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts `n` ticker messages of `pair` written to one socket.
    pub fn ticker_written(&self, pair: usize, n: u64) {
        self.ticker_sent.fetch_add(n, Relaxed);
        if let Some(c) = self.ticker_by_pair.get(pair) {
            c.fetch_add(n, Relaxed);
        }
    }

    pub fn rest_request(&self, endpoint: Endpoint) {
        self.rest[endpoint.index()].fetch_add(1, Relaxed);
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        if arrivals.len() >= MAX_ARRIVALS {
            arrivals.pop_front();
        }
        arrivals.push_back((Instant::now(), endpoint));
    }

    pub fn rest_total(&self) -> u64 {
        self.rest.iter().map(|c| c.load(Relaxed)).sum()
    }

    pub fn rest_for(&self, endpoint: Endpoint) -> u64 {
        self.rest[endpoint.index()].load(Relaxed)
    }

    pub fn arrivals(&self, endpoint: Option<Endpoint>) -> Vec<Instant> {
        let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        arrivals
            .iter()
            .filter(|(_, e)| endpoint.is_none_or(|want| want == *e))
            .map(|(at, _)| *at)
            .collect()
    }

    pub fn snapshot(&self) -> Stats {
        Stats {
            ws_connections_opened: self.ws_opened.load(Relaxed),
            ws_connections_open: self.ws_open.load(Relaxed),
            ws_upgrades_refused: self.ws_refused.load(Relaxed),
            subscribe_requests: self.subscribe_requests.load(Relaxed),
            ticker_messages_sent: self.ticker_sent.load(Relaxed),
            ticker_messages_by_pair: Pair::all()
                .filter_map(|p| {
                    let n = self.ticker_by_pair[p.index()].load(Relaxed);
                    (n > 0).then(|| (p.as_str().to_owned(), n))
                })
                .collect(),
            ticker_messages_missed: self.ticker_missed.load(Relaxed),
            heartbeats_sent: self.heartbeats.load(Relaxed),
            trades_simulated: self.trades.load(Relaxed),
            rest_requests: self.rest_total(),
            rest_requests_by_endpoint: Endpoint::ALL
                .iter()
                .map(|e| (format!("{e:?}"), self.rest_for(*e)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            last_prices: BTreeMap::new(),
        }
    }
}

/// A point-in-time copy of the counters (also what `GET /control/stats` returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// WebSocket connections accepted since start.
    pub ws_connections_opened: u64,
    /// WebSocket connections open now.
    pub ws_connections_open: u64,
    /// Upgrades refused by the refuse fault.
    pub ws_upgrades_refused: u64,
    /// `subscribe` requests received (one per request frame, not per symbol).
    pub subscribe_requests: u64,
    /// Ticker messages (snapshots and updates) written to sockets, summed over sockets.
    pub ticker_messages_sent: u64,
    /// The same per pair (pairs with none are omitted).
    pub ticker_messages_by_pair: BTreeMap<String, u64>,
    /// Updates a socket skipped because it fell more than the buffer behind.
    pub ticker_messages_missed: u64,
    /// Heartbeats written, summed over sockets.
    pub heartbeats_sent: u64,
    /// Trades simulated (each produces one update for every subscriber).
    pub trades_simulated: u64,
    /// REST requests received (including refused ones).
    pub rest_requests: u64,
    /// The same per endpoint (`Ticker`, `AssetPairs`, `SystemStatus`, `Time`, `Other`).
    pub rest_requests_by_endpoint: BTreeMap<String, u64>,
    /// The last price of every offered pair, as the WS ticker writes it.
    pub last_prices: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_recognised_by_path() {
        assert_eq!(Endpoint::from_path("/0/public/Ticker"), Endpoint::Ticker);
        assert_eq!(
            Endpoint::from_path("/0/public/AssetPairs/"),
            Endpoint::AssetPairs
        );
        assert_eq!(Endpoint::from_path("/0/public/ticker"), Endpoint::Other);
    }

    #[test]
    fn rest_counts_and_arrivals_are_kept_per_endpoint() {
        let c = Counters::new();
        c.rest_request(Endpoint::Ticker);
        c.rest_request(Endpoint::Time);
        c.rest_request(Endpoint::Ticker);
        assert_eq!(c.rest_total(), 3);
        assert_eq!(c.rest_for(Endpoint::Ticker), 2);
        assert_eq!(c.arrivals(Some(Endpoint::Ticker)).len(), 2);
        assert_eq!(c.arrivals(None).len(), 3);
        let s = c.snapshot();
        assert_eq!(s.rest_requests_by_endpoint.get("Ticker"), Some(&2));
    }
}
