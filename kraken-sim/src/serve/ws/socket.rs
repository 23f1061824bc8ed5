//! One WS v2 socket: the `status` banner, requests, ticker updates, heartbeats, the idle
//! close, and the faults (drop, close, stall, status changes) it watches.
//!
//! A single task owns the socket and both directions; ticker updates are drained from the
//! broadcast channel in batches and flushed once per batch, so at high rates one syscall
//! carries many frames.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::request::{self, Subscriptions};
use crate::exchange::state::{Shared, Update, WriteAck};
use crate::faults::{SocketFaults, SystemStatus};
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

/// The socket is finished: the client left, a fault ended it, or the simulator stops.
struct Gone;

/// Serves one upgraded socket until the client leaves, a fault ends it, or shutdown.
pub(crate) async fn serve(ws: Ws, shared: Arc<Shared>, id: u64) {
    shared.counters.ws_opened.fetch_add(1, Relaxed);
    shared.counters.ws_open.fetch_add(1, Relaxed);
    let mut socket = Socket::new(ws, shared, id);
    while socket.step().await.is_ok() {}
}

/// One socket's task state.
struct Socket {
    ws: Ws,
    /// Internal id, in opening order: fault epochs (drop, close, stall) compare against it.
    id: u64,
    guard: Guard,
    /// The wire `connection_id` of the `status` banner.
    connection_id: u64,
    updates: broadcast::Receiver<Update>,
    faults: watch::Receiver<SocketFaults>,
    /// Sent on a subscribed socket after this long without any other frame.
    heartbeat: Pin<Box<Sleep>>,
    /// Closes a socket without subscriptions after this long without a request.
    idle: Pin<Box<Sleep>>,
    /// The engine status last sent in a `status` frame.
    reported: Option<SystemStatus>,
}

impl Socket {
    fn new(ws: Ws, shared: Arc<Shared>, id: u64) -> Socket {
        let config = &shared.config;
        Socket {
            ws,
            id,
            connection_id: shared.connection_id(),
            updates: shared.updates.subscribe(),
            faults: shared.faults.subscribe(),
            heartbeat: Box::pin(tokio::time::sleep(config.heartbeat_interval)),
            idle: Box::pin(tokio::time::sleep(config.idle_timeout)),
            reported: None,
            guard: Guard {
                shared,
                subs: Subscriptions::new(),
            },
        }
    }

    /// Obeys the faults, then handles whichever comes first: shutdown, a fault change, a
    /// request, ticker updates, the heartbeat or the idle timeout.
    async fn step(&mut self) -> Result<(), Gone> {
        let stalled = self.obey_faults().await?;
        let subscribed = self.guard.subs.count() > 0;
        tokio::select! {
            biased;
            () = self.guard.shared.token.cancelled() => {
                let frame = CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() };
                close(&mut self.ws, frame).await;
                Err(Gone)
            }
            changed = self.faults.changed() => changed.map_err(|_| Gone),
            incoming = self.ws.next(), if !stalled => self.on_incoming(incoming).await,
            update = self.updates.recv() => self.on_update(update, stalled).await,
            () = &mut self.heartbeat, if subscribed && !stalled => {
                self.wrote();
                self.guard.shared.counters.heartbeats.fetch_add(1, Relaxed);
                let heartbeat = Message::Text(Utf8Bytes::from_static(wire::HEARTBEAT));
                self.ws.send(heartbeat).await.map_err(|_| Gone)
            }
            () = &mut self.idle, if !subscribed && !stalled => {
                tracing::debug!(socket = self.id, "closing idle socket");
                let frame = CloseFrame { code: CloseCode::Normal, reason: "idle timeout".into() };
                close(&mut self.ws, frame).await;
                Err(Gone)
            }
        }
    }

    /// Drops or closes the socket when a fault says so, and sends a `status` frame when the
    /// engine status changed; returns whether the socket is stalled.
    async fn obey_faults(&mut self) -> Result<bool, Gone> {
        // Decide under the watch borrow, act after it (the borrow cannot cross an await).
        let (stalled, system, close_with) = {
            let f = self.faults.borrow_and_update();
            if self.id < f.drop_below {
                tracing::debug!(socket = self.id, "dropping socket");
                return Err(Gone);
            }
            let close_with =
                f.close
                    .as_ref()
                    .filter(|o| self.id < o.below)
                    .map(|order| CloseFrame {
                        code: CloseCode::from(order.code),
                        reason: Utf8Bytes::from(order.reason.as_str()),
                    });
            (f.stalled(self.id), f.system, close_with)
        };
        if let Some(frame) = close_with {
            close(&mut self.ws, frame).await;
            return Err(Gone);
        }
        if !stalled && self.reported != Some(system) {
            let text = Utf8Bytes::from(wire::status(system, self.connection_id));
            self.ws.send(Message::Text(text)).await.map_err(|_| Gone)?;
            self.reported = Some(system);
            self.wrote();
        }
        Ok(stalled)
    }

    /// A frame from the client: a request is answered (and resets the idle timer).
    async fn on_incoming(
        &mut self,
        incoming: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), Gone> {
        let idle_after = self.guard.shared.config.idle_timeout;
        self.idle.as_mut().reset(Instant::now() + idle_after);
        let text = match incoming {
            None | Some(Err(_)) => return Err(Gone),
            Some(Ok(Message::Text(text))) => text,
            // Kraken speaks JSON text only; a binary frame gets the malformed reply.
            Some(Ok(Message::Binary(_))) => Utf8Bytes::from_static(""),
            // Pings are answered by tungstenite on the next read or write; a Close is
            // answered likewise and ends the stream.
            Some(Ok(_)) => return Ok(()),
        };
        let shared = &self.guard.shared;
        let frames = request::handle(
            &text,
            &mut self.guard.subs,
            shared,
            self.connection_id,
            shared.clock.now(),
        );
        let wrote = write_frames(&mut self.ws, frames, shared).await;
        self.wrote();
        wrote.map_err(|_| Gone)
    }

    /// Ticker updates from the engine: written in a batch, or thrown away while stalled.
    async fn on_update(
        &mut self,
        update: Result<Update, RecvError>,
        stalled: bool,
    ) -> Result<(), Gone> {
        let shared = &self.guard.shared;
        match update {
            Ok(update) if stalled => {
                discard(&update, &self.guard.subs);
                Ok(())
            }
            Ok(update) => {
                let subs = &self.guard.subs;
                match write_updates(&mut self.ws, update, &mut self.updates, subs, shared).await {
                    Ok(true) => {
                        self.wrote();
                        Ok(())
                    }
                    Ok(false) => Ok(()),
                    Err(_) => Err(Gone),
                }
            }
            Err(RecvError::Lagged(n)) => {
                shared.counters.ticker_missed.fetch_add(n, Relaxed);
                Ok(())
            }
            Err(RecvError::Closed) => Err(Gone),
        }
    }

    /// Something was written: the next heartbeat is due a full interval from now.
    fn wrote(&mut self) {
        let every = self.guard.shared.config.heartbeat_interval;
        self.heartbeat.as_mut().reset(Instant::now() + every);
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
    updates: &mut broadcast::Receiver<Update>,
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
