//! The replica's open streams: the caps (per replica, per client), the token that ends them all
//! at shutdown, and a permit per stream that counts it out, with its reason, when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::event_id::Memo;
use crate::config::StreamsConfig;
use crate::metrics::Metrics;

/// Which endpoint a stream came through (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET /api/v1/ltp/stream`.
    Sse,
    /// `GET /api/v1/ltp/ws`.
    Ws,
}

impl Kind {
    /// `sse` or `ws`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sse => "sse",
            Kind::Ws => "ws",
        }
    }
}

/// Why a stream ended (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// The client went away (or the connection failed).
    Client = 0,
    /// The client took nothing for `streams.stall_timeout`.
    Slow = 1,
    /// The replica is stopping.
    Shutdown = 2,
    /// WebSocket: too many bad messages, or a protocol error.
    Protocol = 3,
}

impl Reason {
    /// The label, also the `reason` of a final event.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Client => "client",
            Reason::Slow => "slow",
            Reason::Shutdown => "shutdown",
            Reason::Protocol => "protocol",
        }
    }

    fn from_u8(v: u8) -> Reason {
        match v {
            1 => Reason::Slow,
            2 => Reason::Shutdown,
            3 => Reason::Protocol,
            _ => Reason::Client,
        }
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `streams.max_streams` reached (503).
    ReplicaFull,
    /// `streams.max_per_client` reached for this client (429).
    ClientFull,
}

/// The open streams; clones share them.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: StreamsConfig,
    open: AtomicUsize,
    /// Open streams per client address; entries leave at zero, so the map is bounded by the
    /// open streams.
    per_client: Mutex<HashMap<IpAddr, u32>>,
    closing: CancellationToken,
    metrics: Metrics,
    ids: Memo,
}

impl Hub {
    /// No stream open yet.
    pub fn new(config: StreamsConfig, metrics: Metrics) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                config,
                open: AtomicUsize::new(0),
                per_client: Mutex::new(HashMap::new()),
                closing: CancellationToken::new(),
                metrics,
                ids: Memo::default(),
            }),
        }
    }

    /// The `streams` settings.
    pub fn config(&self) -> &StreamsConfig {
        &self.inner.config
    }

    /// Counts a new stream of `client` in, or says which cap refuses it.
    pub fn open(&self, kind: Kind, client: IpAddr) -> Result<Permit, Refusal> {
        let inner = &self.inner;
        if inner.closing.is_cancelled() {
            return Err(Refusal::ReplicaFull);
        }
        let max = inner.config.max_streams as usize;
        let taken = inner
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        if taken.is_err() {
            inner.metrics.stream_refused(kind.label(), "replica_cap");
            return Err(Refusal::ReplicaFull);
        }
        {
            let mut per_client = lock(&inner.per_client);
            let n = per_client.entry(client).or_insert(0);
            if *n >= inner.config.max_per_client {
                drop(per_client);
                inner.open.fetch_sub(1, Ordering::AcqRel);
                inner.metrics.stream_refused(kind.label(), "client_cap");
                return Err(Refusal::ClientFull);
            }
            *n += 1;
        }
        inner.metrics.stream_opened(kind.label());
        Ok(Permit {
            hub: self.clone(),
            kind,
            client,
            reason: AtomicU8::new(Reason::Client as u8),
        })
    }

    /// The resume ids the streams share ([`Memo`]).
    pub fn ids(&self) -> &Memo {
        &self.inner.ids
    }

    /// Streams open now.
    pub fn open_count(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Cancelled when the replica stops: every stream sends its final event and ends.
    pub fn closing(&self) -> &CancellationToken {
        &self.inner.closing
    }

    /// Ends every stream (SIGTERM) and refuses new ones.
    pub fn close_all(&self) {
        self.inner.closing.cancel();
    }
}

/// One open stream, counted until dropped.
#[derive(Debug)]
pub struct Permit {
    hub: Hub,
    kind: Kind,
    client: IpAddr,
    reason: AtomicU8,
}

impl Permit {
    /// Records why the stream ends (the last call wins; default: the client left).
    pub fn end(&self, reason: Reason) {
        self.reason.store(reason as u8, Ordering::Release);
    }

    /// The reason recorded so far.
    pub fn reason(&self) -> Reason {
        Reason::from_u8(self.reason.load(Ordering::Acquire))
    }

    /// The endpoint.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let inner = &self.hub.inner;
        inner.open.fetch_sub(1, Ordering::AcqRel);
        {
            let mut per_client = lock(&inner.per_client);
            if let Some(n) = per_client.get_mut(&self.client) {
                *n -= 1;
                if *n == 0 {
                    per_client.remove(&self.client);
                }
            }
        }
        inner
            .metrics
            .stream_closed(self.kind.label(), self.reason().label());
    }
}

/// The map is only ever left consistent (no panics while held), so a poisoned lock is usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn hub(max: u32, per_client: u32) -> Hub {
        let config = StreamsConfig {
            max_streams: max,
            max_per_client: per_client,
            ..StreamsConfig::default()
        };
        Hub::new(config, Metrics::new())
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn caps_per_client_then_per_replica_and_release_on_drop() {
        let hub = hub(3, 2);
        let a1 = hub.open(Kind::Sse, ip(1)).expect("first");
        let _a2 = hub.open(Kind::Ws, ip(1)).expect("second");
        assert_eq!(hub.open(Kind::Sse, ip(1)).err(), Some(Refusal::ClientFull));
        let _b1 = hub.open(Kind::Sse, ip(2)).expect("other client");
        assert_eq!(hub.open(Kind::Sse, ip(3)).err(), Some(Refusal::ReplicaFull));
        assert_eq!(hub.open_count(), 3);
        drop(a1);
        assert_eq!(hub.open_count(), 2);
        let _a3 = hub.open(Kind::Sse, ip(1)).expect("room again");
    }

    #[test]
    fn closing_refuses_new_streams() {
        let hub = hub(3, 3);
        let permit = hub.open(Kind::Sse, ip(1)).expect("open");
        permit.end(Reason::Shutdown);
        assert_eq!(permit.reason(), Reason::Shutdown);
        hub.close_all();
        assert!(hub.closing().is_cancelled());
        assert_eq!(hub.open(Kind::Sse, ip(1)).err(), Some(Refusal::ReplicaFull));
    }
}
