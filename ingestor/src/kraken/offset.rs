//! A lower bound of Kraken's clock offset (Kraken's clock − ours), so a REST price can be
//! stamped on Kraken's clock (docs/architecture.md, "Ordering").
//!
//! Every Kraken stamp we receive gives one: Kraken wrote `stamp` no later than we read it at
//! `received`, so `stamp − received` is at most the offset, whatever the network delay.
//! The bound is the largest such sample of the last [`WINDOW`] (the tightest; older samples
//! are dropped so a clock that steps or drifts is followed). Sources: ticker `timestamp`s and
//! the `time_out` of acks and pongs, and, when the socket gave nothing within the window,
//! REST `Time` (whole seconds, so a looser bound, asked at most once per window).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

/// How long a sample counts.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Samples are kept as the maximum of each slice of this length.
const SLICE: Duration = Duration::from_secs(5);

/// The estimate, shared by the socket (which feeds it) and every REST caller.
#[derive(Debug, Default)]
pub struct OffsetEstimate {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (start of a slice, largest sample in it), oldest first.
    slices: VecDeque<(Instant, SignedDuration)>,
    /// The last bound known, used (stale) when the window is empty and `Time` failed.
    last_known: Option<SignedDuration>,
    /// When REST `Time` was last asked for.
    time_asked: Option<Instant>,
}

impl OffsetEstimate {
    /// Records that Kraken stamped something `stamp` which we received at `received` (our
    /// clock), at `now`.
    pub fn observe(&self, stamp: Timestamp, received: Timestamp, now: Instant) {
        let sample = stamp.duration_since(received);
        let mut inner = lock(&self.inner);
        inner.expire(now);
        match inner.slices.back_mut() {
            Some((start, max)) if now.saturating_duration_since(*start) < SLICE => {
                *max = (*max).max(sample);
            }
            _ => inner.slices.push_back((now, sample)),
        }
        let bound = inner.bound();
        inner.last_known = bound;
    }

    /// Records REST `Time`'s `unixtime` (whole seconds, rounded down by Kraken), received
    /// at `received`.
    pub fn observe_unixtime(&self, unixtime: i64, received: Timestamp, now: Instant) {
        if let Ok(stamp) = Timestamp::from_second(unixtime) {
            self.observe(stamp, received, now);
        }
    }

    /// The largest sample of the window, if any.
    pub fn lower_bound(&self, now: Instant) -> Option<SignedDuration> {
        let mut inner = lock(&self.inner);
        inner.expire(now);
        inner.bound()
    }

    /// Whether REST `Time` should be asked now: no sample within the window and not asked
    /// within it. Answering true records the ask.
    pub fn time_due(&self, now: Instant) -> bool {
        let mut inner = lock(&self.inner);
        inner.expire(now);
        let asked_recently = inner
            .time_asked
            .is_some_and(|t| now.saturating_duration_since(t) < WINDOW);
        if inner.bound().is_some() || asked_recently {
            return false;
        }
        inner.time_asked = Some(now);
        true
    }

    /// `ours` (a time on our clock) on Kraken's clock, never later than Kraken's clock read
    /// at that moment: shifted by the bound, or the last one known when the window is empty,
    /// or not at all when nothing was ever observed.
    pub fn to_kraken(&self, ours: Timestamp, now: Instant) -> Timestamp {
        let offset = self
            .lower_bound(now)
            .or(lock(&self.inner).last_known)
            .unwrap_or_default();
        ours.saturating_add(offset).unwrap_or(ours)
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        while let Some(&(start, _)) = self.slices.front() {
            if now.saturating_duration_since(start) < WINDOW {
                break;
            }
            self.slices.pop_front();
        }
    }

    fn bound(&self) -> Option<SignedDuration> {
        self.slices.iter().map(|&(_, max)| max).max()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    const OURS: &str = "2026-01-01T00:00:10Z";

    #[test]
    fn the_bound_is_the_largest_sample_and_never_above_the_offset() {
        // Kraken 10 s behind; frames take 5 to 300 ms to arrive.
        let est = OffsetEstimate::default();
        let now = Instant::now();
        for delay_ms in [300, 5, 120] {
            let stamp = ts("2026-01-01T00:00:00Z");
            let received = ts(OURS) + SignedDuration::from_millis(delay_ms);
            est.observe(stamp, received, now);
        }
        assert_eq!(
            est.lower_bound(now),
            Some(SignedDuration::from_millis(-10_005))
        );
        let on_kraken = est.to_kraken(ts("2026-01-01T00:01:00Z"), now);
        assert_eq!(on_kraken, ts("2026-01-01T00:00:49.995Z"));
    }

    #[test]
    fn samples_leave_the_window() {
        let est = OffsetEstimate::default();
        let start = Instant::now();
        est.observe(ts("2026-01-01T00:00:12Z"), ts(OURS), start);
        let later = start + Duration::from_secs(30);
        est.observe(ts("2026-01-01T00:00:11Z"), ts(OURS), later);
        assert_eq!(
            est.lower_bound(later),
            Some(SignedDuration::from_secs(2)),
            "both count"
        );
        let after = start + WINDOW + Duration::from_secs(1);
        assert_eq!(
            est.lower_bound(after),
            Some(SignedDuration::from_secs(1)),
            "the first left"
        );
        assert_eq!(est.lower_bound(later + WINDOW), None, "both left");
        // The last bound known, stale but better than nothing while REST Time is asked.
        assert_eq!(
            est.to_kraken(ts(OURS), later + WINDOW),
            ts("2026-01-01T00:00:12Z")
        );
    }

    #[test]
    fn rest_time_is_asked_only_without_socket_evidence_and_once_a_window() {
        let est = OffsetEstimate::default();
        let start = Instant::now();
        assert_eq!(est.to_kraken(ts(OURS), start), ts(OURS), "nothing known");
        assert!(est.time_due(start));
        assert!(!est.time_due(start + Duration::from_secs(1)), "asked");
        // Kraken 0.2 s ahead answers 1767225610 (…:10Z) at …:10.7 on its clock, read by us
        // at …:10.6: the bound is −0.6 s, below the true +0.2 s.
        est.observe_unixtime(1_767_225_610, ts("2026-01-01T00:00:10.6Z"), start);
        assert_eq!(
            est.lower_bound(start),
            Some(SignedDuration::from_millis(-600))
        );
        assert!(
            est.time_due(start + WINDOW + Duration::from_secs(2)),
            "the Time sample expired too"
        );
        let fresh = OffsetEstimate::default();
        fresh.observe(ts(OURS), ts(OURS), start);
        assert!(!fresh.time_due(start), "the socket gave a sample");
        assert!(fresh.time_due(start + WINDOW), "expired");
    }
}
