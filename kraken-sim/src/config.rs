//! How a simulator is set up: which markets it offers, its seed, how often pairs trade, and
//! the WebSocket timers.

use std::net::SocketAddr;
use std::time::Duration;

use common::Pair;
use jiff::SignedDuration;

/// How often simulated trades happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Each offered pair trades once per interval (pairs are spread evenly over it).
    PerPair(Duration),
    /// This many ticker updates per second in total, round-robin over the offered pairs.
    Total(u32),
    /// No automatic trades; only [`Control::trade_now`](crate::Control::trade_now) trades.
    Manual,
}

impl Rate {
    /// Time between two consecutive trades (of any pair) when `pairs` are active; `None` for
    /// [`Rate::Manual`] or a zero rate.
    pub fn period(self, pairs: usize) -> Option<Duration> {
        match self {
            Rate::Manual | Rate::Total(0) => None,
            Rate::Total(per_second) => Some(Duration::from_secs(1) / per_second),
            Rate::PerPair(interval) => {
                let pairs = u32::try_from(pairs.max(1)).unwrap_or(u32::MAX);
                Some((interval / pairs).max(Duration::from_nanos(1)))
            }
        }
    }
}

/// Everything a [`Simulator`](crate::Simulator) needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Markets offered on WS and REST (default: every market of `common::markets::MARKETS`).
    /// Others in the table answer like unknown pairs.
    pub pairs: Vec<Pair>,
    /// Seed of the price scripts: the same seed gives every pair the same price sequence.
    pub seed: u64,
    /// Automatic trade rate (default: every pair every 2 s).
    pub rate: Rate,
    /// Heartbeat period on subscribed, otherwise silent sockets (default 1 s, like Kraken).
    pub heartbeat_interval: Duration,
    /// A socket with zero subscriptions and no request for this long is closed (default 60 s).
    pub idle_timeout: Duration,
    /// Listen address for HTTP, WS and control (default `127.0.0.1:0`, a free port).
    pub bind: SocketAddr,
    /// Write the undocumented `trades` field seen in 2026 live ticker captures (default
    /// true), so clients prove they ignore unknown fields.
    pub trades_field: bool,
    /// Ticker updates buffered per socket before a slow reader starts missing some
    /// (default 16 384).
    pub buffer: usize,
    /// How far Kraken's clock is ahead of the host's (negative: behind), within a day
    /// (default 0). Changeable at run time with `Control::set_clock_offset`.
    pub clock_offset: SignedDuration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            pairs: Pair::all().collect(),
            seed: 1,
            rate: Rate::PerPair(Duration::from_secs(2)),
            heartbeat_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(60),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            trades_field: true,
            buffer: 16_384,
            clock_offset: SignedDuration::ZERO,
        }
    }
}

impl SimConfig {
    /// Offers only `pairs`, given as canonical symbols (`BTC/USD`).
    pub fn with_pairs(mut self, pairs: &[&str]) -> anyhow::Result<SimConfig> {
        let mut parsed = pairs
            .iter()
            .map(|p| Pair::parse(p).map_err(anyhow::Error::from))
            .collect::<anyhow::Result<Vec<_>>>()?;
        parsed.sort();
        parsed.dedup();
        self.pairs = parsed;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_spread_the_rate_over_pairs() {
        assert_eq!(
            Rate::PerPair(Duration::from_secs(2)).period(4),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            Rate::Total(100_000).period(64),
            Some(Duration::from_micros(10))
        );
        assert_eq!(Rate::Total(0).period(3), None);
        assert_eq!(Rate::Manual.period(3), None);
        assert_eq!(
            Rate::PerPair(Duration::from_secs(1)).period(0),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn with_pairs_validates_and_sorts() {
        let c = SimConfig::default()
            .with_pairs(&["eth/usd", "BTC/USD", "BTC/USD"])
            .expect("valid");
        let names: Vec<_> = c.pairs.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["BTC/USD", "ETH/USD"]);
        assert!(SimConfig::default().with_pairs(&["XBT/USD"]).is_err());
    }
}
