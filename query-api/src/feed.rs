//! What query-api knows of the ingestors' feed, for `GET /api/v1/status` and the board: per
//! ingestor, the socket's state, the pairs on REST fallback, rejected or unavailable, and when
//! it was last heard of.
//!
//! Status events (`<prefix>.status.kraken`) only describe changes, so a replica started after
//! the `connected` event would never learn of it. Price messages fill the gap: every message
//! names its ingestor and its publish time (quiet pairs are re-published every TTL/3, so an
//! ingestor that is alive is heard of at least that often), and a WebSocket price shows that
//! the socket delivers. An event, when one arrives, is the authority.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use common::control::{FeedEvent, StatusEvent};
use common::{Pair, PriceMessage, Source};
use jiff::{SignedDuration, Timestamp};

/// Ingestors not heard of for this many TTLs are forgotten (their ids are per process).
const FORGET_AFTER_TTLS: i64 = 10;

/// The latest feed state by ingestor; clones share it.
#[derive(Debug, Default, Clone)]
pub struct FeedStatus(Arc<Mutex<BTreeMap<Arc<str>, Ingestor>>>);

/// The socket's state as last known.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// No event and no WebSocket price seen yet.
    #[default]
    Unknown,
    /// Connected (a `connected` event, or a WebSocket price since the last `disconnected`).
    Connected,
    /// Lost or declared stalled.
    Disconnected,
}

impl Socket {
    /// `unknown`, `connected` or `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Socket::Unknown => "unknown",
            Socket::Connected => "connected",
            Socket::Disconnected => "disconnected",
        }
    }
}

/// One ingestor's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingestor {
    /// The latest time it was heard of: a status event's `at`, a price's `published_at`.
    pub last_seen: Timestamp,
    /// Its socket.
    pub socket: Socket,
    /// Why the socket is down (the `disconnected` event's reason).
    pub socket_reason: Option<String>,
    /// Pairs polled over REST.
    pub fallback: BTreeSet<Pair>,
    /// Pairs whose subscription Kraken rejected.
    pub rejected: BTreeSet<Pair>,
    /// Pairs no source confirms.
    pub unavailable: BTreeSet<Pair>,
    /// The last status event's kind, time and reason.
    pub last_event: Option<(FeedEvent, Timestamp, Option<String>)>,
}

impl Ingestor {
    fn new(last_seen: Timestamp) -> Ingestor {
        Ingestor {
            last_seen,
            socket: Socket::Unknown,
            socket_reason: None,
            fallback: BTreeSet::new(),
            rejected: BTreeSet::new(),
            unavailable: BTreeSet::new(),
            last_event: None,
        }
    }

    fn seen(&mut self, at: Timestamp) {
        self.last_seen = self.last_seen.max(at);
    }
}

impl FeedStatus {
    /// Applies one status event.
    pub fn event(&self, event: &StatusEvent) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let ingestor = map
            .entry(event.ingestor.clone())
            .or_insert_with(|| Ingestor::new(event.at));
        ingestor.seen(event.at);
        ingestor.last_event = Some((event.event, event.at, event.reason.clone()));
        let pair = event.pair;
        match event.event {
            FeedEvent::Connected => {
                ingestor.socket = Socket::Connected;
                ingestor.socket_reason = None;
            }
            FeedEvent::Disconnected => {
                ingestor.socket = Socket::Disconnected;
                ingestor.socket_reason = event.reason.clone();
            }
            FeedEvent::FallbackOn => extend(&mut ingestor.fallback, pair),
            FeedEvent::FallbackOff => {
                if let Some(pair) = pair {
                    ingestor.fallback.remove(&pair);
                    ingestor.unavailable.remove(&pair);
                }
            }
            FeedEvent::SubscriptionRejected => extend(&mut ingestor.rejected, pair),
            FeedEvent::Unavailable => extend(&mut ingestor.unavailable, pair),
        }
    }

    /// Notes a price message: its ingestor is alive, and a WebSocket price shows the socket
    /// delivers (events missed before this replica started are inferred this way).
    pub fn price(&self, msg: &PriceMessage) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let ingestor = match map.get_mut(&*msg.ingestor) {
            Some(ingestor) => ingestor,
            None => map
                .entry(msg.ingestor.clone())
                .or_insert_with(|| Ingestor::new(msg.published_at)),
        };
        ingestor.seen(msg.published_at);
        if !ingestor.unavailable.is_empty() {
            ingestor.unavailable.remove(&msg.pair);
        }
        if msg.source == Source::Ws {
            if ingestor.socket == Socket::Unknown {
                ingestor.socket = Socket::Connected;
            }
            if !ingestor.fallback.is_empty() {
                ingestor.fallback.remove(&msg.pair);
            }
        }
    }

    /// Every ingestor heard of within `FORGET_AFTER_TTLS` TTLs of `now`, most recently seen
    /// first; older ones are forgotten.
    pub fn snapshot(&self, now: Timestamp, ttl: SignedDuration) -> Vec<(Arc<str>, Ingestor)> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let horizon = now
            .checked_sub(ttl.saturating_mul(FORGET_AFTER_TTLS as i32))
            .unwrap_or(Timestamp::MIN);
        map.retain(|_, i| i.last_seen >= horizon);
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| b.1.last_seen.cmp(&a.1.last_seen).then(a.0.cmp(&b.0)));
        all
    }
}

