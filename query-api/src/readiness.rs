//! What `/ready` reports: NATS connected, warm-up done, not shutting down, and the cache's
//! state. A Redis that answered once and is now unreachable makes the cache degraded (the
//! replica serves the prices it receives from NATS itself): reported as such, without making
//! the replica unready. A Redis never reached since the start (down, or refusing this
//! replica's credentials or TLS) makes it unready: a misconfigured replica must not join.

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

/// The cache's state, as the cache reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    /// Answers (memory, or Redis reachable).
    Ready,
    /// Serves at reduced strength; why (`redis-unavailable`).
    Degraded(&'static str),
    /// Redis has not answered once since the start.
    Unreachable,
}

/// One dependency's state as `/ready` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `cache`, `nats`, `service` or `warmup`.
    pub name: &'static str,
    /// `None` when ready, else the reason (no internal error text).
    pub problem: Option<String>,
    /// Ready, but at reduced strength: why (`redis-unavailable`).
    pub degraded: Option<&'static str>,
}

impl Check {
    /// The value `/ready` shows for this dependency.
    pub fn detail(&self) -> String {
        match (&self.problem, self.degraded) {
            (Some(problem), _) => problem.clone(),
            (None, Some(why)) => {
                format!("degraded: {why}, serving the prices this replica receives from NATS")
            }
            (None, None) => "ready".to_owned(),
        }
    }
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

    /// Every dependency's state; `cache` comes from the cache itself.
    pub fn checks(&self, cache: CacheState) -> [Check; 4] {
        let problem = |ok: bool, why: &dyn Fn() -> String| (!ok).then(why);
        [
            Check {
                name: "cache",
                problem: problem(cache != CacheState::Unreachable, &|| {
                    "error: cache unreachable".into()
                }),
                degraded: match cache {
                    CacheState::Degraded(why) => Some(why),
                    _ => None,
                },
            },
            Check {
                name: "nats",
                problem: problem(self.nats(), &|| "error: not connected".into()),
                degraded: None,
            },
            Check {
                name: "service",
                problem: problem(!self.0.draining.load(Ordering::Acquire), &|| {
                    "shutting down".into()
                }),
                degraded: None,
            },
            Check {
                name: "warmup",
                degraded: None,
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
        assert_eq!(
            failing(&r, CacheState::Unreachable),
            ["cache", "nats", "warmup"]
        );
        r.set_nats(true);
        r.set_warm();
        assert!(failing(&r, CacheState::Ready).is_empty());
        r.set_cold("no ingestor answered");
        assert_eq!(
            r.checks(CacheState::Ready)[3].problem.as_deref(),
            Some("pending: no ingestor answered")
        );
        r.set_warm();
        r.begin_shutdown();
        assert_eq!(failing(&r, CacheState::Ready), ["service"]);
    }

    #[test]
    fn a_degraded_cache_is_said_but_not_a_failure() {
        let r = Readiness::default();
        r.set_nats(true);
        r.set_warm();
        let checks = r.checks(CacheState::Degraded("redis-unavailable"));
        assert!(checks.iter().all(|c| c.problem.is_none()));
        assert_eq!(
            checks[0].detail(),
            "degraded: redis-unavailable, serving the prices this replica receives from NATS"
        );
        assert_eq!(checks[1].detail(), "ready");
    }
}
