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
//! versions (conflation happens in the reader, never in the feed). A reader of one pair waits
//! on that pair's own channel, so other pairs' prices never wake it: with 10,000 single-pair
//! streams and 50 pairs trading, one shared channel cost 500,000 wake-ups a second for the
//! 10,000 events sent (docs/benchmarks.md, "Streaming").

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
    /// Bumped by the fan-out after any change; readers of several pairs wait on it.
    readers: watch::Sender<()>,
}

#[derive(Debug)]
struct Slot {
    entry: ArcSwapOption<Entry>,
    /// Number of times the entry was replaced; 0 while empty.
    version: AtomicU64,
    /// Bumped by the fan-out after this pair changed; readers of this pair alone wait on it.
    readers: watch::Sender<()>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            entry: ArcSwapOption::empty(),
            version: AtomicU64::new(0),
            readers: watch::Sender::new(()),
        }
    }
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

    /// Like [`Board::watch`], woken only by changes of `pairs` when that is one pair (its own
    /// channel); a reader of several pairs gets the shared one and checks its versions.
    pub fn watch_pairs(&self, pairs: &[Pair]) -> watch::Receiver<()> {
        match pairs {
            [pair] => self.inner.slots[pair.index()].readers.subscribe(),
            _ => self.watch(),
        }
    }

    /// Number of live [`Board::watch`] and [`Board::watch_pairs`] receivers (open streams).
    pub fn watchers(&self) -> usize {
        let single: usize = self
            .inner
            .slots
            .iter()
            .map(|s| s.readers.receiver_count())
            .sum();
        self.inner.readers.receiver_count() + single
    }

    /// Wakes the readers after every change until `token` is cancelled: the one place where
    /// work grows with the number of readers, off the feed's path. Each pair whose version
    /// moved since the last round wakes its own readers, then the shared channel wakes the
    /// rest. An offer after the versions were read leaves a `Notify` permit: the next round
    /// sees it.
    pub async fn fan_out(self, token: CancellationToken) {
        let mut seen: Vec<u64> = vec![0; self.inner.slots.len()];
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = self.inner.changed.notified() => {
                    for (slot, seen) in self.inner.slots.iter().zip(seen.iter_mut()) {
                        let version = slot.version.load(Ordering::Acquire);
                        if version != *seen {
                            *seen = version;
                            slot.readers.send_replace(());
                        }
                    }
                    self.inner.readers.send_replace(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use common::test_support::price_message_at;

    use super::*;

    fn entry(pair: &str, price: &str, at: &str) -> Arc<Entry> {
        Arc::new(Entry::new(price_message_at(
            pair,
            price,
            at.parse().expect("ts"),
        )))
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

    #[tokio::test]
    async fn a_single_pair_reader_is_woken_by_its_pair_only() {
        let board = Board::new();
        let token = CancellationToken::new();
        let fan_out = tokio::spawn(board.clone().fan_out(token.clone()));
        let mut btc = board.watch_pairs(&[pair("BTC/USD")]);
        let mut both = board.watch_pairs(&[pair("BTC/USD"), pair("ETH/USD")]);
        assert_eq!(board.watchers(), 2);
        board.offer(entry("ETH/USD", "1", "2026-01-01T00:00:01Z"));
        tokio::time::timeout(Duration::from_secs(5), both.changed())
            .await
            .expect("the multi-pair reader is woken")
            .expect("sender alive");
        assert!(
            !btc.has_changed().expect("sender alive"),
            "an ETH/USD price does not wake a BTC/USD reader"
        );
        board.offer(entry("BTC/USD", "2", "2026-01-01T00:00:02Z"));
        tokio::time::timeout(Duration::from_secs(5), btc.changed())
            .await
            .expect("woken by its own pair")
            .expect("sender alive");
        token.cancel();
        fan_out.await.expect("fan-out stops on the token");
    }
}
