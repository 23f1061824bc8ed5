//! Fixtures for the end-to-end tests: NATS and Redis in throwaway containers (or the servers
//! named by `TEST_NATS_URL` / `TEST_REDIS_URL`), a three-node NATS cluster, unique namespaces,
//! an OTLP trace receiver, and waiting by polling.
//!
//! Containers are owned by the fixture value and removed when it is dropped; nothing is held
//! in a `static`, so a crashed test leaks nothing beyond its own run.

mod containers;
mod nats;
mod redis;
mod wait;

pub mod browser;
pub mod cluster;
pub mod ingestor;
pub mod otlp;
pub mod process;
pub mod query_api;
pub mod security;
pub mod sentinel;
pub mod sim;
pub mod sse;

pub use nats::TestNats;
pub use redis::TestRedis;
pub use wait::{eventually, unique_id};

/// Installs a test log subscriber once, when `TEST_LOG` is set (`TEST_LOG=debug cargo test`).
pub fn init_test_logging() {
    use std::sync::Once;
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(level) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(level))
                .with_test_writer()
                .try_init();
        }
    });
}
