//! The board: this replica's in-memory view of the newest price of every pair, whatever the
//! cache backend, fed by the NATS consumer, the warm-up and refresh answers.
//!
//! Streams (SSE, WebSocket) read it instead of the cache, so they never poll Redis, and the
//! Redis-outage fallback can read it when Redis does not answer. Each pair has a version that
//! moves whenever its price is replaced; the ordering rule of the bus holds (a price never
//! replaces a newer one: [`Entry::replaces`]).
//!
//! The feed's cost is constant whatever the number of readers: an offer swaps one slot, bumps
//! one counter and wakes one task, the fan-out ([`Board::fan_out`]), which wakes the readers
//! ([`Board::watch`]). A reader woken once for several changes sees all of them through the
//! versions (conflation happens in the reader, never in the feed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use common::Pair;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::entry::Entry;

/// The newest price per pair; clones share the same board.
#[derive(Debug, Clone)]
pub struct Board {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// By [`Pair::index`].
    slots: Box<[Slot]>,
    /// Woken by every accepted offer; waited on by the fan-out only.
    changed: Notify,
    /// Bumped by the fan-out; readers wait on it.
    readers: watch::Sender<()>,
}

#[derive(Debug, Default)]
struct Slot {
    entry: ArcSwapOption<Entry>,
    /// Number of times the entry was replaced; 0 while empty.
    version: AtomicU64,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            inner: Arc::new(Inner {
                slots: Pair::all().map(|_| Slot::default()).collect(),
                changed: Notify::new(),
                readers: watch::Sender::new(()),
            }),
        }
    }
}

impl Board {
    /// An empty board with a slot for every market of the table.
    pub fn new() -> Board {
        Board::default()
    }

    /// Puts `entry` on the board unless a newer price of its pair is there; returns whether it
    /// was put. Never waits (one compare-and-swap loop, one counter, one wake-up).
    pub fn offer(&self, entry: Arc<Entry>) -> bool {
        let slot = &self.inner.slots[entry.pair().index()];
        let previous = slot.entry.rcu(|current| match current {
            Some(current) if !entry.replaces(current) => Some(current.clone()),
            _ => Some(entry.clone()),
        });
        let put = previous
            .is_none_or(|previous| entry.replaces(&previous) && !Arc::ptr_eq(&previous, &entry));
        if put {
            // After the swap: a reader that sees this version finds this entry or a newer one.
            slot.version.fetch_add(1, Ordering::Release);
            self.inner.changed.notify_one();
        }
        put
    }

    /// The newest price of `pair` this replica knows, fresh or not (the reader checks the age).
    pub fn snapshot(&self, pair: Pair) -> Option<Arc<Entry>> {
        self.inner.slots[pair.index()].entry.load_full()
    }

    /// How many times `pair`'s price was replaced (0: never had one). Read before
    /// [`Board::snapshot`], the snapshot is at least as new as this version.
    pub fn version(&self, pair: Pair) -> u64 {
        self.inner.slots[pair.index()]
            .version
            .load(Ordering::Acquire)
    }

    /// A receiver that `changed()` after prices were replaced (once for any number of them)
    /// while [`Board::fan_out`] runs.
    pub fn watch(&self) -> watch::Receiver<()> {
        self.inner.readers.subscribe()
    }

    /// Number of live [`Board::watch`] receivers (open streams).
    pub fn watchers(&self) -> usize {
        self.inner.readers.receiver_count()
    }

    /// Wakes the readers after every change until `token` is cancelled: the one place where
    /// work grows with the number of readers, off the feed's path.
    pub async fn fan_out(self, token: CancellationToken) {
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = self.inner.changed.notified() => {
                    self.inner.readers.send_replace(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use common::message::SCHEMA_VERSION;
    use common::{Price, Source};

    use super::*;

    fn entry(pair: &str, price: &str, at: &str) -> Arc<Entry> {
        Arc::new(Entry::new(common::PriceMessage {
            v: SCHEMA_VERSION,
            pair: Pair::parse(pair).expect("known"),
            price: Price::parse(price).expect("valid"),
            source: Source::Ws,
            exchange_time: Some(at.parse().expect("ts")),
            as_of: None,
            received_at: at.parse().expect("ts"),
            published_at: at.parse().expect("ts"),
            seq: 1,
            ingestor: Arc::from("i"),
        }))
    }

    fn pair(name: &str) -> Pair {
        Pair::parse(name).expect("known")
    }

    #[test]
    fn versions_move_only_for_newer_prices() {
        let board = Board::new();
        let btc = pair("BTC/USD");
        assert!(board.snapshot(btc).is_none());
        assert_eq!(board.version(btc), 0);
        assert!(board.offer(entry("BTC/USD", "2", "2026-01-01T00:00:02Z")));
        assert_eq!(board.version(btc), 1);
        assert!(!board.offer(entry("BTC/USD", "1", "2026-01-01T00:00:01Z")));
        assert_eq!(board.version(btc), 1, "an older price changes nothing");
        let price = board.snapshot(btc).expect("some");
        assert_eq!(price.message().price.as_str(), "2");
        assert!(board.offer(entry("BTC/USD", "3", "2026-01-01T00:00:03Z")));
        assert_eq!(board.version(btc), 2);
        assert_eq!(board.version(pair("ETH/USD")), 0, "other pairs untouched");
    }

    #[test]
    fn offering_the_held_entry_again_is_no_change() {
        let board = Board::new();
        let e = entry("ETH/USD", "5", "2026-01-01T00:00:05Z");
        assert!(board.offer(e.clone()));
        assert!(
            !board.offer(e),
            "same entry (warm-up then feed) is no new version"
        );
        assert_eq!(board.version(pair("ETH/USD")), 1);
    }

    #[test]
    fn concurrent_offers_keep_the_newest() {
        let board = Board::new();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let board = board.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let secs = (i * 4 + t) % 60;
                        board.offer(entry(
                            "LTC/USD",
                            "1",
                            &format!("2026-01-01T00:00:{secs:02}Z"),
                        ));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let last = board.snapshot(pair("LTC/USD")).expect("some");
        assert_eq!(
            last.message().published_at.to_string(),
            "2026-01-01T00:00:59Z"
        );
        assert!(board.version(pair("LTC/USD")) >= 1);
    }

    #[tokio::test]
    async fn readers_are_woken_by_the_fan_out() {
        let board = Board::new();
        let token = CancellationToken::new();
        let fan_out = tokio::spawn(board.clone().fan_out(token.clone()));
        let mut rx = board.watch();
        assert_eq!(board.watchers(), 1);
        board.offer(entry("BTC/USD", "1", "2026-01-01T00:00:01Z"));
        board.offer(entry("BTC/USD", "2", "2026-01-01T00:00:02Z"));
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("woken")
            .expect("sender alive");
        assert_eq!(
            board.version(pair("BTC/USD")),
            2,
            "both changes visible after one wake"
        );
        token.cancel();
        fan_out.await.expect("fan-out stops on the token");
    }
}
