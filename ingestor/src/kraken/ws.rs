//! The Kraken WebSocket v2 connection: one socket, one `subscribe` for every pair, liveness by
//! "any frame within `fallback_timeout`", application pings, and reconnection forever on the
//! [`Backoff`] schedule. Prices go straight to the [`Feed`]; the socket's state changes too.

use std::sync::Arc;
use std::time::Duration;

use common::Pair;
use futures::{SinkExt, StreamExt};
use jiff::Timestamp;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::frame::{self, Ack, Frame, Subscribe};
use crate::config::KrakenConfig;
use crate::feed::Feed;
use crate::metrics::Metrics;

/// How often liveness is checked (stall detection is this precise).
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A connection that lived this long earns immediate retries again when it drops.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// A symbol refused for rate reasons is subscribed again after this long.
const RATE_RETRY: Duration = Duration::from_secs(5);
/// Bound on the close handshake at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Largest frame accepted; Kraken's ticker frames are well under 1 KiB.
const MAX_MESSAGE: usize = 1 << 20;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a session ended.
struct End {
    reason: String,
    /// Kraken said it is not `online`: reconnect slowly.
    not_online: bool,
    shutdown: bool,
}

/// `wss://` needs a process-wide TLS provider when a build links more than one (a test binary
/// with every crate does); installing ring when none is set makes the choice explicit.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Runs the socket until `shutdown`: connect, subscribe, read, reconnect.
pub async fn run(
    feed: Arc<Feed>,
    config: KrakenConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(config.reconnect_max_delay);
    let mut slow = false;
    let mut first = true;
    // The snapshots that follow the first subscribe would only be held if NATS is not ready
    // yet: give the bus a moment first (not forever: refreshes and /ready want data).
    let nats_wait = async {
        while !feed.nats_ready() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(config.connect_timeout, nats_wait) => {}
        () = shutdown.cancelled() => return,
    }
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    loop {
        if !first {
            let delay = backoff.next_delay(Instant::now(), slow, rand::random::<f64>());
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "reconnecting to kraken later"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return,
            }
        }
        first = false;
        backoff.attempted(Instant::now());
        let connect = tokio_tungstenite::connect_async_with_config(
            config.websocket_url.as_str(),
            Some(ws_config),
            false,
        );
        let attempt = tokio::select! {
            r = tokio::time::timeout(config.connect_timeout, connect) => r,
            () = shutdown.cancelled() => return,
        };
        let socket = match attempt {
            Ok(Ok((socket, _))) => {
                metrics.ws_connects.with_label_values(&["ok"]).inc();
                socket
            }
            Ok(Err(e)) => {
                // Cloudflare's 429/503 on the upgrade: retry, but slowly.
                slow = matches!(&e, tungstenite::Error::Http(r) if matches!(r.status().as_u16(), 429 | 503));
                metrics.ws_connects.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, "kraken websocket connect failed");
                feed.on_socket_down(&format!("connect failed: {e}")).await;
                continue;
            }
            Err(_) => {
                slow = false;
                metrics.ws_connects.with_label_values(&["timeout"]).inc();
                tracing::warn!("kraken websocket connect timed out");
                feed.on_socket_down("connect timed out").await;
                continue;
            }
        };
        let started = Instant::now();
        let end = session(socket, &feed, &config, &metrics, &shutdown).await;
        let kind = if end.shutdown {
            "shutdown"
        } else if end.reason.starts_with("socket stalled") {
            "stalled"
        } else {
            "lost"
        };
        metrics.ws_disconnects.with_label_values(&[kind]).inc();
        if end.shutdown {
            feed.on_shutdown(&end.reason);
            return;
        }
        feed.on_socket_down(&end.reason).await;
        tracing::warn!(reason = %end.reason, "kraken websocket ended");
        if started.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        slow = end.not_online;
    }
}

