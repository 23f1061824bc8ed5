//! One WebSocket client of `GET /api/v1/ltp/ws`: subscriptions, acknowledgements, errors,
//! prices and unavailable events as JSON text messages, pings after quiet periods.
//!
//! Client messages: `{"op":"subscribe","pairs":["BTC/USD"],"since":"1.…"}` (`since`: an `id`
//! received earlier, to get per pair only what changed) and `{"op":"unsubscribe","pairs":[…]}`.
//! Server messages have a `type`: `subscribed` / `unsubscribed` (`pairs`), `price` (the REST
//! item's fields and `id`), `unavailable` (the REST per-pair error), `error` (`error`,
//! `message`: the REST codes and texts, or `INVALID_MESSAGE`) and `close` (`reason`,
//! `retry_ms`) before the server closes. A bad message is answered with an error; more than
//! [`MAX_BAD_MESSAGES`] in a row close the socket (1008). Writes wait for the client at most
//! `streams.stall_timeout`, like SSE's watchdog; while a write waits, changes are conflated.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use jiff::Timestamp;
use salvo::websocket::{Message, WebSocket};
use serde::Deserialize;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::cursor::{Cursor, Event, SentKeys};
use super::event_id::{self, Memo};
use super::hub::{Permit, Reason};
use super::sse::instant_at;
use crate::cache::Board;
use crate::http::ltp_body;
use crate::metrics::StreamSeries;
use crate::params::Served;

/// Bad messages in a row tolerated before the socket is closed.
pub const MAX_BAD_MESSAGES: u32 = 5;
/// Largest client message accepted (a subscription to every market fits many times over).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        pairs: Vec<String>,
        #[serde(default)]
        since: Option<String>,
    },
    Unsubscribe {
        pairs: Vec<String>,
    },
}

/// Everything one WebSocket client needs.
pub struct WsSession {
    pub board: Board,
    pub served: Served,
    pub max_pairs: usize,
    pub ttl_ms: u64,
    pub closing: CancellationToken,
    pub heartbeat: Duration,
    pub retry: Duration,
    pub stall: Duration,
    pub series: StreamSeries,
    pub permit: Arc<Permit>,
    /// The replica's shared ids.
    pub ids: Memo,
}

/// What woke the session.
enum Step {
    Message(Message),
    Collect,
    Ping,
    Close(Reason),
    Gone,
}

impl WsSession {
    /// Serves the socket until the client leaves, misbehaves, stalls or the replica stops.
    pub async fn run(self, mut ws: WebSocket) {
        let mut cursor = Cursor::new(&[], self.ttl_ms, &[]);
        let mut watch = self.board.watch();
        let mut bad = 0u32;
        let mut next_ping = Instant::now() + self.heartbeat;
        loop {
            let expiry = cursor.next_expiry_ms().map(instant_at);
            let step = tokio::select! {
                biased;
                () = self.closing.cancelled() => Step::Close(Reason::Shutdown),
                message = ws.recv() => match message {
                    Some(Ok(message)) => Step::Message(message),
                    Some(Err(_)) => Step::Close(Reason::Protocol),
                    None => Step::Gone,
                },
                changed = watch.changed() => match changed {
                    Ok(()) => Step::Collect,
                    Err(_) => Step::Close(Reason::Shutdown),
                },
                () = sleep_until(expiry.unwrap_or(next_ping)), if expiry.is_some() => Step::Collect,
                () = sleep_until(next_ping) => Step::Ping,
            };
            let mut out = Vec::new();
            match step {
                Step::Gone => return,
                Step::Close(reason) => {
                    self.close(&mut ws, reason).await;
                    return;
                }
                Step::Ping => {
                    self.series.heartbeats.inc();
                    out.push(Message::ping(Vec::new()));
                }
                Step::Collect => self.collect(&mut cursor, &mut out),
                Step::Message(message) => {
                    if message.is_close() {
                        return;
                    }
                    if message.is_ping() || message.is_pong() {
                        continue;
                    }
                    match self.handle(&mut cursor, &message) {
                        Ok(ack) => {
                            bad = 0;
                            out.push(Message::text(ack));
                            self.collect(&mut cursor, &mut out);
                        }
                        Err(error) => {
                            bad += 1;
                            out.push(Message::text(error));
                            if bad > MAX_BAD_MESSAGES {
                                self.send_all(&mut ws, out).await;
                                self.close(&mut ws, Reason::Protocol).await;
                                return;
                            }
                        }
                    }
                }
            }
            if !out.is_empty() {
                next_ping = Instant::now() + self.heartbeat;
            }
            if !self.send_all(&mut ws, out).await {
                return;
            }
        }
    }

