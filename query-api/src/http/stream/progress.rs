//! Whether a client takes what is written to it: the stream notes when it hands a chunk to
//! the connection and when the connection asks for the next one; a watchdog ends a stream
//! whose connection has not asked for `streams.stall_timeout` (its client is not reading).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use salvo::conn::ConnCtrl;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use super::hub::{Permit, Reason};

/// Set while a chunk waits for the connection; "waiting since" otherwise.
const ASKED: u64 = u64::MAX;

/// One stream's progress, shared by the stream and its watchdog.
#[derive(Debug)]
pub struct Progress {
    base: Instant,
    /// Milliseconds since `base` when the last chunk was handed over, or [`ASKED`].
    handed_ms: AtomicU64,
    stalled: AtomicBool,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            base: Instant::now(),
            handed_ms: AtomicU64::new(ASKED),
            stalled: AtomicBool::new(false),
        }
    }
}

impl Progress {
    /// The connection asked for the next chunk (it took the last one).
    pub fn polled(&self) {
        self.handed_ms.store(ASKED, Ordering::Release);
    }

    /// A chunk was handed to the connection.
    pub fn handed(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(ASKED - 1);
        self.handed_ms.store(ms, Ordering::Release);
    }

    /// How long the last chunk has waited for the connection, if it has not been taken.
    pub fn waiting_for(&self) -> Option<Duration> {
        let handed = self.handed_ms.load(Ordering::Acquire);
        (handed != ASKED).then(|| {
            self.base
                .elapsed()
                .saturating_sub(Duration::from_millis(handed))
        })
    }

    /// Whether the watchdog gave up on the client (its next chunk is the final event).
    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }
}

/// Watches one stream until `done` is cancelled (the stream ended; it holds the only strong
/// reference to `permit`, so the stream is counted out the moment it is dropped). A client that has not
/// taken a chunk for `timeout` is marked stalled (its next chunk is the final event, `slow`);
/// if it takes nothing within a grace period either, its connection is aborted.
pub async fn watchdog(
    progress: Arc<Progress>,
    permit: Weak<Permit>,
    conn: ConnCtrl,
    timeout: Duration,
    done: CancellationToken,
) {
    let tick = (timeout / 4).max(Duration::from_millis(100));
    let grace = timeout.min(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = done.cancelled() => return,
            () = sleep(tick) => {}
        }
        if progress.waiting_for().is_some_and(|w| w >= timeout) {
            break;
        }
    }
    progress.stalled.store(true, Ordering::Release);
    if let Some(permit) = permit.upgrade() {
        permit.end(Reason::Slow);
        tracing::info!(kind = permit.kind().label(), timeout = ?timeout, "stream client not reading; closing");
    }
    tokio::select! {
        () = done.cancelled() => {}
        () = sleep(grace) => {
            if progress.waiting_for().is_some() {
                conn.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiting_counts_from_the_hand_over_until_asked_again() {
        let p = Progress::default();
        assert_eq!(p.waiting_for(), None);
        p.handed();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(
            p.waiting_for()
                .is_some_and(|w| w >= Duration::from_millis(1500))
        );
        p.polled();
        assert_eq!(p.waiting_for(), None);
    }
}
