//! The Redis cache, shared by every replica.
//!
//! Key `<cache_prefix><PAIR>`, value the price message's JSON encoding, written with a TTL equal
//! to the price's remaining freshness by a script that refuses to replace a newer price
//! (`store.lua`), so replicas writing the same feed agree. A request reads all its pairs with
//! one `MGET`.
//!
//! Redis is one server or the primary Redis Sentinel names (`redis/link.rs`). Every round trip
//! is bounded by `cache.redis.timeout`. A failure marks Redis down: requests are then answered
//! at once from this replica's own prices (the board, see `cache.rs`) instead of waiting, a probe
//! pings Redis (or asks the sentinels for the primary) every 200 ms, and when it answers again
//! the newest price of every pair is written back (the script keeps any newer one), so
//! everything recovers without a restart, a Sentinel failover included.

mod link;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::Script;
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use common::Pair;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::link::Link;
use super::entry::Entry;
use super::outcome::{Error, Lookup, Miss};
use crate::config::RedisConfig;
use crate::metrics::Metrics;

/// How often Redis is pinged while it answers, and while it does not.
const PROBE_UP: Duration = Duration::from_secs(1);
const PROBE_DOWN: Duration = Duration::from_millis(200);

/// The Redis cache; clones share one connection and state.
#[derive(Debug, Clone)]
pub struct RedisCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    link: Link,
    script: Script,
    timeout: Duration,
    ttl_ms: u64,
    /// `<prefix><PAIR>` of every market, by [`Pair::index`].
    keys: Box<[String]>,
    up: AtomicBool,
    /// Whether Redis has answered once since the start.
    reached: AtomicBool,
    /// Last entry decoded from Redis per pair: reused while Redis returns the same bytes, so a
    /// read decodes only what changed.
    decoded: Box<[ArcSwapOption<Entry>]>,
    /// Newest entry this replica received per pair: written back when Redis returns.
    latest: Box<[ArcSwapOption<Entry>]>,
    /// Entries waiting for the writer, newest per pair.
    pending: Box<[ArcSwapOption<Entry>]>,
    wake_writer: Notify,
    metrics: Metrics,
}

fn slots() -> Box<[ArcSwapOption<Entry>]> {
    Pair::all().map(|_| ArcSwapOption::empty()).collect()
}

impl RedisCache {
    /// Prepares the connection (made lazily, so this never waits for Redis) and starts the
    /// writer and the probe, which stop when `token` is cancelled.
    pub fn start(
        config: &RedisConfig,
        prefix: &str,
        ttl: Duration,
        metrics: Metrics,
        token: &CancellationToken,
        tasks: &TaskTracker,
    ) -> anyhow::Result<RedisCache> {
        let inner = Arc::new(Inner {
            link: Link::open(config)?,
            script: Script::new(include_str!("store.lua")),
            timeout: config.timeout,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            keys: Pair::all()
                .map(|p| format!("{prefix}{}", p.as_str()))
                .collect(),
            up: AtomicBool::new(false),
            reached: AtomicBool::new(false),
            decoded: slots(),
            latest: slots(),
            pending: slots(),
            wake_writer: Notify::new(),
            metrics,
        });
        tasks.spawn(write_loop(inner.clone(), token.clone()));
        tasks.spawn(probe_loop(inner.clone(), token.clone()));
        Ok(RedisCache { inner })
    }

    /// Whether Redis answered the last probe or request.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    /// Whether Redis has answered once since the start.
    pub fn reached(&self) -> bool {
        self.inner.reached.load(Ordering::Acquire)
    }

    /// The stored entry of each pair (fresh or not), with one `MGET`; `None` when Redis could
    /// not be asked (known to be down, failing, or slower than `cache.redis.timeout`).
    pub async fn get_many(&self, pairs: &[Pair]) -> Option<Vec<Lookup>> {
        let inner = &self.inner;
        if !self.is_up() {
            return None;
        }
        let mut conn = inner.link.connection()?;
        let mut cmd = ::redis::cmd("MGET");
        for pair in pairs {
            cmd.arg(&inner.keys[pair.index()]);
        }
        let reply = tokio::time::timeout(
            inner.timeout,
            cmd.query_async::<Vec<Option<Vec<u8>>>>(&mut conn),
        )
        .await;
        match reply {
            Ok(Ok(values)) if values.len() == pairs.len() => Some(
                pairs
                    .iter()
                    .zip(values)
                    .map(|(&pair, value)| inner.decode(pair, value))
                    .collect(),
            ),
            Ok(Ok(_)) => Some(vec![Err(Miss::Invalid); pairs.len()]),
            Ok(Err(err)) => {
                let err = Error::Redis(err);
                inner.failed("read", &err);
                // A command Redis refused while working is not an outage.
                (!err.is_outage()).then(|| vec![Err(Miss::Invalid); pairs.len()])
            }
            Err(_) => {
                inner.failed("read", &Error::Timeout);
                None
            }
        }
    }

    /// Queues an entry for the writer; false when a newer price of the pair is already known.
    pub fn enqueue(&self, entry: Arc<Entry>) -> bool {
        let inner = &self.inner;
        let index = entry.pair().index();
        if !keep_newest(&inner.latest[index], &entry) {
            return false;
        }
        keep_newest(&inner.pending[index], &entry);
        inner.wake_writer.notify_one();
        true
    }