fn extend(set: &mut BTreeSet<Pair>, pair: Option<Pair>) {
    if let Some(pair) = pair {
        set.insert(pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: FeedEvent, pair: Option<&str>, at: &str) -> StatusEvent {
        StatusEvent {
            v: 1,
            ingestor: Arc::from("i-1"),
            at: at.parse().expect("ts"),
            event: kind,
            pair: pair.map(|p| Pair::parse(p).expect("pair")),
            reason: Some("socket stalled".into()),
        }
    }

    fn price(source: Source, pair: &str, published: &str) -> PriceMessage {
        let at = published.parse().expect("ts");
        let mut msg = common::test_support::price_message_at(pair, "1.5", at);
        msg.source = source;
        msg.ingestor = Arc::from("i-1");
        msg
    }

    const TTL: SignedDuration = SignedDuration::from_secs(30);

    #[test]
    fn events_set_socket_and_fallback_pairs() {
        let feed = FeedStatus::default();
        feed.event(&event(FeedEvent::Connected, None, "2026-01-01T00:00:00Z"));
        feed.event(&event(
            FeedEvent::Disconnected,
            None,
            "2026-01-01T00:00:01Z",
        ));
        feed.event(&event(
            FeedEvent::FallbackOn,
            Some("BTC/USD"),
            "2026-01-01T00:00:02Z",
        ));
        let now: Timestamp = "2026-01-01T00:00:03Z".parse().expect("ts");
        let all = feed.snapshot(now, TTL);
        let (id, ingestor) = &all[0];
        assert_eq!(&**id, "i-1");
        assert_eq!(ingestor.socket, Socket::Disconnected);
        assert_eq!(ingestor.socket_reason.as_deref(), Some("socket stalled"));
        assert_eq!(ingestor.fallback.len(), 1);
        assert_eq!(
            ingestor.last_seen,
            "2026-01-01T00:00:02Z".parse().expect("ts")
        );
        feed.event(&event(
            FeedEvent::FallbackOff,
            Some("BTC/USD"),
            "2026-01-01T00:00:04Z",
        ));
        assert!(feed.snapshot(now, TTL)[0].1.fallback.is_empty());
    }

    #[test]
    fn a_ws_price_infers_a_connected_socket() {
        let feed = FeedStatus::default();
        feed.price(&price(Source::Rest, "BTC/USD", "2026-01-01T00:00:00Z"));
        let now: Timestamp = "2026-01-01T00:00:01Z".parse().expect("ts");
        assert_eq!(feed.snapshot(now, TTL)[0].1.socket, Socket::Unknown);
        feed.price(&price(Source::Ws, "BTC/USD", "2026-01-01T00:00:01Z"));
        let all = feed.snapshot(now, TTL);
        assert_eq!(all[0].1.socket, Socket::Connected);
        assert_eq!(all[0].1.last_seen, now);
    }

    #[test]
    fn an_old_replayed_price_does_not_move_last_seen_back() {
        let feed = FeedStatus::default();
        feed.price(&price(Source::Ws, "BTC/USD", "2026-01-01T00:00:05Z"));
        feed.price(&price(Source::Ws, "ETH/USD", "2026-01-01T00:00:01Z"));
        let now: Timestamp = "2026-01-01T00:00:06Z".parse().expect("ts");
        let seen = feed.snapshot(now, TTL)[0].1.last_seen;
        assert_eq!(seen, "2026-01-01T00:00:05Z".parse().expect("ts"));
    }

    #[test]
    fn silent_ingestors_are_forgotten() {
        let feed = FeedStatus::default();
        feed.price(&price(Source::Ws, "BTC/USD", "2026-01-01T00:00:00Z"));
        let later: Timestamp = "2026-01-01T00:05:01Z".parse().expect("ts");
        assert!(feed.snapshot(later, TTL).is_empty());
    }
}
