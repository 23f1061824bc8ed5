//! REST polling of the pairs in fallback: one coalesced multi-pair call per interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::feed::Feed;
use crate::kraken::fetch::Fetcher;

/// Polls every `interval` until `shutdown`; idle while every pair is streamed.
pub async fn run(
    feed: Arc<Feed>,
    fetcher: Arc<Fetcher>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    // A slow call (retries, throttling) delays the next poll instead of bunching polls up.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let pairs = feed.rest_pairs().await;
        if pairs.is_empty() {
            continue;
        }
        let results = tokio::select! {
            r = fetcher.fetch(&pairs) => r,
            () = shutdown.cancelled() => return,
        };
        for (pair, result) in results {
            match result {
                Ok(fetched) => {
                    feed.on_rest_price(pair, fetched, false).await;
                }
                Err(e) => tracing::debug!(%pair, error = %e, "rest poll without a price"),
            }
        }
    }
}
