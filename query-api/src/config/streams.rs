//! `streams`: the SSE and WebSocket endpoints' limits and timers, with their rules.

use std::time::Duration;

use common::config::{Invalid, duration};
use serde::{Deserialize, Serialize};

/// `streams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamsConfig {
    /// Streams open at once on this replica, SSE and WebSocket together; one more is answered
    /// 503 with `Retry-After`.
    pub max_streams: u32,
    /// Streams open at once per client address (trusted-proxy aware); one more is answered 429.
    pub max_per_client: u32,
    /// A comment line (SSE) or a ping (WebSocket) after this long without an event, so
    /// proxies keep idle streams open.
    #[serde(with = "duration")]
    pub heartbeat: Duration,
    /// A client that has taken nothing written to it for this long (its connection is full)
    /// is sent a final event saying so and disconnected.
    #[serde(with = "duration")]
    pub stall_timeout: Duration,
    /// The reconnection delay suggested to SSE clients (`retry:`), also in the final event
    /// at shutdown.
    #[serde(with = "duration")]
    pub retry: Duration,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            max_streams: 20_000,
            max_per_client: 64,
            heartbeat: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(60),
            retry: Duration::from_secs(1),
        }
    }
}

impl StreamsConfig {
    /// The rules: positive caps, per client at most per replica, timers within bounds.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.max_streams == 0 {
            return Err(Invalid::new("streams.max_streams", "must be positive"));
        }
        if self.max_per_client == 0 || self.max_per_client > self.max_streams {
            return Err(Invalid::new(
                "streams.max_per_client",
                format!(
                    "must be between 1 and streams.max_streams ({})",
                    self.max_streams
                ),
            ));
        }
        let bounded = [
            (
                "streams.heartbeat",
                self.heartbeat,
                Duration::from_millis(100),
                Duration::from_secs(300),
            ),
            (
                "streams.stall_timeout",
                self.stall_timeout,
                Duration::from_secs(1),
                Duration::from_secs(3600),
            ),
            (
                "streams.retry",
                self.retry,
                Duration::from_millis(100),
                Duration::from_secs(60),
            ),
        ];
        for (key, value, min, max) in bounded {
            if value < min || value > max {
                return Err(Invalid::new(
                    key,
                    format!("{value:?} out of range {min:?}..={max:?}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: impl FnOnce(&mut StreamsConfig)) -> Result<(), &'static str> {
        let mut c = StreamsConfig::default();
        f(&mut c);
        c.validate().map_err(|e| e.key)
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(check(|_| ()), Ok(()));
        assert_eq!(check(|c| c.max_streams = 0), Err("streams.max_streams"));
        assert_eq!(
            check(|c| c.max_per_client = 0),
            Err("streams.max_per_client")
        );
        assert_eq!(
            check(|c| {
                c.max_streams = 10;
                c.max_per_client = 11;
            }),
            Err("streams.max_per_client")
        );
        assert_eq!(
            check(|c| c.heartbeat = Duration::ZERO),
            Err("streams.heartbeat")
        );
        assert_eq!(
            check(|c| c.stall_timeout = Duration::from_millis(10)),
            Err("streams.stall_timeout")
        );
        assert_eq!(
            check(|c| c.retry = Duration::from_secs(61)),
            Err("streams.retry")
        );
    }
}
