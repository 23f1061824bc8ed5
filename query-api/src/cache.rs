//! The price cache: in this process or in Redis, chosen by `cache.backend`.
//!
//! Whatever the backend, the cache holds at most one price per pair, never replaces a price
//! with an older one, and serves a price only while its age is within the TTL (the maximum age
//! served): an older one is reported as expired, never served. The TTL (and a client's
//! `max_age`, `freshness.rs`) is enforced here, in [`Cache::lookup_within`]; Redis also drops a
//! key when its price's freshness runs out.

mod board;
mod entry;
mod memory;
mod outcome;
mod redis;

use std::sync::Arc;

use common::Pair;

pub use self::board::Board;
pub use self::entry::Entry;
pub use self::memory::MemoryCache;
pub use self::outcome::{Error, Lookup, Miss, Offer};
pub use self::redis::RedisCache;
use crate::freshness::{Freshness, Verdict};

/// The cache backend; clones share the same prices.
#[derive(Debug, Clone)]
pub enum Cache {
    /// In this process.
    Memory(MemoryCache),
    /// Shared by every replica.
    Redis(RedisCache),
}

impl Cache {
    /// The fresh entry of each pair, in the order asked: one Redis round trip for all of them.
    /// `ttl_ms` is the maximum age served.
    pub async fn lookup(&self, pairs: &[Pair], now_ms: i64, ttl_ms: u64) -> Vec<Lookup> {
        self.lookup_within(pairs, now_ms, Freshness::ttl(ttl_ms))
            .await
    }

    /// The same with a client's `max_age` too: a price older than it is [`Miss::Stale`].
    pub async fn lookup_within(
        &self,
        pairs: &[Pair],
        now_ms: i64,
        limits: Freshness,
    ) -> Vec<Lookup> {
        match self {
            Cache::Memory(memory) => pairs
                .iter()
                .map(|&pair| fresh(memory.get(pair).ok_or(Miss::NotFound), now_ms, limits))
                .collect(),
            Cache::Redis(redis) => redis
                .get_many(pairs)
                .await
                .into_iter()
                .map(|found| fresh(found, now_ms, limits))
                .collect(),
        }
    }

    /// Offers a price from the NATS feed. Memory: stored at once. Redis: coalesced per pair
    /// and written by a background task, so a burst or a slow Redis never backs up the feed.
    pub fn offer(&self, entry: Arc<Entry>) -> Offer {
        let accepted = match self {
            Cache::Memory(memory) => memory.put(entry),
            Cache::Redis(redis) => redis.enqueue(entry),
        };
        if accepted {
            Offer::Accepted
        } else {
            Offer::Stale
        }
    }

    /// Writes prices now and waits for the write (refresh answers); older prices than the
    /// ones held are silently kept out.
    pub async fn store(&self, entries: Vec<Arc<Entry>>) -> Result<(), Error> {
        match self {
            Cache::Memory(memory) => {
                for entry in entries {
                    memory.put(entry);
                }
                Ok(())
            }
            Cache::Redis(redis) => redis.write_now(entries).await,
        }
    }

    /// Whether reads can currently succeed (Redis reachable).
    pub fn is_available(&self) -> bool {
        match self {
            Cache::Memory(_) => true,
            Cache::Redis(redis) => redis.is_up(),
        }
    }

    /// The newest price of `pair` this replica knows, fresh or not (for metrics).
    pub fn latest(&self, pair: Pair) -> Option<Arc<Entry>> {
        match self {
            Cache::Memory(memory) => memory.get(pair),
            Cache::Redis(redis) => redis.latest(pair),
        }
    }

    /// `memory` or `redis`.
    pub fn backend(&self) -> &'static str {
        match self {
            Cache::Memory(_) => "memory",
            Cache::Redis(_) => "redis",
        }
    }
}

/// The TTL rule: an entry older than the TTL at `now_ms` is [`Miss::Expired`], never served;
/// one older than the client's `max_age` is [`Miss::Stale`].
fn fresh(found: Lookup, now_ms: i64, limits: Freshness) -> Lookup {
    let entry = found?;
    let age_ms = entry.age_ms(now_ms);
    match limits.judge(age_ms) {
        Verdict::Fresh => Ok(entry),
        Verdict::Stale => Err(Miss::Stale { age_ms }),
        Verdict::Expired => Err(Miss::Expired),
    }
}
