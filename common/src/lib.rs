//! What the ingestor and query-api agree on: pairs and their Kraken names, the price message
//! and its encodings, NATS subjects and control messages, configuration loading, logging and
//! the shutdown signal, and the parts both binaries run the same way.
//!
//! Modules, from the top; each imports only from the rows below it:
//!
//! | module | what |
//! |---|---|
//! | [`cli`] | a service binary's whole `main`: flags, configuration, logging, signals, exit status |
//! | `test_support` (feature `test-support`) | price-message fixtures for other crates' tests |
//! | [`nats`], [`telemetry`] | connecting to NATS; log lines (a writer thread, JSON or text) and the trace layer |
//! | [`otel`] | trace context through HTTP and NATS headers; the OTLP exporter |
//! | [`config`] | layered configuration loading, sections, validation rules |
//! | [`message`], [`subject`], [`control`] | the price message and its encodings; NATS subjects; refresh and status messages |
//! | [`pair`], [`markets`] | the supported pairs and their four Kraken names |
//! | [`stage`] | latency by stage of a price (histogram per stage, clock skew counted) |
//! | [`metrics`], [`rfc3339`], [`secret`], [`shutdown`], [`tls`] | metric registration; fast RFC 3339 stamps; secrets; the shutdown token; the TLS provider |

pub mod cli;
pub mod config;
pub mod control;
pub mod markets;
pub mod message;
pub mod metrics;
pub mod nats;
pub mod otel;
pub mod pair;
pub mod rfc3339;
pub mod secret;
pub mod shutdown;
pub mod stage;
pub mod subject;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod tls;

pub use message::{Encoding, Price, PriceMessage, Source};
pub use pair::Pair;
pub use subject::Subjects;
