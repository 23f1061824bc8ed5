//! The fault switches: what tests can break, and the state open sockets watch.

use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Kraken's engine status (`system` in WS `status`, `status` in REST `SystemStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemStatus {
    /// Normal operation.
    #[default]
    Online,
    /// Down for maintenance.
    Maintenance,
    /// Only order cancellation accepted.
    CancelOnly,
    /// Only post-only orders accepted.
    PostOnly,
}

impl SystemStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemStatus::Online => "online",
            SystemStatus::Maintenance => "maintenance",
            SystemStatus::CancelOnly => "cancel_only",
            SystemStatus::PostOnly => "post_only",
        }
    }
}

impl FromStr for SystemStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "online" => SystemStatus::Online,
            "maintenance" => SystemStatus::Maintenance,
            "cancel_only" => SystemStatus::CancelOnly,
            "post_only" => SystemStatus::PostOnly,
            other => {
                return Err(format!(
                    "unknown system status {other:?} (online, maintenance, cancel_only, post_only)"
                ));
            }
        })
    }
}

/// How REST answers while a fault is set (applies to every `/0/public/*` endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum RestFault {
    /// HTTP 200 `{"error":["EGeneral:Too many requests"]}` (Kraken's public throttle).
    TooManyRequests,
    /// HTTP 200 `{"error":["EService:Unavailable"]}`.
    Unavailable,
    /// HTTP 200 `{"error":[<text>]}` with any error text, e.g. `EService:Busy`.
    Error(String),
    /// An HTTP status from "the edge" (Cloudflare), e.g. 429, 502, 503, 520, with a small
    /// non-Kraken body.
    Http(u16),
}

impl RestFault {
    /// The Kraken error text, for the faults answered inside an HTTP 200 body.
    pub fn error_text(&self) -> Option<&str> {
        match self {
            RestFault::TooManyRequests => Some("EGeneral:Too many requests"),
            RestFault::Unavailable => Some("EService:Unavailable"),
            RestFault::Error(text) => Some(text),
            RestFault::Http(_) => None,
        }
    }
}

/// A token bucket emulating Kraken's public REST throttle: `burst` requests at once, then one
/// more per `refill`; requests beyond it get `EGeneral:Too many requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RestLimit {
    /// Bucket size.
    pub burst: u32,
    /// Time to earn back one request.
    #[serde(with = "humantime_serde_compat")]
    pub refill: Duration,
}

/// The bucket's live state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub limit: RestLimit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(limit: RestLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            at: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let refill = self.limit.refill.as_secs_f64();
        if refill > 0.0 {
            let earned = now.saturating_duration_since(self.at).as_secs_f64() / refill;
            self.tokens = (self.tokens + earned).min(f64::from(self.limit.burst));
        } else {
            self.tokens = f64::from(self.limit.burst);
        }
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Which sockets are stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Stall {
    /// None.
    #[default]
    Off,
    /// Every socket, including ones opened later.
    All,
    /// Sockets with an internal id below this (those open when the stall began).
    Below(u64),
}

/// A close order: sockets with an id below `below` close with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseOrder {
    pub below: u64,
    pub code: u16,
    pub reason: String,
}

/// What every open socket watches (a `tokio::sync::watch` value).
#[derive(Debug, Clone, Default)]
pub(crate) struct SocketFaults {
    /// Sockets with an id below this are dropped without a close frame.
    pub drop_below: u64,
    /// Latest close order.
    pub close: Option<CloseOrder>,
    /// Stall state.
    pub stall: Stall,
    /// Engine status to report.
    pub system: SystemStatus,
}

impl SocketFaults {
    pub fn stalled(&self, id: u64) -> bool {
        match self.stall {
            Stall::Off => false,
            Stall::All => true,
            Stall::Below(n) => id < n,
        }
    }
}

/// `Duration` as humantime text in JSON (`"1s"`).
mod humantime_serde_compat {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_status_round_trips_its_wire_names() {
        for s in [
            SystemStatus::Online,
            SystemStatus::Maintenance,
            SystemStatus::CancelOnly,
            SystemStatus::PostOnly,
        ] {
            assert_eq!(s.as_str().parse::<SystemStatus>(), Ok(s));
        }
        assert!("offline".parse::<SystemStatus>().is_err());
    }

    #[test]
    fn bucket_allows_a_burst_then_one_per_refill() {
        let t0 = Instant::now();
        let mut b = Bucket::new(RestLimit {
            burst: 3,
            refill: Duration::from_secs(1),
        });
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(500)));
        assert!(b.take(t0 + Duration::from_millis(1001)));
        assert!(!b.take(t0 + Duration::from_millis(1002)));
    }

    #[test]
    fn stall_scopes() {
        let mut f = SocketFaults::default();
        assert!(!f.stalled(0));
        f.stall = Stall::Below(5);
        assert!(f.stalled(4) && !f.stalled(5));
        f.stall = Stall::All;
        assert!(f.stalled(99));
    }
}
