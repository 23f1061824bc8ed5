//! Integration tests of the simulator over real sockets (one binary: one link, shared helpers).

mod client;
mod control_http;
mod faults;
mod prices;
mod rest;
mod throughput;
mod ws;

use std::time::Duration;

/// Polls `check` every 10 ms until it holds, failing the test after 5 s.
pub async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
