//! The price cache: in this process or in Redis, chosen by `cache.backend`.
//!
//! Whatever the backend, the cache holds at most one price per pair, never replaces a price
//! with an older one, and serves a price only while its age is within the TTL (the maximum age
//! served): an older one is reported as expired, never served. The TTL (and a client's
//! `max_age`, `freshness.rs`) is enforced here, in [`Cache::lookup_within`]; Redis also drops a
//! key when its price's freshness runs out.
//!
//! With Redis, a read also looks at the [`Board`], the newest price of every pair this replica
//! received itself (from NATS or a refresh): it serves the newer of Redis's price and the
//! board's (the ordering rule decides, so a replica never serves an older price than Redis
//! holds, nor than it has already seen), and when Redis cannot be asked it serves the board's,
//! within the TTL, marked [`Degraded`].

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
pub use self::outcome::{Degraded, Error, Found, Lookup, Miss, Offer};
pub use self::redis::RedisCache;
use crate::freshness::{Freshness, Verdict};
use crate::readiness::CacheState;

/// The cache backend; clones share the same prices.
#[derive(Debug, Clone)]
pub enum Cache {
    /// In this process.
    Memory(MemoryCache),
    /// Shared by every replica.
    Redis(RedisCache),
}

impl Cache {
    /// The fresh entry of each pair, in the order asked: one Redis round trip for all of them,
    /// or this replica's own prices (`board`) when Redis cannot be asked. `ttl_ms` is the
    /// maximum age served.
    pub async fn lookup(&self, pairs: &[Pair], now_ms: i64, ttl_ms: u64, board: &Board) -> Found {
        self.lookup_within(pairs, now_ms, Freshness::ttl(ttl_ms), board)
            .await
    }

    /// The same with a client's `max_age` too: a price older than it is [`Miss::Stale`].
    pub async fn lookup_within(
        &self,
        pairs: &[Pair],
        now_ms: i64,
        limits: Freshness,
        board: &Board,
    ) -> Found {
        let (lookups, degraded) = match self {
            Cache::Memory(memory) => (
                pairs
                    .iter()
                    .map(|&pair| fresh(memory.get(pair).ok_or(Miss::NotFound), now_ms, limits))
                    .collect(),
                None,
            ),
            Cache::Redis(redis) => match redis.get_many(pairs).await {
                Some(stored) => (
                    pairs
                        .iter()
                        .zip(stored)
                        .map(|(&pair, found)| {
                            fresh(newer(found, board.snapshot(pair)), now_ms, limits)
                        })
                        .collect(),
                    None,
                ),
                None => (
                    pairs
                        .iter()
                        .map(|&pair| {
                            // Nothing of its own to serve: Redis might have had it.
                            let own = board.snapshot(pair).ok_or(Miss::Unavailable);
                            fresh(own, now_ms, limits).map_err(|_| Miss::Unavailable)
                        })
                        .collect(),
                    Some(Degraded::RedisUnavailable),
                ),
            },
        };
        Found { lookups, degraded }
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

    /// Whether the shared cache answers (Redis reachable); without it reads are served from
    /// this replica's own prices, [`Degraded`].
    pub fn is_available(&self) -> bool {
        match self {
            Cache::Memory(_) => true,
            Cache::Redis(redis) => redis.is_up(),
        }
    }

    /// The cache's state for `/ready`: Redis down after it answered once is degraded (reads
    /// are served from this replica's own prices); never reached is unreachable.
    pub fn state(&self) -> CacheState {
        match self {
            Cache::Memory(_) => CacheState::Ready,
            Cache::Redis(redis) if redis.is_up() => CacheState::Ready,
            Cache::Redis(redis) if redis.reached() => {
                CacheState::Degraded(Degraded::RedisUnavailable.as_str())
            }
            Cache::Redis(_) => CacheState::Unreachable,
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

/// The ordering rule between what Redis holds for a pair and the newest price this replica
/// received: the newer one, Redis's when they are equal; this replica's when Redis has none
/// or an unreadable one.
fn newer(stored: Lookup, own: Option<Arc<Entry>>) -> Lookup {
    match (stored, own) {
        (Ok(stored), Some(own)) if !stored.replaces(&own) => Ok(own),
        (Ok(stored), _) => Ok(stored),
        (Err(_), Some(own)) => Ok(own),
        (Err(miss), None) => Err(miss),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::message::SCHEMA_VERSION;
    use common::{Price, PriceMessage, Source};

    use super::*;

    fn entry(price: &str, published: &str) -> Arc<Entry> {
        let at = published.parse().expect("ts");
        Arc::new(Entry::new(PriceMessage {
            v: SCHEMA_VERSION,
            pair: Pair::parse("BTC/USD").expect("known"),
            price: Price::parse(price).expect("valid"),
            source: Source::Ws,
            exchange_time: Some(at),
            as_of: Some(at),
            received_at: at,
            published_at: at,
            seq: 1,
            ingestor: Arc::from("i"),
        }))
    }

    fn price(found: &Lookup) -> Result<&str, Miss> {
        found
            .as_ref()
            .map(|e| e.message().price.as_str())
            .map_err(|m| *m)
    }

    #[test]
    fn a_read_serves_the_newer_of_redis_and_its_own() {
        let old = entry("1", "2026-01-01T00:00:01Z");
        let new = entry("2", "2026-01-01T00:00:02Z");
        assert_eq!(price(&newer(Ok(old.clone()), Some(new.clone()))), Ok("2"));
        assert_eq!(price(&newer(Ok(new.clone()), Some(old.clone()))), Ok("2"));
        assert_eq!(price(&newer(Err(Miss::NotFound), Some(old))), Ok("1"));
        assert_eq!(price(&newer(Ok(new), None)), Ok("2"));
        assert_eq!(
            price(&newer(Err(Miss::NotFound), None)),
            Err(Miss::NotFound)
        );
        // Equal: Redis's (the same price, decoded once per change).
        let redis = entry("3", "2026-01-01T00:00:03Z");
        let own = entry("3", "2026-01-01T00:00:03Z");
        let served = newer(Ok(redis.clone()), Some(own)).expect("served");
        assert!(Arc::ptr_eq(&served, &redis));
    }
}