    /// Sends `messages`, each within the stall timeout; false when the client is gone or
    /// stalled (then the stream's reason is recorded).
    async fn send_all(&self, ws: &mut WebSocket, messages: Vec<Message>) -> bool {
        for message in messages {
            match timeout(self.stall, ws.send(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return false,
                Err(_) => {
                    self.permit.end(Reason::Slow);
                    tracing::info!(kind = "ws", timeout = ?self.stall, "stream client not reading; closing");
                    return false;
                }
            }
        }
        true
    }

    /// The final `close` message and a close frame.
    async fn close(&self, ws: &mut WebSocket, reason: Reason) {
        self.permit.end(reason);
        self.series.closes.inc();
        let retry_ms = u64::try_from(self.retry.as_millis()).unwrap_or(u64::MAX);
        let text = format!(
            r#"{{"type":"close","reason":"{}","retry_ms":{retry_ms}}}"#,
            reason.label()
        );
        let code = match reason {
            Reason::Protocol => 1008,
            Reason::Shutdown => 1001,
            _ => 1000,
        };
        let _ = timeout(Duration::from_secs(1), async {
            ws.send(Message::text(text)).await?;
            ws.send(Message::close_with(code as u16, reason.label()))
                .await
        })
        .await;
    }

    /// Applies a client message; the acknowledgement or the error to send.
    fn handle(&self, cursor: &mut Cursor, message: &Message) -> Result<String, String> {
        let Ok(text) = message.as_str() else {
            return Err(error(
                "INVALID_MESSAGE",
                "only JSON text messages are accepted",
            ));
        };
        let parsed: ClientMessage = serde_json::from_str(text).map_err(|e| {
            error(
                "INVALID_MESSAGE",
                &format!(r#"expected {{"op":"subscribe"|"unsubscribe","pairs":[…]}}: {e}"#),
            )
        })?;
        let (op, pairs, since) = match parsed {
            ClientMessage::Subscribe { pairs, since } => ("subscribed", pairs, since),
            ClientMessage::Unsubscribe { pairs } => ("unsubscribed", pairs, None),
        };
        if pairs.iter().any(|p| p.contains(',')) {
            return Err(error("INVALID_PARAMETER", "one pair per array element"));
        }
        let pairs = self
            .served
            .parse(Some(&pairs.join(",")), self.max_pairs)
            .map_err(|e| error("INVALID_PARAMETER", &e.to_string()))?;
        let changed = if op == "subscribed" {
            let resume = since
                .as_deref()
                .and_then(event_id::decode)
                .unwrap_or_default();
            cursor.add(&pairs, &resume);
            pairs
        } else {
            cursor.remove(&pairs)
        };
        let names: Vec<&str> = changed.iter().map(|p| p.as_str()).collect();
        Ok(serde_json::json!({ "type": op, "pairs": names }).to_string())
    }

    /// Appends what the client has not been told yet.
    fn collect(&self, cursor: &mut Cursor, out: &mut Vec<Message>) {
        let now_ms = Timestamp::now().as_millisecond();
        let mut keys = cursor.sent_keys();
        let mut events = Vec::new();
        self.series
            .conflated
            .inc_by(cursor.collect(&self.board, now_ms, &mut events));
        for event in &events {
            out.push(Message::text(self.render(event, &mut keys, now_ms)));
        }
    }

    fn render(&self, event: &Event, keys: &mut SentKeys, now_ms: i64) -> String {
        let mut buf = BytesMut::with_capacity(256);
        match event {
            Event::Price(entry) => {
                keys.sent(entry);
                buf.put_slice(b"{\"type\":\"price\",\"id\":\"");
                buf.put_slice(keys.event_id(&self.ids).as_bytes());
                buf.put_slice(b"\",");
                let mut item = BytesMut::with_capacity(entry.item_len() + 8);
                entry.write_item(&mut item, entry.age_ms(now_ms));
                buf.put_slice(&item[1..]);
                self.series.prices.inc();
                self.series
                    .delivery
                    .observe(entry.arrived().elapsed().as_secs_f64());
            }
            Event::Unavailable(pair, miss) => {
                buf.put_slice(b"{\"type\":\"unavailable\",");
                let mut item = BytesMut::new();
                ltp_body::write_miss(&mut item, *pair, *miss);
                buf.put_slice(&item[1..]);
                self.series.unavailable.inc();
            }
        }
        String::from_utf8(buf.to_vec()).unwrap_or_default()
    }
}

fn error(code: &str, message: &str) -> String {
    serde_json::json!({ "type": "error", "error": code, "message": message }).to_string()
}