    /// Writes entries now (one round trip) and waits for the result.
    pub async fn write_now(&self, entries: Vec<Arc<Entry>>) -> Result<(), Error> {
        for entry in &entries {
            keep_newest(&self.inner.latest[entry.pair().index()], entry);
        }
        if !self.is_up() {
            return Err(Error::Unavailable);
        }
        self.inner.write(&entries).await
    }

    /// The newest entry this replica received for `pair`.
    pub fn latest(&self, pair: Pair) -> Option<Arc<Entry>> {
        self.inner.latest[pair.index()].load_full()
    }
}

/// Stores `entry` in `slot` unless the slot holds a newer one; returns whether it did.
fn keep_newest(slot: &ArcSwapOption<Entry>, entry: &Arc<Entry>) -> bool {
    let previous = slot.rcu(|current| match current {
        Some(current) if !entry.replaces(current) => Some(current.clone()),
        _ => Some(entry.clone()),
    });
    previous.is_none_or(|previous| entry.replaces(&previous))
}

impl Inner {
    fn decode(&self, pair: Pair, value: Option<Vec<u8>>) -> Lookup {
        let raw = value.ok_or(Miss::NotFound)?;
        let slot = &self.decoded[pair.index()];
        if let Some(known) = slot.load_full()
            && known.json().as_ref() == raw.as_slice()
        {
            return Ok(known);
        }
        match Entry::from_json(Bytes::from(raw)) {
            Ok(entry) if entry.pair() == pair => {
                let entry = Arc::new(entry);
                slot.store(Some(entry.clone()));
                Ok(entry)
            }
            Ok(entry) => {
                tracing::warn!(key = %self.keys[pair.index()], found = %entry.pair(), "redis value is another pair's");
                Err(Miss::Invalid)
            }
            Err(err) => {
                tracing::warn!(key = %self.keys[pair.index()], error = %err, "undecodable redis value");
                Err(Miss::Invalid)
            }
        }
    }

    /// Runs the store script for `entries` (skipping expired ones).
    async fn write(&self, entries: &[Arc<Entry>]) -> Result<(), Error> {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let mut invocation = self.script.prepare_invoke();
        let mut count = 0;
        for entry in entries {
            let remaining = self.ttl_ms.saturating_sub(entry.age_ms(now_ms));
            if remaining == 0 {
                continue;
            }
            invocation
                .key(&self.keys[entry.pair().index()])
                .arg(entry.json().as_ref())
                .arg(entry.order_key())
                .arg(remaining);
            count += 1;
        }
        if count == 0 {
            return Ok(());
        }
        let Some(mut conn) = self.link.connection() else {
            return Err(Error::Unavailable);
        };
        let result =
            tokio::time::timeout(self.timeout, invocation.invoke_async::<Vec<i64>>(&mut conn))
                .await;
        let outcome = match result {
            Ok(Ok(flags)) => {
                let stored = flags.iter().filter(|&&f| f == 1).count();
                self.metrics.cache_set("success", stored as u64);
                self.metrics
                    .cache_set("stale", (flags.len() - stored) as u64);
                return Ok(());
            }
            Ok(Err(err)) => Error::Redis(err),
            Err(_) => Error::Timeout,
        };
        self.metrics.cache_set("error", count);
        self.failed("write", &outcome);
        Err(outcome)
    }

    /// Marks Redis down after a failed round trip (unless the failure was Redis refusing one
    /// command while working fine), forgetting the connection when it came from the sentinels.
    fn failed(&self, op: &str, err: &Error) {
        if !err.is_outage() {
            tracing::error!(op, error = ?err, "redis command failed");
            return;
        }
        self.link.lost();
        if self.up.swap(false, Ordering::AcqRel) {
            self.metrics.set_cache_available(false);
            tracing::warn!(op, error = ?err, "redis unavailable; serving this replica's own prices until it answers");
        }
    }

    /// Whether Redis answers; with Sentinel, also finds the primary when it is not known.
    async fn ping(&self) -> bool {
        // A Sentinel lookup is a few round trips.
        let bound = self.timeout * 6;
        matches!(
            tokio::time::timeout(bound, self.link.probe()).await,
            Ok(true)
        )
    }
}

async fn write_loop(inner: Arc<Inner>, token: CancellationToken) {
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = inner.wake_writer.notified() => {}
        }
        let batch: Vec<Arc<Entry>> = inner.pending.iter().filter_map(|s| s.swap(None)).collect();
        // While Redis is down the batch is dropped: `latest` keeps it, and the probe writes it
        // back when Redis returns.
        if batch.is_empty() || !inner.up.load(Ordering::Acquire) {
            continue;
        }
        let _ = inner.write(&batch).await;
    }
}

async fn probe_loop(inner: Arc<Inner>, token: CancellationToken) {
    loop {
        let up = inner.ping().await;
        let was_up = inner.up.swap(up, Ordering::AcqRel);
        if up != was_up {
            inner.metrics.set_cache_available(up);
            if up {
                inner.reached.store(true, Ordering::Release);
                tracing::info!("redis available");
                for (latest, pending) in inner.latest.iter().zip(inner.pending.iter()) {
                    if let Some(entry) = latest.load_full() {
                        keep_newest(pending, &entry);
                    }
                }
                inner.wake_writer.notify_one();
            } else {
                tracing::warn!(
                    "redis unavailable; serving this replica's own prices until it answers"
                );
            }
        }
        let pause = if up { PROBE_UP } else { PROBE_DOWN };
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}
