//! The ingestor's wall clock: the host's, shifted by `ingestor.clock_offset_ms` (0 outside
//! tests). Every time the ingestor writes into a price message (`received_at`,
//! `published_at`, a REST request's send time) comes from here, so a test can run two
//! ingestors whose clocks disagree on one host.

use jiff::{SignedDuration, Timestamp};

/// Our clock; cheap to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    offset: SignedDuration,
}

impl Clock {
    /// The host's clock shifted by `offset` (positive: ahead).
    pub fn shifted(offset: SignedDuration) -> Clock {
        Clock { offset }
    }

    /// The current time on this clock.
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
            .saturating_add(self.offset)
            .unwrap_or_else(|_| Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_clock_runs_ahead_of_the_host() {
        let clock = Clock::shifted(SignedDuration::from_secs(1));
        let ahead = clock.now().duration_since(Timestamp::now());
        assert!(ahead > SignedDuration::from_millis(900), "{ahead:?}");
        assert!(Clock::default().now() <= Timestamp::now());
    }
}
