//! The in-process cache: one atomically swapped slot per market.
//!
//! Reads are a lock-free pointer load and never wait behind a write. Expiry costs nothing per
//! write: an entry's age is checked when it is read, and a slot holds at most one entry, so
//! memory is bounded by the market table whatever the traffic.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use common::Pair;

use super::entry::Entry;

/// Latest price of every market, indexed by [`Pair::index`]; clones share the slots.
#[derive(Debug, Clone)]
pub struct MemoryCache {
    /// An `Arc` costs a read no more than a `Box` would: one pointer to the slots.
    slots: Arc<[ArcSwapOption<Entry>]>,
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache {
            slots: Pair::all().map(|_| ArcSwapOption::empty()).collect(),
        }
    }
}

impl MemoryCache {
    /// A cache with an empty slot for every market of the table.
    pub fn new() -> MemoryCache {
        MemoryCache::default()
    }

    /// The entry of `pair`, fresh or not (the caller checks the age).
    pub fn get(&self, pair: Pair) -> Option<Arc<Entry>> {
        self.slots[pair.index()].load_full()
    }

    /// Stores `entry` unless the slot holds a newer price; returns whether it was stored.
    pub fn put(&self, entry: Arc<Entry>) -> bool {
        let slot = &self.slots[entry.pair().index()];
        let previous = slot.rcu(|current| match current {
            Some(current) if !entry.replaces(current) => Some(current.clone()),
            _ => Some(entry.clone()),
        });
        previous.is_none_or(|previous| entry.replaces(&previous))
    }

    /// How many markets have an entry (fresh or not).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.load().is_some()).count()
    }

    /// Whether no market has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::message::SCHEMA_VERSION;
    use common::{Price, Source};

    use super::*;
    use crate::cache::Entry;

    fn entry(price: &str, event: &str) -> Arc<Entry> {
        Arc::new(Entry::new(common::PriceMessage {
            v: SCHEMA_VERSION,
            pair: Pair::parse("ETH/USD").expect("known"),
            price: Price::parse(price).expect("valid"),
            source: Source::Ws,
            exchange_time: Some(event.parse().expect("ts")),
            as_of: None,
            received_at: event.parse().expect("ts"),
            published_at: event.parse().expect("ts"),
            seq: 1,
            ingestor: Arc::from("i"),
        }))
    }

    #[test]
    fn never_goes_back_in_time() {
        let cache = MemoryCache::new();
        let eth = Pair::parse("ETH/USD").expect("known");
        assert!(cache.get(eth).is_none() && cache.is_empty());
        assert!(cache.put(entry("2", "2026-01-01T00:00:02Z")));
        assert!(
            !cache.put(entry("1", "2026-01-01T00:00:01Z")),
            "older refused"
        );
        assert_eq!(cache.get(eth).expect("some").message().price.as_str(), "2");
        assert!(cache.put(entry("3", "2026-01-01T00:00:03Z")));
        assert_eq!(cache.get(eth).expect("some").message().price.as_str(), "3");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn concurrent_writers_keep_the_newest() {
        let cache = Arc::new(MemoryCache::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let secs = (i * 4 + t) % 60;
                        cache.put(entry("1", &format!("2026-01-01T00:00:{secs:02}Z")));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let eth = Pair::parse("ETH/USD").expect("known");
        let last = cache.get(eth).expect("some").message().published_at;
        assert_eq!(last.to_string(), "2026-01-01T00:00:59Z");
    }
}
