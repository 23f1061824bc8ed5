//! The global REST budget: every request to Kraken (polls and refreshes alike) takes a slot,
//! slots are at least [`MIN_SPACING`] apart, and throttling or outages push every slot back
//! with an exponential, jittered penalty that resets on the next success.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Kraken budgets public calls at about one per second (docs/kraken-wire.md §3.5).
pub const MIN_SPACING: Duration = Duration::from_secs(1);
/// First penalty after a throttling answer; doubled per consecutive one.
const PENALTY_BASE: Duration = Duration::from_secs(2);
const PENALTY_MAX: Duration = Duration::from_secs(30);

/// Hands out request slots; shared by every REST caller of one ingestor.
#[derive(Debug)]
pub struct Limiter {
    spacing: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Earliest time the next slot may be used.
    next: Instant,
    /// No request before this (a penalty after throttling).
    blocked_until: Instant,
    /// Consecutive throttling answers.
    streak: u32,
}

impl Limiter {
    /// A limiter with slots `spacing` apart.
    pub fn new(spacing: Duration) -> Limiter {
        let now = Instant::now();
        Limiter {
            spacing,
            state: Mutex::new(State {
                next: now,
                blocked_until: now,
                streak: 0,
            }),
        }
    }

    /// Waits for a slot. Cancel-safe: a dropped wait only wastes its slot.
    pub async fn acquire(&self) {
        loop {
            let slot = {
                let mut s = self.lock();
                let slot = s.next.max(Instant::now()).max(s.blocked_until);
                s.next = slot + self.spacing;
                slot
            };
            tokio::time::sleep_until(slot).await;
            // A penalty imposed while we slept covers our slot too: queue again after it.
            if Instant::now() >= self.lock().blocked_until {
                return;
            }
        }
    }

    /// Kraken throttled us or is unavailable: no request from anyone for a growing, jittered
    /// while. Returns the penalty.
    pub fn throttled(&self) -> Duration {
        let mut s = self.lock();
        s.streak = s.streak.saturating_add(1);
        let ceiling = PENALTY_BASE
            .saturating_mul(1 << (s.streak - 1).min(10))
            .min(PENALTY_MAX);
        // Half fixed, half jitter: never shorter than half the ceiling, so the rate really drops.
        let penalty = ceiling / 2 + ceiling.mul_f64(rand::random::<f64>() / 2.0);
        let until = Instant::now() + penalty;
        s.blocked_until = s.blocked_until.max(until);
        s.next = s.next.max(until);
        penalty
    }

    /// A request succeeded: the next throttling starts from the base penalty again.
    pub fn succeeded(&self) {
        self.lock().streak = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every write is one field.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_whoever_asks() {
        let limiter = std::sync::Arc::new(Limiter::new(MIN_SPACING));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.expect("task"));
        }
        times.sort();
        assert_eq!(times[0], start, "the first slot is immediate");
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= MIN_SPACING, "{:?}", w[1] - w[0]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_pushes_everyone_back_and_grows_until_a_success() {
        let limiter = Limiter::new(MIN_SPACING);
        limiter.acquire().await;
        let before = Instant::now();
        let first = limiter.throttled();
        assert!(
            first >= PENALTY_BASE / 2 && first <= PENALTY_BASE,
            "{first:?}"
        );
        limiter.acquire().await;
        assert!(Instant::now() - before >= first);
        let second = limiter.throttled();
        assert!(second >= PENALTY_BASE, "grows: {second:?}");
        for _ in 0..20 {
            assert!(limiter.throttled() <= PENALTY_MAX);
        }
        limiter.succeeded();
        let reset = limiter.throttled();
        assert!(reset <= PENALTY_BASE, "reset: {reset:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_penalty_imposed_while_waiting_delays_the_waiter() {
        let limiter = std::sync::Arc::new(Limiter::new(MIN_SPACING));
        limiter.acquire().await;
        let l = limiter.clone();
        let waiter = tokio::spawn(async move {
            l.acquire().await;
            Instant::now()
        });
        tokio::task::yield_now().await;
        let start = Instant::now();
        let penalty = limiter.throttled();
        let got = waiter.await.expect("task");
        assert!(got - start >= penalty, "{:?} < {penalty:?}", got - start);
    }
}
