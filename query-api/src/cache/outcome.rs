//! What the cache answers: a fresh entry or why there is none, what became of an offered price,
//! why a write failed.

use std::sync::Arc;

use super::entry::Entry;

/// Why a pair has no price to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// No price received yet (or it expired out of Redis).
    NotFound,
    /// A price is known but older than the TTL.
    Expired,
    /// A price within the TTL, but older than the client's `max_age`.
    Stale {
        /// Its age when read.
        age_ms: u64,
    },
    /// The cache could not be asked (Redis down or too slow).
    Unavailable,
    /// The stored value could not be decoded.
    Invalid,
}

impl Miss {
    /// The reason as the seed's error messages end: `key not found`, `key expired`, …
    pub fn reason(self) -> &'static str {
        match self {
            Miss::NotFound => "key not found",
            Miss::Expired => "key expired",
            Miss::Stale { .. } => "older than max_age",
            Miss::Unavailable => "cache unavailable",
            Miss::Invalid => "cached value unreadable",
        }
    }

    /// Short machine-readable form, for metrics and the `reason` field.
    pub fn label(self) -> &'static str {
        match self {
            Miss::NotFound => "not_found",
            Miss::Expired => "expired",
            Miss::Stale { .. } => "stale",
            Miss::Unavailable => "cache_unavailable",
            Miss::Invalid => "invalid",
        }
    }
}

/// A fresh entry, or why there is none.
pub type Lookup = Result<Arc<Entry>, Miss>;

/// What happened to an entry offered by the NATS consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Stored (memory) or queued for the next Redis write.
    Accepted,
    /// A newer price of the pair is already held; the offer was dropped.
    Stale,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis is known to be down: the write was not attempted.
    #[error("redis unavailable")]
    Unavailable,
    /// Redis did not answer within `cache.redis.timeout`.
    #[error("redis timed out")]
    Timeout,
    /// Redis answered with an error or the connection failed.
    #[error("redis error")]
    Redis(#[source] ::redis::RedisError),
}
