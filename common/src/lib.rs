//! What the ingestor and query-api agree on: pairs and their Kraken names, the price message
//! and its encodings, NATS subjects and control messages, configuration loading, logging and
//! the shutdown signal.

pub mod cli;
pub mod config;
pub mod control;
pub mod markets;
pub mod message;
pub mod metrics;
pub mod nats;
pub mod pair;
pub mod rfc3339;
pub mod secret;
pub mod shutdown;
pub mod subject;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod tls;

pub use message::{Encoding, Price, PriceMessage, Source};
pub use pair::Pair;
pub use subject::Subjects;
