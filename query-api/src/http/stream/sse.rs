//! One SSE client: the body of `GET /api/v1/ltp/stream`, produced chunk by chunk as the
//! connection takes them.
//!
//! A chunk is made only when the connection asks for the next one, from the board as it is
//! then: a client that reads slowly is asked for less often and gets, per pair, the newest
//! price (the ones it missed are counted as conflated). Memory per client is its cursor plus
//! the one chunk being written, whatever the traffic.
//!
//! Wire format (`text/event-stream`):
//!
//! ```text
//! retry: 1000                                  (first, the reconnection delay)
//!
//! event: price
//! data: {"pair":"BTC/USD","amount":…}          (exactly a GET /api/v1/ltp item)
//!
//! event: unavailable
//! id: 1.AfGb…                                  (the resume id, see event_id.rs)
//! data: {"pair":"ETH/USD","error":…,"code":"PRICE_FETCH_ERROR","message":…,"reason":"expired"}
//!
//! : keep-alive                                 (heartbeat, after streams.heartbeat idle)
//!
//! event: close
//! retry: 1000
//! data: {"reason":"shutdown","retry_ms":1000}  (last: shutdown or slow)
//! ```
//!
//! Only the last event of a chunk carries the `id:` (of everything sent up to it): a client
//! keeps the last id it saw, and one chunk is one write, so the id is built once per write
//! instead of once per event (for a stream of 50 pairs it is about 1 kB). A client cut off
//! in the middle of a chunk resumes from the chunk before: it may get again a price it had,
//! never miss one.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::Pair;
use futures::Stream;
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep, sleep_until};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::cursor::{Cursor, Event};
use super::event_id::Memo;
use super::hub::{Permit, Reason};
use super::progress::Progress;
use crate::cache::Board;
use crate::http::ltp_body;
use crate::metrics::StreamSeries;

/// Everything one SSE client needs; [`SseClient::into_body`] turns it into the body.
pub struct SseClient {
    pub board: Board,
    pub cursor: Cursor,
    pub closing: CancellationToken,
    pub heartbeat: Duration,
    pub retry: Duration,
    pub series: StreamSeries,
    pub permit: Arc<Permit>,
    pub progress: Arc<Progress>,
    /// The replica's shared ids.
    pub ids: Memo,
    /// Stops the stream's watchdog when the body is dropped.
    pub _done: DropGuard,
}

struct Running {
    client: SseClient,
    watch: watch::Receiver<()>,
    /// Armed for `heartbeat` after the last write; a write does not touch it (one timer
    /// operation per heartbeat, not per event): when it fires early it is armed again.
    heartbeat: Pin<Box<Sleep>>,
    last_write: Instant,
    /// Armed for the Unix ms `expiry_ms` at which the next shown price passes the TTL.
    expiry: Pin<Box<Sleep>>,
    expiry_ms: Option<i64>,
    started: bool,
    finished: bool,
    events: Vec<Event>,
}

impl SseClient {
    /// The response body: snapshot first, then changes, heartbeats and a final event.
    pub fn into_body(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        let pairs: Vec<Pair> = self.cursor.pairs().collect();
        let now = Instant::now();
        let running = Running {
            watch: self.board.watch_pairs(&pairs),
            heartbeat: Box::pin(sleep_until(now + self.heartbeat)),
            last_write: now,
            expiry: Box::pin(sleep_until(now)),
            expiry_ms: None,
            client: self,
            started: false,
            finished: false,
            events: Vec::new(),
        };
        futures::stream::unfold(running, |mut r| async move {
            let chunk = r.next_chunk().await?;
            r.client.progress.handed();
            Some((Ok(chunk), r))
        })
    }
}

