//! One WS v2 socket: the `status` banner, requests, ticker updates, heartbeats, the idle
//! close, and the faults (drop, close, stall, status changes) it watches.
//!
//! A single task owns the socket and both directions; ticker updates are drained from the
//! broadcast channel in batches and flushed once per batch, so at high rates one syscall
//! carries many frames.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::clock::Stamp;
use crate::faults::SystemStatus;
use crate::request::{self, Subscriptions};
use crate::state::{Shared, Update, WriteAck};
use crate::wire;

type Ws = WebSocketStream<TokioIo<Upgraded>>;
type WsResult = Result<(), tokio_tungstenite::tungstenite::Error>;

/// Updates written per flush at most, so a busy socket still notices faults and requests.
const MAX_BATCH: usize = 1_024;
/// How long a closing handshake may take before the socket is just dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Keeps the open-socket and per-pair subscriber counts right however the task ends.
struct Guard {
    shared: Arc<Shared>,
    subs: Subscriptions,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.counters.ws_open.fetch_sub(1, Relaxed);
        for pair in self.subs.pairs() {
            self.shared.subscribers[pair].fetch_sub(1, Relaxed);
        }
    }
}

/// Serves one upgraded socket until the client leaves, a fault ends it, or shutdown.
pub(crate) async fn serve(mut ws: Ws, shared: Arc<Shared>, id: u64) {
    shared.counters.ws_opened.fetch_add(1, Relaxed);
    shared.counters.ws_open.fetch_add(1, Relaxed);
    let mut updates = shared.updates.subscribe();
    let mut faults = shared.faults.subscribe();
    let mut guard = Guard {
        shared: shared.clone(),
        subs: Subscriptions::new(),
    };
    let connection_id = shared.connection_id();
    let heartbeat_every = shared.config.heartbeat_interval;
    let idle_after = shared.config.idle_timeout;
    let heartbeat = tokio::time::sleep(heartbeat_every);
    let idle = tokio::time::sleep(idle_after);
    tokio::pin!(heartbeat, idle);
    let mut reported: Option<SystemStatus> = None;
    loop {
        // Decide under the watch borrow, act after it (the borrow cannot cross an await).
        let (stalled, system, close_with) = {
            let f = faults.borrow_and_update();
            if id < f.drop_below {
                tracing::debug!(socket = id, "dropping socket");
                return;
            }
            let close_with = f
                .close
                .as_ref()
                .filter(|o| id < o.below)
                .map(|order| CloseFrame {
                    code: CloseCode::from(order.code),
                    reason: Utf8Bytes::from(order.reason.as_str()),
                });
            (f.stalled(id), f.system, close_with)
        };
        if let Some(frame) = close_with {
            close(&mut ws, frame).await;
            return;
        }
        if !stalled && reported != Some(system) {
            let text = Utf8Bytes::from(wire::status(system, connection_id));
            if ws.send(Message::Text(text)).await.is_err() {
                return;
            }
            reported = Some(system);
            heartbeat.as_mut().reset(Instant::now() + heartbeat_every);
        }
        let subscribed = guard.subs.count() > 0;
        let result: WsResult = tokio::select! {
            biased;
            () = shared.token.cancelled() => {
                close(&mut ws, CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() }).await;
                return;
            }
            changed = faults.changed() => match changed {
                Ok(()) => Ok(()),
                Err(_) => return,
            },
            incoming = ws.next(), if !stalled => {
                idle.as_mut().reset(Instant::now() + idle_after);
                let request = match incoming {
                    None | Some(Err(_)) => return,
                    Some(Ok(Message::Text(text))) => Some(text),
                    // Kraken speaks JSON text only; a binary frame gets the malformed reply.
                    Some(Ok(Message::Binary(_))) => Some(Utf8Bytes::from_static("")),
                    // Pings are answered by tungstenite on the next read or write; a Close is
                    // answered likewise and ends the stream.
                    Some(Ok(_)) => None,
                };
                match request {
                    Some(text) => {
                        let frames = request::handle(
                            &text, &mut guard.subs, &shared, connection_id, Stamp::now(),
                        );
                        let wrote = write_frames(&mut ws, frames, &shared).await;
                        heartbeat.as_mut().reset(Instant::now() + heartbeat_every);
                        wrote
                    }
                    None => Ok(()),
                }
            }
            update = updates.recv() => match update {
                Ok(update) if stalled => {
                    discard(&update, &guard.subs);
                    Ok(())
                }
                Ok(update) => {
                    let wrote = write_updates(&mut ws, update, &mut updates, &guard.subs, &shared).await;
                    if matches!(wrote, Ok(true)) {
                        heartbeat.as_mut().reset(Instant::now() + heartbeat_every);
                    }
                    wrote.map(|_| ())
                }
                Err(RecvError::Lagged(n)) => {
                    shared.counters.ticker_missed.fetch_add(n, Relaxed);
                    Ok(())
                }
                Err(RecvError::Closed) => return,
            },
            () = &mut heartbeat, if subscribed && !stalled => {
                heartbeat.as_mut().reset(Instant::now() + heartbeat_every);
                shared.counters.heartbeats.fetch_add(1, Relaxed);
                ws.send(Message::Text(Utf8Bytes::from_static(wire::HEARTBEAT))).await
            }
            () = &mut idle, if !subscribed && !stalled => {
                tracing::debug!(socket = id, "closing idle socket");
                close(&mut ws, CloseFrame { code: CloseCode::Normal, reason: "idle timeout".into() }).await;
                return;
            }
        };
        if result.is_err() {
            return;
        }
    }
}

