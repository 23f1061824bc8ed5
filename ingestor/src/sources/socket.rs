//! The WebSocket source: one connection to Kraken at a time, one `subscribe` for every pair,
//! liveness by "any frame within `fallback_timeout`", application pings, and reconnection
//! forever on the [`Backoff`] schedule. Prices go straight to the [`Feed`], and so do the
//! socket's state changes (up, down, a pair's subscription rejected).

use std::sync::Arc;
use std::time::Duration;

use common::Pair;
use futures::{SinkExt, StreamExt};
use jiff::Timestamp;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KrakenConfig;
use crate::feed::Feed;
use crate::kraken::backoff::Backoff;
use crate::kraken::frame::{self, Ack, Frame, Status, Subscribe, Tickers};
use crate::kraken::socket::{self, ConnectError, Socket};
use crate::metrics::Metrics;

/// How often liveness is checked (stall detection is this precise).
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A connection that lived this long earns immediate retries again when it drops.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// A symbol refused for rate reasons is subscribed again after this long.
const RATE_RETRY: Duration = Duration::from_secs(5);

/// Why a session ended.
#[derive(Debug)]
enum End {
    /// The ingestor is stopping; the socket was closed cleanly.
    Shutdown,
    /// No frame, not even a heartbeat, for `fallback_timeout`.
    Stalled(String),
    /// The connection failed, or Kraken closed it.
    Lost(String),
}

impl End {
    /// The `reason` label of `ingestor_ws_disconnects_total`.
    fn kind(&self) -> &'static str {
        match self {
            End::Shutdown => "shutdown",
            End::Stalled(_) => "stalled",
            End::Lost(_) => "lost",
        }
    }

    fn reason(&self) -> &str {
        match self {
            End::Shutdown => "shutting down",
            End::Stalled(reason) | End::Lost(reason) => reason,
        }
    }
}

/// Runs the socket until `shutdown`: connect, subscribe, read, reconnect.
pub async fn run(
    feed: Arc<Feed>,
    config: KrakenConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    if !wait_for_nats(&feed, config.connect_timeout, &shutdown).await {
        return;
    }
    let mut backoff = Backoff::new(config.reconnect_max_delay);
    let mut slow = false;
    let mut first = true;
    loop {
        if !first && !pause(&mut backoff, slow, &shutdown).await {
            return;
        }
        first = false;
        backoff.attempted(Instant::now());
        let attempt = tokio::select! {
            r = socket::connect(&config.websocket_url, config.connect_timeout) => r,
            () = shutdown.cancelled() => return,
        };
        let socket = match attempt {
            Ok(socket) => {
                metrics.ws_connects.with_label_values(&["ok"]).inc();
                socket
            }
            Err(e) => {
                slow = e.refused();
                report_connect_failure(&e, &metrics);
                feed.on_socket_down(&e.to_string()).await;
                continue;
            }
        };
        let started = Instant::now();
        let (end, not_online) = Session::new(&feed, &config, &metrics)
            .run(socket, &shutdown)
            .await;
        metrics
            .ws_disconnects
            .with_label_values(&[end.kind()])
            .inc();
        if let End::Shutdown = end {
            feed.on_shutdown(end.reason());
            return;
        }
        feed.on_socket_down(end.reason()).await;
        tracing::warn!(reason = %end.reason(), "kraken websocket ended");
        if started.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        slow = not_online;
    }
}

/// The snapshots that follow the first subscribe would only be held if NATS is not ready yet:
/// gives the bus up to `at_most` first (not forever: refreshes and `/ready` want data).
/// Returns false on shutdown.
async fn wait_for_nats(feed: &Feed, at_most: Duration, shutdown: &CancellationToken) -> bool {
    let ready = async {
        while !feed.nats_ready() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(at_most, ready) => true,
        () = shutdown.cancelled() => false,
    }
}

/// Waits before the next attempt as the backoff says; false on shutdown.
async fn pause(backoff: &mut Backoff, slow: bool, shutdown: &CancellationToken) -> bool {
    let delay = backoff.next_delay(Instant::now(), slow, rand::random::<f64>());
    if !delay.is_zero() {
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "reconnecting to kraken later"
        );
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}

fn report_connect_failure(error: &ConnectError, metrics: &Metrics) {
    match error {
        ConnectError::Failed(e) => {
            metrics.ws_connects.with_label_values(&["error"]).inc();
            tracing::warn!(error = %e, "kraken websocket connect failed");
        }
        ConnectError::TimedOut => {
            metrics.ws_connects.with_label_values(&["timeout"]).inc();
            tracing::warn!("kraken websocket connect timed out");
        }
    }
}