impl Running {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        self.client.progress.polled();
        if self.finished {
            return None;
        }
        if !self.started {
            self.started = true;
            let mut out = BytesMut::with_capacity(1024);
            put_retry(&mut out, self.client.retry);
            out.put_slice(b"\n");
            self.collect_into(&mut out);
            return Some(out.freeze());
        }
        loop {
            if self.client.progress.is_stalled() {
                return Some(self.finish(Reason::Slow));
            }
            self.arm_expiry();
            tokio::select! {
                biased;
                () = self.client.closing.cancelled() => return Some(self.finish(Reason::Shutdown)),
                changed = self.watch.changed() => {
                    if changed.is_err() {
                        // The board is gone: the service is stopping.
                        return Some(self.finish(Reason::Shutdown));
                    }
                }
                () = self.expiry.as_mut(), if self.expiry_ms.is_some() => {
                    // Fired: armed again from the cursor after the collect below.
                    self.expiry_ms = None;
                }
                () = self.heartbeat.as_mut() => {
                    let due = self.last_write + self.client.heartbeat;
                    let now = Instant::now();
                    if due > now {
                        self.heartbeat.as_mut().reset(due);
                        continue;
                    }
                    self.client.series.heartbeats.inc();
                    self.last_write = now;
                    self.heartbeat.as_mut().reset(now + self.client.heartbeat);
                    return Some(Bytes::from_static(b": keep-alive\n\n"));
                }
            }
            let mut out = BytesMut::new();
            if self.collect_into(&mut out) > 0 {
                return Some(out.freeze());
            }
        }
    }

    /// Arms the expiry timer when the cursor's next expiry moved (not on every wake-up).
    fn arm_expiry(&mut self) {
        let next = self.client.cursor.next_expiry_ms();
        if next != self.expiry_ms {
            self.expiry_ms = next;
            if let Some(ms) = next {
                self.expiry.as_mut().reset(instant_at(ms));
            }
        }
    }

    /// Appends the events the client has not had; returns how many.
    fn collect_into(&mut self, out: &mut BytesMut) -> usize {
        let now_ms = Timestamp::now().as_millisecond();
        let client = &mut self.client;
        self.events.clear();
        let conflated = client
            .cursor
            .collect(&client.board, now_ms, &mut self.events);
        client.series.conflated.inc_by(conflated);
        let Some((last, rest)) = self.events.split_last() else {
            return 0;
        };
        for event in rest {
            write_event(out, event, None, now_ms, &client.series);
        }
        // The cursor already holds what the whole chunk sends.
        let id = client.cursor.sent_keys().event_id(&client.ids);
        write_event(out, last, Some(&id), now_ms, &client.series);
        self.last_write = Instant::now();
        self.events.len()
    }

    fn finish(&mut self, reason: Reason) -> Bytes {
        self.finished = true;
        self.client.permit.end(reason);
        self.client.series.closes.inc();
        let mut out = BytesMut::with_capacity(96);
        out.put_slice(b"event: close\n");
        put_retry(&mut out, self.client.retry);
        out.put_slice(b"data: {\"reason\":\"");
        out.put_slice(reason.label().as_bytes());
        out.put_slice(b"\",\"retry_ms\":");
        crate::json::push_u64(&mut out, millis(self.client.retry));
        out.put_slice(b"}\n\n");
        out.freeze()
    }
}

/// Writes one event, with `id` (the resume id of everything sent up to and including it) on
/// the last event of a chunk.
fn write_event(
    out: &mut BytesMut,
    event: &Event,
    id: Option<&str>,
    now_ms: i64,
    series: &StreamSeries,
) {
    match event {
        Event::Price(entry) => {
            out.put_slice(b"event: price\n");
            put_id(out, id);
            out.put_slice(b"data: ");
            entry.write_item(out, entry.age_ms(now_ms));
            out.put_slice(b"\n\n");
            series.prices.inc();
            series
                .delivery
                .observe(entry.arrived().elapsed().as_secs_f64());
        }
        Event::Unavailable(pair, miss) => {
            out.put_slice(b"event: unavailable\n");
            put_id(out, id);
            out.put_slice(b"data: ");
            ltp_body::write_miss(out, *pair, *miss);
            out.put_slice(b"\n\n");
            series.unavailable.inc();
        }
    }
}

fn put_id(out: &mut BytesMut, id: Option<&str>) {
    if let Some(id) = id {
        out.put_slice(b"id: ");
        out.put_slice(id.as_bytes());
        out.put_slice(b"\n");
    }
}

fn put_retry(out: &mut BytesMut, retry: Duration) {
    out.put_slice(b"retry: ");
    crate::json::push_u64(out, millis(retry));
    out.put_slice(b"\n");
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The instant of a wall-clock Unix ms (now if past).
pub(super) fn instant_at(unix_ms: i64) -> Instant {
    let now_ms = Timestamp::now().as_millisecond();
    let ahead = u64::try_from(unix_ms.saturating_sub(now_ms).saturating_add(1)).unwrap_or(0);
    Instant::now() + Duration::from_millis(ahead)
}
