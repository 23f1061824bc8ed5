//! Kraken's timestamp formats: RFC 3339 with microseconds (`2022-12-25T09:30:59.123456Z`)
//! for WS `time_in`/`time_out`/`timestamp`, whole seconds for REST `SystemStatus`, and the
//! two-digit-year RFC 1123 form of REST `Time`.
//!
//! Ticker messages are stamped at up to 100 000 per second: each thread keeps a
//! [`MicrosWriter`], which formats the date and time once per second.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use common::rfc3339::MicrosWriter;
use jiff::{SignedDuration, Timestamp};

/// The largest clock offset accepted: a day either way.
const MAX_OFFSET: SignedDuration = SignedDuration::from_hours(24);

/// Kraken's clock as this simulator shows it: ours shifted by an adjustable offset, so tests
/// can run an exchange whose clock is ahead of or behind the client's. Every stamp the
/// simulator writes (ticker `timestamp`, `time_in`/`time_out`, REST `Time` and
/// `SystemStatus`) comes from here.
#[derive(Debug, Default)]
pub struct Clock {
    offset_us: AtomicI64,
}

/// Why a clock offset was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("clock offset {0} is beyond +-24h")]
pub struct OffsetError(pub SignedDuration);

impl Clock {
    /// A clock `offset` from the host's (positive: ahead).
    pub fn new(offset: SignedDuration) -> Result<Clock, OffsetError> {
        let clock = Clock::default();
        clock.set_offset(offset)?;
        Ok(clock)
    }

    /// The current time on this clock.
    pub fn now(&self) -> Stamp {
        Stamp(Timestamp::now() + self.offset())
    }

    /// How far this clock is ahead of the host's (negative: behind).
    pub fn offset(&self) -> SignedDuration {
        SignedDuration::from_micros(self.offset_us.load(Relaxed))
    }

    /// Shifts the clock to `offset` from the host's, at once.
    pub fn set_offset(&self, offset: SignedDuration) -> Result<(), OffsetError> {
        if offset.abs() > MAX_OFFSET {
            return Err(OffsetError(offset));
        }
        let micros = i64::try_from(offset.as_micros()).map_err(|_| OffsetError(offset))?;
        self.offset_us.store(micros, Relaxed);
        Ok(())
    }
}

/// A point in time with the formatters the wire needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(Timestamp);

thread_local! {
    static MICROS: RefCell<MicrosWriter> = RefCell::new(MicrosWriter::default());
}

impl Stamp {
    /// The host's current time (tests; the simulator reads its [`Clock`]).
    #[cfg(test)]
    pub fn now() -> Stamp {
        Stamp(Timestamp::now())
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.as_second()
    }

    /// Appends `2022-12-25T09:30:59.123456Z`.
    pub fn write_micros(self, out: &mut Vec<u8>) {
        MICROS.with(|writer| writer.borrow_mut().write(out, self.0));
    }

    /// `2022-12-25T09:30:59.123456Z` as a string.
    pub fn micros(self) -> String {
        let mut out = Vec::with_capacity(27);
        self.write_micros(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `2023-07-06T18:52:00Z` (REST `SystemStatus`).
    pub fn seconds(self) -> String {
        self.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// `Thu, 06 Jul 23 18:50:48 +0000` (REST `Time`; Kraken uses a two-digit year).
    pub fn rfc1123(self) -> String {
        self.0.strftime("%a, %d %b %y %H:%M:%S +0000").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Stamp {
        Stamp(text.parse().expect(text))
    }

    #[test]
    fn an_offset_clock_runs_ahead_or_behind_the_host() {
        let clock = Clock::new(SignedDuration::from_secs(-10)).expect("within a day");
        let host = Timestamp::now();
        let behind = clock.now().0.duration_since(host);
        assert!(
            behind <= SignedDuration::from_millis(-9_900)
                && behind > SignedDuration::from_secs(-11),
            "{behind:?}"
        );
        clock
            .set_offset(SignedDuration::from_millis(200))
            .expect("within a day");
        assert_eq!(clock.offset(), SignedDuration::from_millis(200));
        assert!(clock.now().0 > Timestamp::now());
        assert!(clock.set_offset(SignedDuration::from_hours(25)).is_err());
        assert_eq!(clock.offset(), SignedDuration::from_millis(200), "kept");
    }

    #[test]
    fn formats_match_the_captured_shapes() {
        let t = at("2023-07-06T18:50:48.000042Z");
        assert_eq!(t.micros(), "2023-07-06T18:50:48.000042Z");
        assert_eq!(t.seconds(), "2023-07-06T18:50:48Z");
        assert_eq!(t.rfc1123(), "Thu, 06 Jul 23 18:50:48 +0000");
        assert_eq!(t.unix_seconds(), 1_688_669_448);
    }

    #[test]
    fn the_cached_prefix_follows_the_second() {
        assert_eq!(
            at("2025-04-27T15:38:26.540456Z").micros(),
            "2025-04-27T15:38:26.540456Z"
        );
        assert_eq!(
            at("2025-04-27T15:38:27.000001Z").micros(),
            "2025-04-27T15:38:27.000001Z"
        );
        assert_eq!(
            at("1999-12-31T23:59:59.999999Z").micros(),
            "1999-12-31T23:59:59.999999Z"
        );
    }
}
