//! What `/ready` reports: NATS connected, cache reachable, warm-up done, not shutting down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Readiness flags, written by the background tasks and read by `/ready`; clones share them.
#[derive(Debug, Default, Clone)]
pub struct Readiness(Arc<Flags>);

#[derive(Debug, Default)]
struct Flags {
    nats: AtomicBool,
    warm: AtomicBool,
    draining: AtomicBool,
    /// Why the warm-up is not done (last failure), for `/ready`.
    warm_detail: Mutex<String>,
}

/// One dependency's state as `/ready` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `cache`, `nats`, `service` or `warmup`.
    pub name: &'static str,
    /// `None` when ready, else the reason (no internal error text).
    pub problem: Option<String>,
}

impl Readiness {
    /// Set by the warm-up task on every connection change.
    pub fn set_nats(&self, connected: bool) {
        self.0.nats.store(connected, Ordering::Release);
    }

    /// Whether NATS was connected at the last change (for `/ready` and `/metrics`).
    pub fn nats(&self) -> bool {
        self.0.nats.load(Ordering::Acquire)
    }

    /// Records a finished warm-up (every configured pair loaded, or known to have no price).
    pub fn set_warm(&self) {
        self.0.warm.store(true, Ordering::Release);
    }

    /// Records that a warm-up is needed (start, or after a NATS reconnect), and why it is
    /// not done yet.
    pub fn set_cold(&self, detail: impl Into<String>) {
        self.0.warm.store(false, Ordering::Release);
        if let Ok(mut d) = self.0.warm_detail.lock() {
            *d = detail.into();
        }
    }

    /// Whether the warm-up is done.
    pub fn warm(&self) -> bool {
        self.0.warm.load(Ordering::Acquire)
    }

    /// Marks the start of a graceful shutdown: `/ready` turns 503 so load balancers stop
    /// sending new requests while in-flight ones finish.
    pub fn begin_shutdown(&self) {
        self.0.draining.store(true, Ordering::Release);
    }

    /// Every dependency's state; `cache_up` comes from the cache itself.
    pub fn checks(&self, cache_up: bool) -> [Check; 4] {
        let problem = |ok: bool, why: &dyn Fn() -> String| (!ok).then(why);
        [
            Check {
                name: "cache",
                problem: problem(cache_up, &|| "error: cache unreachable".into()),
            },
            Check {
                name: "nats",
                problem: problem(self.nats(), &|| "error: not connected".into()),
            },
            Check {
                name: "service",
                problem: problem(!self.0.draining.load(Ordering::Acquire), &|| {
                    "shutting down".into()
                }),
            },
            Check {
                name: "warmup",
                problem: problem(self.warm(), &|| {
                    let detail = self
                        .0
                        .warm_detail
                        .lock()
                        .map(|d| d.clone())
                        .unwrap_or_default();
                    if detail.is_empty() {
                        "pending".into()
                    } else {
                        format!("pending: {detail}")
                    }
                }),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dependency_must_be_ready() {
        let r = Readiness::default();
        let failing = |r: &Readiness, cache| {
            r.checks(cache)
                .into_iter()
                .filter(|c| c.problem.is_some())
                .map(|c| c.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(failing(&r, false), ["cache", "nats", "warmup"]);
        r.set_nats(true);
        r.set_warm();
        assert!(failing(&r, true).is_empty());
        r.set_cold("no ingestor answered");
        assert_eq!(
            r.checks(true)[3].problem.as_deref(),
            Some("pending: no ingestor answered")
        );
        r.set_warm();
        r.begin_shutdown();
        assert_eq!(failing(&r, true), ["service"]);
    }
}
