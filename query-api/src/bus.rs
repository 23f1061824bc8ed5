//! The NATS side: prices in ([`consumer`]), the warm start ([`warmup`]), and refresh and
//! snapshot requests out to an ingestor ([`requester`]). Everything here writes into the cache;
//! nothing here knows about HTTP.

pub mod consumer;
pub mod requester;
#[cfg(feature = "scripted-refresher")]
mod scripted;
pub mod warmup;

pub use self::requester::{RefreshError, Refresher};