/// One connection, from subscribe to close, and what it has seen so far.
struct Session<'a> {
    feed: &'a Feed,
    config: &'a KrakenConfig,
    metrics: &'a Metrics,
    /// The last `req_id` sent (subscribe, ping).
    req_id: u64,
    /// Whether a frame arrived: the socket counts as up from its first frame (Kraken sends
    /// `status` at once), since a server that accepts the upgrade and then says nothing is not
    /// a connection.
    up: bool,
    frames: u64,
    /// `frames` at the last liveness check, and when it last grew.
    counted: u64,
    last_activity: Instant,
    /// Kraken said it is not `online`: reconnect slowly.
    not_online: bool,
    /// Symbols refused for rate reasons, subscribed again at `retry_at`.
    retry: Vec<&'static str>,
    retry_at: Option<Instant>,
}

impl<'a> Session<'a> {
    fn new(feed: &'a Feed, config: &'a KrakenConfig, metrics: &'a Metrics) -> Session<'a> {
        Session {
            feed,
            config,
            metrics,
            req_id: 0,
            up: false,
            frames: 0,
            counted: 0,
            last_activity: Instant::now(),
            not_online: false,
            retry: Vec::new(),
            retry_at: None,
        }
    }

    /// Subscribes and reads until the connection ends; also returns whether Kraken last said
    /// it is not `online`.
    async fn run(mut self, socket: Socket, shutdown: &CancellationToken) -> (End, bool) {
        let (mut sink, mut stream) = socket.split();
        let end = match self.subscribe(&mut sink).await {
            Ok(()) => self.read(&mut sink, &mut stream, shutdown).await,
            Err(end) => end,
        };
        (end, self.not_online)
    }

    /// One `subscribe` for every pair; waiting pairs get a new grace period from now.
    async fn subscribe(&mut self, sink: &mut socket::Sink) -> Result<(), End> {
        let symbols: Vec<&'static str> = self.feed.pairs().iter().map(|p| p.as_str()).collect();
        self.req_id += 1;
        let request =
            Subscribe::ticker(&symbols, self.config.event_trigger.as_str(), self.req_id).to_json();
        self.send(sink, request, "subscribe failed").await?;
        self.feed.restart_grace().await;
        tracing::info!(
            pairs = symbols.len(),
            "kraken websocket connected; subscribe sent"
        );
        self.last_activity = Instant::now();
        Ok(())
    }

    async fn read(
        &mut self,
        sink: &mut socket::Sink,
        stream: &mut socket::Stream,
        shutdown: &CancellationToken,
    ) -> End {
        let mut check = tokio::time::interval(CHECK_EVERY);
        let ping_every = self.config.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            // Timers first: under a flood of frames the stream is always ready and must not
            // starve the liveness check.
            let step = tokio::select! {
                biased;
                () = &mut cancelled => {
                    socket::close(sink, stream).await;
                    return End::Shutdown;
                }
                _ = check.tick() => self.check(sink).await,
                _ = ping.tick() => {
                    self.req_id += 1;
                    self.send(sink, frame::ping(self.req_id), "ping failed").await
                }
                msg = stream.next() => self.receive(msg).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Every [`CHECK_EVERY`]: liveness, subscriptions due again, and the flush that sends the
    /// protocol pongs tungstenite queued.
    async fn check(&mut self, sink: &mut socket::Sink) -> Result<(), End> {
        let now = Instant::now();
        if self.frames != self.counted {
            self.counted = self.frames;
            self.last_activity = now;
            self.feed.socket.frames_seen(self.feed.clock.now());
        } else if now.saturating_duration_since(self.last_activity) >= self.config.fallback_timeout
        {
            return Err(End::Stalled(format!(
                "socket stalled: no frame for {}s",
                self.config.fallback_timeout.as_secs_f64()
            )));
        }
        if self.retry_at.is_some_and(|t| now >= t) && !self.retry.is_empty() {
            self.req_id += 1;
            let again =
                Subscribe::ticker(&self.retry, self.config.event_trigger.as_str(), self.req_id)
                    .to_json();
            self.retry.clear();
            self.retry_at = None;
            self.send(sink, again, "subscribe failed").await?;
        }
        match tokio::time::timeout(self.config.connect_timeout, sink.flush()).await {
            Ok(Err(e)) => Err(End::Lost(format!("write failed: {e}"))),
            Ok(Ok(())) | Err(_) => Ok(()),
        }
    }

    async fn send(&self, sink: &mut socket::Sink, text: String, what: &str) -> Result<(), End> {
        socket::send(sink, text, self.config.connect_timeout)
            .await
            .map_err(|e| End::Lost(format!("{what}: {e}")))
    }

    /// One message from the stream (the hot path: every ticker update comes through here).
    async fn receive(
        &mut self,
        msg: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), End> {
        let text = match msg {
            None => return Err(End::Lost("connection closed".into())),
            Some(Err(e)) => return Err(End::Lost(format!("read failed: {e}"))),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map_or_else(
                    || "no close frame".to_owned(),
                    |f| format!("{} {}", f.code, f.reason),
                );
                return Err(End::Lost(format!("closed by kraken: {why}")));
            }
            Some(Ok(_)) => {
                self.frames += 1;
                return Ok(());
            }
        };
        self.frames += 1;
        if !self.up {
            self.up = true;
            self.feed.on_socket_up();
        }
        match frame::parse(text.as_str()) {
            Ok(Frame::Ticker(tickers)) => self.on_tickers(&tickers).await,
            Ok(Frame::Heartbeat) => self.metrics.frames_heartbeat.inc(),
            Ok(Frame::Ack(ack)) => self.on_ack(&ack).await,
            Ok(Frame::Status(status)) => self.on_status(&status),
            Ok(Frame::Pong { time_out, .. }) => {
                self.count("pong");
                self.observe_clock(time_out);
            }
            Ok(Frame::Other) => self.count("other"),
            Err(e) => {
                self.metrics.frames_invalid.inc();
                tracing::debug!(error = %e, "unreadable frame ignored");
            }
        }
        Ok(())
    }

    fn count(&self, kind: &str) {
        self.metrics.ws_frames.with_label_values(&[kind]).inc();
    }

    /// A Kraken stamp just received bounds Kraken's clock offset.
    fn observe_clock(&self, stamp: Option<Timestamp>) {
        if let Some(stamp) = stamp {
            let received = self.feed.clock.now();
            self.feed.offset.observe(stamp, received, Instant::now());
        }
    }

    async fn on_tickers(&self, tickers: &Tickers<'_>) {
        self.metrics.frames_ticker.inc();
        let received_at = self.feed.clock.now();
        let now = Instant::now();
        for item in tickers.iter() {
            let exchange_time = item.exchange_time();
            if let Some(stamp) = exchange_time {
                self.feed.offset.observe(stamp, received_at, now);
            }
            match (item.pair(), item.last_price()) {
                (Ok(pair), Ok(price)) => {
                    let ingest = self
                        .feed
                        .on_ws_price(pair, price, exchange_time, received_at);
                    // Traced, each update is a span its price message names as its parent;
                    // untraced, the hot path builds no span at all.
                    if common::otel::enabled() {
                        let span = tracing::info_span!(
                            "ingest",
                            otel.kind = "consumer",
                            pair = %pair,
                            trace_id = tracing::field::Empty
                        );
                        common::otel::tag(&span);
                        ingest.instrument(span).await;
                    } else {
                        ingest.await;
                    }
                }
                (pair, price) => tracing::debug!(
                    symbol = %item.symbol, pair = ?pair.err(), price = ?price.err(),
                    "ticker without a usable price"
                ),
            }
        }
    }

    /// A subscribe ack: a symbol refused for rate reasons is subscribed again later; any
    /// other refusal hands the pair to REST.
    async fn on_ack(&mut self, ack: &Ack<'_>) {
        self.count("ack");
        self.observe_clock(ack.time_out);
        if ack.method != "subscribe" || ack.success || ack.already_subscribed() {
            return;
        }
        let error = ack.error.as_deref().unwrap_or("subscription failed");
        let Some(pair) = ack.symbol.as_deref().and_then(Pair::from_symbol) else {
            tracing::warn!(error, symbol = ?ack.symbol, "kraken refused a subscription");
            return;
        };
        if ack.rate_limited() {
            tracing::warn!(%pair, error, "subscription refused for rate; retrying");
            self.retry.push(pair.as_str());
            self.retry_at.get_or_insert(Instant::now() + RATE_RETRY);
            return;
        }
        self.feed.on_rejected(pair, error).await;
    }

    fn on_status(&mut self, status: &Status<'_>) {
        self.count("status");
        self.not_online = !status.is_online();
        let system = status.system.as_deref().unwrap_or("?");
        if self.not_online {
            tracing::warn!(system, connection_id = ?status.connection_id, "kraken engine not online");
        } else {
            tracing::info!(system, connection_id = ?status.connection_id, version = ?status.version, "kraken status");
        }
    }
}
