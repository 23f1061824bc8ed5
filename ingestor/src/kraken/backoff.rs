//! When to reconnect (docs/kraken-wire.md §1.10 and §6): a few immediate retries after a random
//! drop, then exponential backoff with full jitter up to a cap; at least 5 s apart after Kraken
//! reported maintenance or refused the upgrade (429/503); and a connection budget well under
//! Cloudflare's ~150 attempts per rolling 10 minutes, whatever else happens.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Retries without waiting after a drop.
const IMMEDIATE: u32 = 3;
/// First backoff step after the immediate retries.
const BASE: Duration = Duration::from_millis(500);
/// Kraken: "no more quickly than once every five seconds" after maintenance.
pub const SLOW_FLOOR: Duration = Duration::from_secs(5);
/// At most this many connection attempts…
const BUDGET: usize = 60;
/// …per this rolling window (Cloudflare bans at about 150).
const WINDOW: Duration = Duration::from_secs(600);

/// Reconnection schedule of one socket.
#[derive(Debug)]
pub struct Backoff {
    max: Duration,
    failures: u32,
    attempts: VecDeque<Instant>,
}

impl Backoff {
    /// A schedule whose exponential part is capped at `max` (`reconnect_max_delay`).
    pub fn new(max: Duration) -> Backoff {
        Backoff {
            max: max.max(BASE),
            failures: 0,
            attempts: VecDeque::with_capacity(BUDGET),
        }
    }

    /// How long to wait before the next attempt. `slow`: Kraken is not `online`, or refused
    /// the upgrade. `jitter` in `[0, 1)` picks the point within the full-jitter range.
    pub fn next_delay(&mut self, now: Instant, slow: bool, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let mut delay = if self.failures <= IMMEDIATE {
            Duration::ZERO
        } else {
            let step = (self.failures - IMMEDIATE - 1).min(16);
            let ceiling = BASE.saturating_mul(1 << step).min(self.max);
            ceiling.mul_f64(jitter.clamp(0.0, 1.0))
        };
        if slow {
            delay = delay.max(SLOW_FLOOR);
        }
        while self
            .attempts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
        {
            self.attempts.pop_front();
        }
        if self.attempts.len() >= BUDGET
            && let Some(&oldest) = self.attempts.front()
        {
            delay = delay.max((oldest + WINDOW).saturating_duration_since(now));
        }
        delay
    }

    /// Records an attempt (for the budget).
    pub fn attempted(&mut self, at: Instant) {
        self.attempts.push_back(at);
    }

    /// The connection proved healthy: the next drop gets immediate retries again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_immediate_retries_then_capped_exponential_full_jitter() {
        let mut b = Backoff::new(Duration::from_secs(30));
        let now = Instant::now();
        for _ in 0..IMMEDIATE {
            assert_eq!(b.next_delay(now, false, 0.99), Duration::ZERO);
        }
        let ceilings: Vec<_> = (0..10)
            .map(|_| b.next_delay(now, false, 0.999_999))
            .collect();
        assert!(ceilings[0] < Duration::from_millis(501), "{ceilings:?}");
        assert!(ceilings[1] > Duration::from_millis(990) && ceilings[1] <= Duration::from_secs(1));
        assert!(ceilings.windows(2).all(|w| w[1] >= w[0]));
        assert!(*ceilings.last().expect("some") <= Duration::from_secs(30));
        assert_eq!(
            b.next_delay(now, false, 0.0),
            Duration::ZERO,
            "full jitter reaches zero"
        );
        b.reset();
        assert_eq!(b.next_delay(now, false, 0.5), Duration::ZERO);
    }

    #[test]
    fn maintenance_and_refusals_wait_at_least_five_seconds() {
        let mut b = Backoff::new(Duration::from_secs(30));
        let now = Instant::now();
        assert_eq!(b.next_delay(now, true, 0.0), SLOW_FLOOR);
    }

    #[test]
    fn the_connection_budget_holds_over_a_rolling_window() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let start = Instant::now();
        let mut now = start;
        let mut attempts = 0;
        // Simulate ten minutes of a server that drops every connection at once.
        while now < start + WINDOW {
            now += b.next_delay(now, false, 0.0);
            if now >= start + WINDOW {
                break;
            }
            b.attempted(now);
            attempts += 1;
        }
        assert_eq!(attempts, BUDGET, "never more than the budget per window");
        const { assert!(BUDGET < 150) };
        // Later attempts are let through as old ones leave the window.
        let wait = b.next_delay(now, false, 0.0);
        assert!(wait <= WINDOW);
    }
}
