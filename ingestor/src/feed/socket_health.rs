//! What the socket task tells the feed about the connection: whether it is up, and when a
//! frame last arrived (read by every check of the feed and by `/ready`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use jiff::Timestamp;

/// What the socket task tells the feed about the connection, read on every check.
#[derive(Debug, Default)]
pub struct SocketHealth {
    up: AtomicBool,
    /// Unix milliseconds of the last frame seen (0: none yet).
    last_frame_ms: AtomicI64,
}

impl SocketHealth {
    /// True between the socket's first frame and the loss of the connection.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Sets whether the socket is up; returns whether it was.
    pub(super) fn set_up(&self, up: bool) -> bool {
        self.up.swap(up, Ordering::AcqRel)
    }

    /// Records that frames arrived up to `at` (called a few times a second, not per frame).
    pub fn frames_seen(&self, at: Timestamp) {
        self.last_frame_ms
            .fetch_max(at.as_millisecond(), Ordering::AcqRel);
    }

    /// When the last frame arrived, while the socket is up.
    pub fn last_frame(&self) -> Option<Timestamp> {
        if !self.is_up() {
            return None;
        }
        match self.last_frame_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Timestamp::from_millisecond(ms).ok(),
        }
    }
}
