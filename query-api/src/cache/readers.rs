//! The wake-up channels of one set of board readers (the streams of a pair, or of several
//! pairs), in shards, so that waking thousands of streams does not stop everything else.
//!
//! Waking a reader queues its task; tokio runs queued tasks in order and has no priorities, so
//! one `send` to 10,000 streams put a REST request that arrived just after it behind 10,000
//! stream writes (REST p99 ×4.7 beside 10,000 idle streams, docs/benchmarks.md "Streaming").
//! [`Readers::wake`] wakes one shard at a time and yields between shards: the scheduler polls
//! the network in between, and a request that arrived meanwhile waits for one shard's writes
//! at most. The total work is the same.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

/// Shards per set. A stream joins them in turn, so with `n` readers a shard holds about
/// `n / SHARDS`: 10,000 streams of one pair make shards of ~310, about a millisecond of writes
/// each. A shard is a watch channel of ~450 bytes; 51 sets of 32 are ~0.7 MB.
const SHARDS: usize = 32;

/// Readers woken together; a reader gets a receiver of one shard.
#[derive(Debug)]
pub(super) struct Readers {
    shards: Box<[watch::Sender<()>]>,
    next: AtomicUsize,
}

impl Default for Readers {
    fn default() -> Self {
        Readers {
            shards: (0..SHARDS).map(|_| watch::Sender::new(())).collect(),
            next: AtomicUsize::new(0),
        }
    }
}

impl Readers {
    /// A receiver that `changed()` after the next [`Readers::wake`].
    pub(super) fn subscribe(&self) -> watch::Receiver<()> {
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % SHARDS;
        self.shards[shard].subscribe()
    }

    /// Live receivers.
    pub(super) fn count(&self) -> usize {
        self.shards.iter().map(watch::Sender::receiver_count).sum()
    }

    /// Wakes every reader, shard after shard, yielding to the scheduler between two shards
    /// that have readers.
    pub(super) async fn wake(&self) {
        let mut woken_any = false;
        for shard in &self.shards {
            if shard.receiver_count() == 0 {
                continue;
            }
            if woken_any {
                tokio::task::yield_now().await;
            }
            shard.send_replace(());
            woken_any = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_reader_of_every_shard_is_woken_once() {
        let readers = Readers::default();
        let mut rx: Vec<_> = (0..3 * SHARDS + 5).map(|_| readers.subscribe()).collect();
        assert_eq!(readers.count(), rx.len());
        assert!(rx.iter().all(|r| !r.has_changed().expect("open")));
        readers.wake().await;
        for r in &mut rx {
            assert!(r.has_changed().expect("open"));
            r.mark_unchanged();
        }
        rx.truncate(2);
        assert_eq!(readers.count(), 2);
        readers.wake().await;
        assert!(rx.iter().all(|r| r.has_changed().expect("open")));
    }
}
