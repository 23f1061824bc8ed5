//! One client's position on the board: per pair, the board version it last looked at, the key
//! of the last price it was sent and whether it was told the pair is unavailable.
//!
//! Conflation lives here: a client woken after several changes of a pair is sent the newest
//! price only, and the versions it skipped are counted. Whatever the traffic, a client holds
//! one cursor per pair and nothing else.

use std::sync::Arc;

use common::Pair;

use super::event_id::{self, Key};
use crate::cache::{Board, Entry, Miss};

/// What a client is sent.
#[derive(Debug, Clone)]
pub enum Event {
    /// A price newer than the last one sent for its pair.
    Price(Arc<Entry>),
    /// The pair has no fresh price (never had one, or past the TTL unconfirmed).
    Unavailable(Pair, Miss),
}

#[derive(Debug, Clone)]
struct PairCursor {
    pair: Pair,
    /// Board version last looked at; `None` before the snapshot.
    version: Option<u64>,
    /// Key of the last price sent (or received before a resume).
    sent: Option<Key>,
    /// Unix ms after which the last price sent is past the TTL; `None` when none is shown.
    expires_ms: Option<i64>,
    /// Told the pair is unavailable, and not sent a price since.
    unavailable: bool,
}

/// A client's cursors, in the order of its pairs.
#[derive(Debug, Clone)]
pub struct Cursor {
    pairs: Vec<PairCursor>,
    ttl_ms: u64,
}

impl Cursor {
    /// Cursors for `pairs`, as if the client had already received the prices of `resume`
    /// (a decoded resume id): only newer prices of those pairs will be sent.
    pub fn new(pairs: &[Pair], ttl_ms: u64, resume: &[(Pair, Key)]) -> Cursor {
        let pairs = pairs
            .iter()
            .map(|&pair| {
                let sent = resume.iter().find(|(p, _)| *p == pair).map(|(_, k)| *k);
                PairCursor {
                    pair,
                    version: None,
                    sent,
                    // The price the client holds passes the TTL then, wherever it came from.
                    expires_ms: sent.map(|[_, _, published]| {
                        let ms = i64::try_from(published / 1_000_000).unwrap_or(i64::MAX);
                        ms.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX))
                    }),
                    unavailable: false,
                }
            })
            .collect();
        Cursor { pairs, ttl_ms }
    }

    /// The pairs followed, in order.
    pub fn pairs(&self) -> impl Iterator<Item = Pair> + '_ {
        self.pairs.iter().map(|c| c.pair)
    }

    /// Whether `pair` is followed.
    pub fn follows(&self, pair: Pair) -> bool {
        self.pairs.iter().any(|c| c.pair == pair)
    }

    /// Follows more pairs (WebSocket subscribe); already followed ones are kept as they are.
    /// Returns the pairs added.
    pub fn add(&mut self, pairs: &[Pair], resume: &[(Pair, Key)]) -> Vec<Pair> {
        let added: Vec<Pair> = pairs
            .iter()
            .copied()
            .filter(|p| !self.follows(*p))
            .collect();
        let fresh = Cursor::new(&added, self.ttl_ms, resume);
        self.pairs.extend(fresh.pairs);
        added
    }

    /// Stops following `pairs`; returns those that were followed.
    pub fn remove(&mut self, pairs: &[Pair]) -> Vec<Pair> {
        let removed: Vec<Pair> = pairs.iter().copied().filter(|p| self.follows(*p)).collect();
        self.pairs.retain(|c| !removed.contains(&c.pair));
        removed
    }

    /// Appends to `out` what the client has not been told yet: for every pair whose version
    /// moved, its newest price if newer than the one sent, or that it is unavailable; for
    /// every pair whose price passed the TTL, that it is unavailable. Returns the number of
    /// prices skipped (conflated).
    pub fn collect(&mut self, board: &Board, now_ms: i64, out: &mut Vec<Event>) -> u64 {
        let mut conflated = 0;
        for c in &mut self.pairs {
            let version = board.version(c.pair);
            if c.version != Some(version) {
                if let Some(seen) = c.version {
                    // One of the versions since is the one sent (or found stale) now.
                    conflated += version.saturating_sub(seen).saturating_sub(1);
                }
                c.version = Some(version);
                match board.snapshot(c.pair) {
                    Some(entry) if entry.age_ms(now_ms) <= self.ttl_ms => {
                        let key = event_id::key_of(entry.message());
                        if c.sent.is_none_or(|sent| key > sent) {
                            c.sent = Some(key);
                            c.expires_ms = Some(expiry(&entry, self.ttl_ms));
                            c.unavailable = false;
                            out.push(Event::Price(entry));
                        }
                        continue;
                    }
                    found => {
                        if !c.unavailable {
                            let miss = found.map_or(Miss::NotFound, |_| Miss::Expired);
                            c.unavailable = true;
                            c.expires_ms = None;
                            out.push(Event::Unavailable(c.pair, miss));
                        }
                        continue;
                    }
                }
            }
            if c.expires_ms.is_some_and(|at| now_ms > at) {
                c.expires_ms = None;
                c.unavailable = true;
                out.push(Event::Unavailable(c.pair, Miss::Expired));
            }
        }
        conflated
    }

    /// When the next shown price passes the TTL (Unix ms), if any is shown.
    pub fn next_expiry_ms(&self) -> Option<i64> {
        self.pairs.iter().filter_map(|c| c.expires_ms).min()
    }

    /// The keys sent so far, to build the id of each event of a batch ([`SentKeys`]).
    pub fn sent_keys(&self) -> SentKeys {
        SentKeys(self.pairs.iter().map(|c| (c.pair, c.sent)).collect())
    }

    /// The resume id of what was sent so far ([`event_id`]).
    #[cfg(test)]
    pub fn event_id(&self) -> String {
        self.sent_keys()
            .event_id(&event_id::Memo::default())
            .to_string()
    }
}

