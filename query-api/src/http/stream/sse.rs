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
//! id: 1.AfGb…                                  (the resume id, see event_id.rs)
//! data: {"pair":"BTC/USD","amount":…}          (exactly a GET /api/v1/ltp item)
//!
//! event: unavailable
//! id: 1.AfGb…
//! data: {"pair":"ETH/USD","error":…,"code":"PRICE_FETCH_ERROR","message":…,"reason":"expired"}
//!
//! : keep-alive                                 (heartbeat, after streams.heartbeat idle)
//!
//! event: close
//! retry: 1000
//! data: {"reason":"shutdown","retry_ms":1000}  (last: shutdown or slow)
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::Pair;
use futures::Stream;
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::cursor::{Cursor, Event};
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
    /// Stops the stream's watchdog when the body is dropped.
    pub _done: DropGuard,
}

struct Running {
    client: SseClient,
    watch: watch::Receiver<()>,
    next_heartbeat: Instant,
    started: bool,
    finished: bool,
    events: Vec<Event>,
}

impl SseClient {
    /// The response body: snapshot first, then changes, heartbeats and a final event.
    pub fn into_body(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        let pairs: Vec<Pair> = self.cursor.pairs().collect();
        let running = Running {
            watch: self.board.watch_pairs(&pairs),
            next_heartbeat: Instant::now() + self.heartbeat,
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
            let expiry = self.client.cursor.next_expiry_ms().map(instant_at);
            tokio::select! {
                biased;
                () = self.client.closing.cancelled() => return Some(self.finish(Reason::Shutdown)),
                changed = self.watch.changed() => {
                    if changed.is_err() {
                        // The board is gone: the service is stopping.
                        return Some(self.finish(Reason::Shutdown));
                    }
                }
                () = sleep_until(expiry.unwrap_or(self.next_heartbeat)), if expiry.is_some() => {}
                () = sleep_until(self.next_heartbeat) => {
                    self.client.series.heartbeats.inc();
                    self.next_heartbeat = Instant::now() + self.client.heartbeat;
                    return Some(Bytes::from_static(b": keep-alive\n\n"));
                }
            }
            let mut out = BytesMut::new();
            if self.collect_into(&mut out) > 0 {
                return Some(out.freeze());
            }
        }
    }

    /// Appends the events the client has not had; returns how many.
    fn collect_into(&mut self, out: &mut BytesMut) -> usize {
        let now_ms = Timestamp::now().as_millisecond();
        let client = &mut self.client;
        let mut keys = client.cursor.sent_keys();
        self.events.clear();
        let conflated = client
            .cursor
            .collect(&client.board, now_ms, &mut self.events);
        client.series.conflated.inc_by(conflated);
        for event in &self.events {
            write_event(out, event, &mut keys, now_ms, &client.series);
        }
        if !self.events.is_empty() {
            self.next_heartbeat = Instant::now() + client.heartbeat;
        }
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

/// Writes one event with the resume id of everything sent up to and including it.
fn write_event(
    out: &mut BytesMut,
    event: &Event,
    keys: &mut super::cursor::SentKeys,
    now_ms: i64,
    series: &StreamSeries,
) {
    match event {
        Event::Price(entry) => {
            keys.sent(entry);
            out.put_slice(b"event: price\nid: ");
            out.put_slice(keys.event_id().as_bytes());
            out.put_slice(b"\ndata: ");
            entry.write_item(out, entry.age_ms(now_ms));
            out.put_slice(b"\n\n");
            series.prices.inc();
            series
                .delivery
                .observe(entry.arrived().elapsed().as_secs_f64());
        }
        Event::Unavailable(pair, miss) => {
            out.put_slice(b"event: unavailable\nid: ");
            out.put_slice(keys.event_id().as_bytes());
            out.put_slice(b"\ndata: ");
            ltp_body::write_miss(out, *pair, *miss);
            out.put_slice(b"\n\n");
            series.unavailable.inc();
        }
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
