//! Waiting for a condition by polling with a deadline (never a bare sleep), and namespaces.

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout` saying `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A short random id for subject prefixes, Redis key prefixes and stream names: `t1a2b3c4d`.
pub fn unique_id() -> String {
    format!("t{:08x}", rand::random::<u32>())
}
