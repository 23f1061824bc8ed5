//! Starting the real ingestor in-process for a test, and watching what it publishes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::control::StatusEvent;
use common::{Encoding, PriceMessage};
use futures::StreamExt;
use ingestor::{Config, Ingestor};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An ingestor configuration for a test: admin on a free loopback port, its own subject
/// prefix, Kraken at the simulator, short timers (stall after 2 s, poll every second, TTL 3 s so
/// quiet pairs are re-published every second).
pub fn test_config(
    nats_url: &str,
    prefix: &str,
    ws_url: &str,
    rest_url: &str,
    pairs: &[&str],
) -> Config {
    let mut c = Config::default();
    c.ingestor.host = "127.0.0.1".into();
    c.ingestor.port = 0;
    c.ingestor.instance_id = format!("it-{prefix}");
    c.nats.url = nats_url.into();
    c.nats.subject_prefix = prefix.into();
    c.nats.request_timeout = Duration::from_secs(5);
    c.nats.stream_storage = common::config::StreamStorage::File;
    let k = &mut c.exchange.kraken;
    k.websocket_url = ws_url.into();
    k.rest_url = rest_url.into();
    k.fallback_timeout = Duration::from_secs(2);
    k.poll_interval = Duration::from_secs(1);
    k.ping_interval = Duration::from_secs(5);
    k.connect_timeout = Duration::from_secs(2);
    k.reconnect_max_delay = Duration::from_secs(2);
    k.timeout = Duration::from_secs(5);
    k.request_timeout = Duration::from_secs(1);
    c.cache.ttl = Duration::from_secs(3);
    c.server.shutdown_timeout = Duration::from_secs(5);
    c.business.supported_pairs = pairs.iter().map(|p| (*p).to_owned()).collect();
    c
}

/// An ingestor running in this process; stopped (token cancelled) when dropped.
pub struct RunningIngestor {
    /// `/health`, `/ready`, `/metrics`.
    pub admin: SocketAddr,
    /// Its instance id.
    pub instance: String,
    token: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Builds and starts an ingestor.
pub async fn start_ingestor(config: Config) -> RunningIngestor {
    crate::init_test_logging();
    let ingestor = Ingestor::build(config).await.expect("ingestor builds");
    let admin = ingestor.admin_addr();
    let instance = ingestor.instance_id().to_owned();
    let token = CancellationToken::new();
    let task = tokio::spawn(ingestor.run(token.clone()));
    RunningIngestor {
        admin,
        instance,
        token,
        task: Some(task),
    }
}

impl RunningIngestor {
    /// Stops it as SIGTERM would and returns its result and how long stopping took.
    pub async fn stop(mut self) -> (anyhow::Result<()>, Duration) {
        let started = Instant::now();
        self.token.cancel();
        let task = self.task.take().expect("running");
        let result = task
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("ingestor task: {e}")));
        (result, started.elapsed())
    }

    /// `GET` (or `HEAD`) an admin path: status and body.
    pub async fn admin(&self, method: reqwest::Method, path: &str) -> (u16, String) {
        let res = reqwest::Client::new()
            .request(method, format!("http://{}{path}", self.admin))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("admin request");
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }
}

impl Drop for RunningIngestor {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A received price message with the time it arrived and its `Content-Type`.
#[derive(Debug, Clone)]
pub struct Received {
    /// The decoded message.
    pub msg: PriceMessage,
    /// The header it came with.
    pub content_type: Option<String>,
    /// When the subscriber got it.
    pub at: Instant,
}

/// Everything a plain NATS subscriber receives on `<prefix>.prices.kraken.*` and
/// `<prefix>.status.kraken`, collected in the background.
#[derive(Clone, Default)]
pub struct Watcher {
    prices: Arc<Mutex<Vec<Received>>>,
    status: Arc<Mutex<Vec<(StatusEvent, Instant)>>>,
    undecodable: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    /// Subscribes with `client` (a reconnecting client keeps receiving after a NATS restart).
    pub async fn start(client: &async_nats::Client, prefix: &str) -> Watcher {
        let w = Watcher::default();
        let mut prices = client
            .subscribe(format!("{prefix}.prices.kraken.*"))
            .await
            .expect("subscribe prices");
        let mut status = client
            .subscribe(format!("{prefix}.status.kraken"))
            .await
            .expect("subscribe status");
        client.flush().await.expect("flush subscriptions");
        let sink = w.clone();
        tokio::spawn(async move {
            while let Some(m) = prices.next().await {
                let ct = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Content-Type"))
                    .map(|v| v.as_str().to_owned());
                match common::message::decode(ct.as_deref(), &m.payload) {
                    Ok(msg) => sink.prices.lock().expect("lock").push(Received {
                        msg,
                        content_type: ct,
                        at: Instant::now(),
                    }),
                    Err(e) => sink.undecodable.lock().expect("lock").push(e.to_string()),
                }
            }
        });
        let sink = w.clone();
        tokio::spawn(async move {
            while let Some(m) = status.next().await {
                if let Ok(e) = serde_json::from_slice::<StatusEvent>(&m.payload) {
                    sink.status.lock().expect("lock").push((e, Instant::now()));
                }
            }
        });
        w
    }

    /// Every price message so far.
    pub fn prices(&self) -> Vec<Received> {
        self.prices.lock().expect("lock").clone()
    }

    /// Price messages of one pair so far.
    pub fn of(&self, pair: &str) -> Vec<Received> {
        self.prices()
            .into_iter()
            .filter(|r| r.msg.pair.as_str() == pair)
            .collect()
    }

    /// Status events so far.
    pub fn status(&self) -> Vec<(StatusEvent, Instant)> {
        self.status.lock().expect("lock").clone()
    }

    /// Payloads that did not decode (must stay empty).
    pub fn undecodable(&self) -> Vec<String> {
        self.undecodable.lock().expect("lock").clone()
    }
}

/// The encoding a test expects from its configuration.
pub fn content_type(config: &Config) -> &'static str {
    let e: Encoding = config.nats.encoding;
    e.content_type()
}
