//! RFC 3339 UTC timestamps with microseconds (`2022-12-25T09:30:59.123456Z`), the form of
//! tracing's default timer and of Kraken's WebSocket stamps, for code that writes one per log
//! line or per ticker message: the date and time of day are formatted once per second, only
//! the microseconds on every call.

use jiff::Timestamp;

/// Remembers the last second it formatted; keep one per thread (in a `thread_local!` or a
/// per-thread buffer).
#[derive(Debug, Clone, Default)]
pub struct MicrosWriter {
    /// The Unix second `prefix` shows; `None` until first used.
    second: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    prefix: String,
}

impl MicrosWriter {
    /// Appends `at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds truncated, not rounded).
    pub fn write(&mut self, out: &mut Vec<u8>, at: Timestamp) {
        let second = at.as_second();
        if self.second != Some(second) {
            self.prefix = at.strftime("%Y-%m-%dT%H:%M:%S").to_string();
            self.second = Some(second);
        }
        out.extend_from_slice(self.prefix.as_bytes());
        // In 0..1_000_000 for every instant after 1970, but of a signed type.
        let mut rest = u32::try_from(at.subsec_microsecond()).unwrap_or(0);
        let mut digits = [b'0'; 7];
        digits[0] = b'.';
        for digit in digits[1..].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend_from_slice(&digits);
        out.push(b'Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(writer: &mut MicrosWriter, at: &str) -> String {
        let mut out = Vec::new();
        writer.write(&mut out, at.parse().expect(at));
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn microseconds_are_kept_and_the_prefix_follows_the_second() {
        let mut w = MicrosWriter::default();
        for (at, text) in [
            (
                "2026-11-25T22:59:04.735208999Z",
                "2026-11-25T22:59:04.735208Z",
            ),
            ("2026-11-25T22:59:05.000007Z", "2026-11-25T22:59:05.000007Z"),
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z"),
            ("2025-04-27T15:38:26.540456Z", "2025-04-27T15:38:26.540456Z"),
            ("2025-04-27T15:38:27.000001Z", "2025-04-27T15:38:27.000001Z"),
            ("1999-12-31T23:59:59.999999Z", "1999-12-31T23:59:59.999999Z"),
        ] {
            assert_eq!(written(&mut w, at), text);
        }
    }
}