/// Sends a close frame and waits briefly for the client's answer.
async fn close(ws: &mut Ws, frame: CloseFrame) {
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

async fn write_frames(ws: &mut Ws, frames: Vec<request::Frame>, shared: &Shared) -> WsResult {
    for frame in frames {
        if let Some(pair) = frame.ticker {
            shared.counters.ticker_written(pair, 1);
        }
        ws.feed(Message::Text(frame.text)).await?;
    }
    ws.flush().await
}

/// A stalled socket throws updates away; awaited ones still count as dealt with.
fn discard(update: &Update, subs: &Subscriptions) {
    if let (Some(ack), Some(_)) = (&update.ack, subs.get(update.pair)) {
        ack.done(false);
    }
}

/// Writes `first` and whatever else is already queued (up to [`MAX_BATCH`]) with one flush.
/// Returns whether anything was written.
async fn write_updates(
    ws: &mut Ws,
    first: Update,
    updates: &mut tokio::sync::broadcast::Receiver<Update>,
    subs: &Subscriptions,
    shared: &Shared,
) -> Result<bool, tokio_tungstenite::tungstenite::Error> {
    let mut acks: Vec<(Arc<WriteAck>, bool)> = Vec::new();
    let mut written = 0usize;
    let mut next = Some(first);
    let mut seen = 0;
    while let Some(update) = next.take() {
        seen += 1;
        if let Some(sub) = subs.get(update.pair) {
            let fresh = update.seq > sub.covered;
            if fresh {
                ws.feed(Message::Text(update.text)).await?;
                shared.counters.ticker_written(update.pair, 1);
                written += 1;
            }
            if let Some(ack) = update.ack {
                acks.push((ack, fresh));
            }
        }
        if seen >= MAX_BATCH {
            break;
        }
        next = loop {
            match updates.try_recv() {
                Ok(u) => break Some(u),
                Err(TryRecvError::Lagged(n)) => {
                    shared.counters.ticker_missed.fetch_add(n, Relaxed);
                }
                Err(_) => break None,
            }
        };
    }
    if written > 0 {
        ws.flush().await?;
    }
    for (ack, fresh) in acks {
        ack.done(fresh);
    }
    Ok(written > 0)
}