/// One connection, from subscribe to close.
async fn session(
    socket: Socket,
    feed: &Feed,
    config: &KrakenConfig,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> End {
    let (mut sink, mut stream) = socket.split();
    let symbols: Vec<&'static str> = feed.pairs().iter().map(|p| p.as_str()).collect();
    let mut req_id: u64 = 1;
    let subscribe = Subscribe::ticker(&symbols, config.event_trigger.as_str(), req_id).to_json();
    let write_timeout = config.connect_timeout;
    if let Err(e) = send(&mut sink, subscribe, write_timeout).await {
        return End {
            reason: format!("subscribe failed: {e}"),
            not_online: false,
            shutdown: false,
        };
    }
    feed.restart_grace().await;
    tracing::info!(
        pairs = symbols.len(),
        "kraken websocket connected; subscribe sent"
    );
    // The socket counts as up from its first frame (Kraken sends `status` at once): a server
    // that accepts the upgrade and then says nothing is not a connection.
    let mut up = false;

    let mut frames: u64 = 0;
    let mut counted: u64 = 0;
    let mut last_activity = Instant::now();
    let mut not_online = false;
    let mut retry: Vec<&'static str> = Vec::new();
    let mut retry_at: Option<Instant> = None;
    let mut check = tokio::time::interval(CHECK_EVERY);
    let mut ping =
        tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        // Timers first: under a flood of frames the stream is always ready and must not
        // starve the liveness check.
        tokio::select! {
            biased;
            () = &mut cancelled => {
                close(sink, stream).await;
                return End { reason: "shutting down".into(), not_online, shutdown: true };
            }
            _ = check.tick() => {
                let now = Instant::now();
                if frames != counted {
                    counted = frames;
                    last_activity = now;
                    feed.socket.frames_seen(Timestamp::now());
                } else if now.saturating_duration_since(last_activity) >= config.fallback_timeout {
                    return End {
                        reason: format!(
                            "socket stalled: no frame for {}s",
                            config.fallback_timeout.as_secs_f64()
                        ),
                        not_online,
                        shutdown: false,
                    };
                }
                if retry_at.is_some_and(|t| now >= t) && !retry.is_empty() {
                    req_id += 1;
                    let again = Subscribe::ticker(&retry, config.event_trigger.as_str(), req_id).to_json();
                    retry.clear();
                    retry_at = None;
                    if let Err(e) = send(&mut sink, again, write_timeout).await {
                        return End { reason: format!("subscribe failed: {e}"), not_online, shutdown: false };
                    }
                }
                // Queued protocol pongs go out on flush.
                if let Err(e) = tokio::time::timeout(write_timeout, sink.flush()).await.unwrap_or(Ok(())) {
                    return End { reason: format!("write failed: {e}"), not_online, shutdown: false };
                }
            }
            _ = ping.tick() => {
                req_id += 1;
                if let Err(e) = send(&mut sink, frame::ping(req_id), write_timeout).await {
                    return End { reason: format!("ping failed: {e}"), not_online, shutdown: false };
                }
            }
            msg = stream.next() => {
                let text = match msg {
                    None => return End { reason: "connection closed".into(), not_online, shutdown: false },
                    Some(Err(e)) => return End { reason: format!("read failed: {e}"), not_online, shutdown: false },
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map_or_else(|| "no close frame".to_owned(), |f| format!("{} {}", f.code, f.reason));
                        return End { reason: format!("closed by kraken: {why}"), not_online, shutdown: false };
                    }
                    Some(Ok(_)) => {
                        frames += 1;
                        continue;
                    }
                };
                frames += 1;
                if !up {
                    up = true;
                    feed.on_socket_up();
                }
                match frame::parse(text.as_str()) {
                    Ok(Frame::Ticker(tickers)) => {
                        metrics.frames_ticker.inc();
                        let received_at = Timestamp::now();
                        for item in tickers.iter() {
                            match (item.pair(), item.last_price()) {
                                (Ok(pair), Ok(price)) => {
                                    feed.on_ws_price(pair, price, item.exchange_time(), received_at).await;
                                }
                                (pair, price) => tracing::debug!(
                                    symbol = %item.symbol, pair = ?pair.err(), price = ?price.err(),
                                    "ticker without a usable price"
                                ),
                            }
                        }
                    }
                    Ok(Frame::Heartbeat) => metrics.frames_heartbeat.inc(),
                    Ok(Frame::Ack(ack)) => {
                        metrics.ws_frames.with_label_values(&["ack"]).inc();
                        if let Some(symbol) = on_ack(&ack, feed).await {
                            retry.push(symbol);
                            retry_at.get_or_insert(Instant::now() + RATE_RETRY);
                        }
                    }
                    Ok(Frame::Status(status)) => {
                        metrics.ws_frames.with_label_values(&["status"]).inc();
                        not_online = !status.is_online();
                        let system = status.system.as_deref().unwrap_or("?");
                        if not_online {
                            tracing::warn!(system, connection_id = ?status.connection_id, "kraken engine not online");
                        } else {
                            tracing::info!(system, connection_id = ?status.connection_id, version = ?status.version, "kraken status");
                        }
                    }
                    Ok(Frame::Pong { .. }) => metrics.ws_frames.with_label_values(&["pong"]).inc(),
                    Ok(Frame::Other) => metrics.ws_frames.with_label_values(&["other"]).inc(),
                    Err(e) => {
                        metrics.frames_invalid.inc();
                        tracing::debug!(error = %e, "unreadable frame ignored");
                    }
                }
            }
        }
    }
}

/// Handles a subscribe ack; returns a symbol to subscribe again later (rate-related refusal).
async fn on_ack(ack: &Ack<'_>, feed: &Feed) -> Option<&'static str> {
    if ack.method != "subscribe" || ack.success || ack.already_subscribed() {
        return None;
    }
    let error = ack.error.as_deref().unwrap_or("subscription failed");
    let Some(pair) = ack.symbol.as_deref().and_then(Pair::from_symbol) else {
        tracing::warn!(error, symbol = ?ack.symbol, "kraken refused a subscription");
        return None;
    };
    if ack.rate_limited() {
        tracing::warn!(%pair, error, "subscription refused for rate; retrying");
        return Some(pair.as_str());
    }
    feed.on_rejected(pair, error).await;
    None
}

async fn send<S>(sink: &mut S, text: String, timeout: Duration) -> Result<(), String>
where
    S: SinkExt<Message, Error = tungstenite::Error> + Unpin,
{
    match tokio::time::timeout(timeout, sink.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("write timed out".into()),
    }
}

/// Closes cleanly: a close frame (1000), then wait briefly for Kraken's reply.
async fn close(
    mut sink: futures::stream::SplitSink<Socket, Message>,
    mut stream: futures::stream::SplitStream<Socket>,
) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "shutting down".into(),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            while let Some(Ok(msg)) = stream.next().await {
                if msg.is_close() {
                    break;
                }
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tls_url_fails_cleanly_instead_of_panicking() {
        install_tls_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            // Accept and hang up in the middle of the TLS handshake.
            if let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let result = tokio_tungstenite::connect_async(format!("wss://localhost:{port}/v2")).await;
        assert!(result.is_err());
    }
}
