//! The NATS side: prices in ([`consumer`]), the warm start ([`warmup`]), the ingestors' status
//! events ([`status`]), and refresh and snapshot requests out to an ingestor ([`requester`]).
//! Everything here writes into the cache or the feed status; nothing here knows about HTTP.

pub mod consumer;
pub mod requester;
#[cfg(feature = "scripted-refresher")]
mod scripted;
pub mod status;
pub mod warmup;

pub use self::requester::{RefreshError, Refresher};