/// The last key sent per pair, advanced event by event while a batch is written, so each
/// event's id covers exactly what was sent up to it.
#[derive(Debug, Clone)]
pub struct SentKeys(Vec<event_id::Position>);

impl SentKeys {
    /// `entry` was sent.
    pub fn sent(&mut self, entry: &Entry) {
        if let Some(slot) = self.0.iter_mut().find(|(p, _)| *p == entry.pair()) {
            slot.1 = Some(event_id::key_of(entry.message()));
        }
    }

    /// The resume id ([`event_id`]), shared through `memo` with clients in the same position.
    pub fn event_id(&self, memo: &event_id::Memo) -> Arc<str> {
        memo.id(&self.0)
    }
}

/// The last Unix ms at which `entry` is still within the TTL.
fn expiry(entry: &Entry, ttl_ms: u64) -> i64 {
    let published = entry.message().published_at.as_millisecond();
    published.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use common::message::SCHEMA_VERSION;
    use common::{Price, Source};
    use jiff::Timestamp;

    use super::*;

    fn pair(name: &str) -> Pair {
        Pair::parse(name).expect("known")
    }

    fn entry(pair: &str, price: &str, ms: i64) -> Arc<Entry> {
        let at = Timestamp::from_millisecond(ms).expect("ts");
        Arc::new(Entry::new(common::PriceMessage {
            v: SCHEMA_VERSION,
            pair: Pair::parse(pair).expect("known"),
            price: Price::parse(price).expect("valid"),
            source: Source::Ws,
            exchange_time: Some(at),
            as_of: None,
            received_at: at,
            published_at: at,
            seq: 1,
            ingestor: Arc::from("i"),
        }))
    }

    fn shown(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Price(e) => format!("{} {}", e.pair(), e.message().price.as_str()),
                Event::Unavailable(p, m) => format!("{p} {}", m.label()),
            })
            .collect()
    }

    const T: i64 = 1_783_486_481_000;

    #[test]
    fn snapshot_then_only_changes_with_skipped_ones_counted() {
        let board = Board::new();
        board.offer(entry("BTC/USD", "1", T));
        let mut cursor = Cursor::new(&[pair("BTC/USD"), pair("ETH/USD")], 30_000, &[]);
        let mut out = Vec::new();
        assert_eq!(cursor.collect(&board, T + 5, &mut out), 0);
        assert_eq!(shown(&out), ["BTC/USD 1", "ETH/USD not_found"]);
        out.clear();
        assert_eq!(cursor.collect(&board, T + 6, &mut out), 0);
        assert!(out.is_empty(), "nothing moved: nothing sent");
        for (i, p) in ["2", "3", "4"].iter().enumerate() {
            board.offer(entry("BTC/USD", p, T + 10 + i as i64));
        }
        board.offer(entry("ETH/USD", "9", T + 10));
        assert_eq!(
            cursor.collect(&board, T + 20, &mut out),
            2,
            "2 and 3 conflated"
        );
        assert_eq!(shown(&out), ["BTC/USD 4", "ETH/USD 9"]);
    }

    #[test]
    fn a_price_past_the_ttl_becomes_unavailable_once() {
        let board = Board::new();
        board.offer(entry("BTC/USD", "1", T));
        let mut cursor = Cursor::new(&[pair("BTC/USD")], 1_000, &[]);
        let mut out = Vec::new();
        cursor.collect(&board, T, &mut out);
        assert_eq!(cursor.next_expiry_ms(), Some(T + 1_000));
        out.clear();
        cursor.collect(&board, T + 1_001, &mut out);
        assert_eq!(shown(&out), ["BTC/USD expired"]);
        assert_eq!(cursor.next_expiry_ms(), None);
        out.clear();
        cursor.collect(&board, T + 2_000, &mut out);
        assert!(out.is_empty());
        board.offer(entry("BTC/USD", "2", T + 2_000));
        cursor.collect(&board, T + 2_001, &mut out);
        assert_eq!(shown(&out), ["BTC/USD 2"], "back when a new price comes");
    }

    #[test]
    fn resume_sends_only_what_changed_and_never_older() {
        let board = Board::new();
        let btc = entry("BTC/USD", "1", T);
        let eth = entry("ETH/USD", "5", T);
        board.offer(btc.clone());
        board.offer(eth.clone());
        // Received BTC as on the board, and an ETH newer than this replica has.
        let resume = [
            (pair("BTC/USD"), event_id::key_of(btc.message())),
            (
                pair("ETH/USD"),
                event_id::key_of(entry("ETH/USD", "6", T + 50).message()),
            ),
        ];
        let mut cursor = Cursor::new(&[pair("BTC/USD"), pair("ETH/USD")], 30_000, &resume);
        let mut out = Vec::new();
        cursor.collect(&board, T + 60, &mut out);
        assert!(out.is_empty(), "{:?}", shown(&out));
        board.offer(entry("ETH/USD", "7", T + 100));
        cursor.collect(&board, T + 110, &mut out);
        assert_eq!(shown(&out), ["ETH/USD 7"]);
    }

    #[test]
    fn the_event_id_resumes_where_the_client_is() {
        let board = Board::new();
        board.offer(entry("BTC/USD", "1", T));
        let pairs = [pair("BTC/USD"), pair("ETH/USD")];
        let mut first = Cursor::new(&pairs, 30_000, &[]);
        first.collect(&board, T, &mut Vec::new());
        let keys = event_id::decode(&first.event_id()).expect("ours");
        let mut second = Cursor::new(&pairs, 30_000, &keys);
        let mut out = Vec::new();
        second.collect(&board, T, &mut out);
        assert_eq!(shown(&out), ["ETH/USD not_found"], "BTC not repeated");
    }

    #[test]
    fn add_and_remove_pairs() {
        let mut cursor = Cursor::new(&[pair("BTC/USD")], 30_000, &[]);
        assert_eq!(
            cursor.add(&[pair("BTC/USD"), pair("ETH/USD")], &[]),
            [pair("ETH/USD")]
        );
        assert_eq!(
            cursor.remove(&[pair("BTC/USD"), pair("LTC/USD")]),
            [pair("BTC/USD")]
        );
        assert_eq!(cursor.pairs().collect::<Vec<_>>(), [pair("ETH/USD")]);
    }
}
