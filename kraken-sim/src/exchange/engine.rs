//! The trade engine: one task that simulates trades at the configured rate, round-robin over
//! the offered pairs (a quiet pair's turn passes without a trade).
//!
//! Timers tick at millisecond granularity, so at high rates each wake-up emits every trade
//! that has come due since the last one (about 100 per millisecond at 100 000/s) instead of
//! sleeping per trade.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::Pair;
use tokio::time::Instant;

use super::state::Shared;

/// Trades emitted per wake-up before yielding to other tasks.
const MAX_BATCH: u32 = 2_048;
/// A backlog older than this is forgiven rather than caught up in a burst.
const MAX_LAG: Duration = Duration::from_millis(250);

/// Runs until the simulator's token is cancelled.
pub(crate) async fn run(shared: Arc<Shared>) {
    let pairs: Vec<Pair> = shared.offered_pairs().collect();
    let mut rate = shared.rate.subscribe();
    let mut cursor = 0usize;
    'config: loop {
        let period = rate.borrow_and_update().period(pairs.len());
        let Some(period) = period.filter(|_| !pairs.is_empty()) else {
            tokio::select! {
                () = shared.token.cancelled() => return,
                changed = rate.changed() => if changed.is_err() { return } else { continue 'config },
            }
        };
        let mut next = Instant::now() + period;
        loop {
            tokio::select! {
                () = shared.token.cancelled() => return,
                changed = rate.changed() => if changed.is_err() { return } else { continue 'config },
                () = tokio::time::sleep_until(next) => {}
            }
            let now = Instant::now();
            let mut emitted = 0;
            while next <= now && emitted < MAX_BATCH {
                let pair = pairs[cursor % pairs.len()];
                cursor = cursor.wrapping_add(1);
                // A quiet pair keeps its slot, so the other pairs' rates do not change.
                if !shared.quiet[pair.index()].load(Relaxed) {
                    shared.trade(pair, None, None);
                }
                next += period;
                emitted += 1;
            }
            if now.saturating_duration_since(next) > MAX_LAG {
                next = now;
            }
            if emitted == MAX_BATCH {
                tokio::task::yield_now().await;
            }
        }
    }
}
