//! Starting the real query-api in-process for a test, and publishing price messages the way
//! the ingestor does.

use std::net::SocketAddr;
use std::time::Duration;

pub use common::test_support::price_message;
use common::{Encoding, PriceMessage, Subjects};
use query_api::{AccessLogLevel, CacheBackend, Config, QueryApi};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A query-api configuration for a test: a free loopback port, its own subject prefix (and
/// Redis key prefix `<prefix>:price:`), the memory cache, no rate limit, quiet access log.
pub fn test_config(nats_url: &str, prefix: &str, pairs: &[&str]) -> Config {
    let mut c = Config::default();
    c.server.host = "127.0.0.1".into();
    c.server.port = 0;
    c.server.shutdown_timeout = Duration::from_secs(5);
    c.nats.url = nats_url.into();
    c.nats.subject_prefix = prefix.into();
    c.nats.request_timeout = Duration::from_secs(2);
    c.nats.connect_timeout = Duration::from_secs(2);
    c.cache.ttl = Duration::from_secs(30);
    c.cache.redis.timeout = Duration::from_millis(300);
    c.business.supported_pairs = pairs.iter().map(|p| (*p).to_owned()).collect();
    c.business.cache_prefix = format!("{prefix}:price:");
    c.rate_limit.enabled = false;
    c.access_log.level = AccessLogLevel::Debug;
    c
}

/// The same with the Redis cache at `addr` (`host:port`).
pub fn with_redis(mut config: Config, addr: &str) -> Config {
    config.cache.backend = CacheBackend::Redis;
    config.cache.redis.addr = addr.into();
    config
}

/// A query-api running in this process; stopped (token cancelled) when dropped.
pub struct RunningQueryApi {
    /// Where it listens.
    pub addr: SocketAddr,
    /// An HTTP client for it.
    pub http: reqwest::Client,
    token: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Builds and starts a query-api (it connects to NATS and Redis in the background).
pub async fn start_query_api(config: Config) -> RunningQueryApi {
    crate::init_test_logging();
    let api = QueryApi::build(config).await.expect("query-api builds");
    let addr = api.addr();
    let token = CancellationToken::new();
    let task = tokio::spawn(api.run(token.clone()));
    RunningQueryApi {
        addr,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client"),
        token,
        task: Some(task),
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// The `X-Cache-Degraded` header: why the prices come from the replica's own view.
    pub degraded: Option<String>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The pairs of the `ltp` items, in order.
    pub fn pairs(&self) -> Vec<String> {
        self.prices().into_iter().map(|(pair, _)| pair).collect()
    }

    /// `price` of each `ltp` item, by pair, in order.
    pub fn prices(&self) -> Vec<(String, String)> {
        self.json()["ltp"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        (
                            i["pair"].as_str().unwrap_or_default().to_owned(),
                            i["price"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl RunningQueryApi {
    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Reply {
        let res = self
            .http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {}: {e}", shown(path)));
        read(res).await
    }

    /// POST `path` (empty body).
    pub async fn post(&self, path: &str) -> Reply {
        let res = self
            .http
            .post(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {}: {e}", shown(path)));
        read(res).await
    }

    /// Waits until `/ready` answers 200.
    pub async fn wait_ready(&self, within: Duration) {
        crate::eventually(within, "query-api /ready 200", || async {
            (self.get("/ready").await.status == 200).then_some(())
        })
        .await;
    }

    /// Stops it as SIGTERM would and returns the result of `run`.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.token.cancel();
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .map_err(|_| anyhow::anyhow!("query-api did not stop within 15 s"))?
            .map_err(|e| anyhow::anyhow!("query-api task: {e}"))?
    }

    /// A token that stops it when cancelled (for shutdown tests).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }
}

impl Drop for RunningQueryApi {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn read(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let degraded = res
        .headers()
        .get("x-cache-degraded")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res.text().await.unwrap_or_default();
    Reply {
        status,
        body,
        degraded,
    }
}

/// Publishes price messages on a prefix's subjects, with the `Content-Type` header.
pub struct Publisher {
    /// The connection.
    pub client: async_nats::Client,
    /// The prefix's subjects.
    pub subjects: Subjects,
}

impl Publisher {
    /// For `prefix` on `client`.
    pub fn new(client: async_nats::Client, prefix: &str) -> Publisher {
        Publisher {
            client,
            subjects: Subjects::new(prefix).expect("valid prefix"),
        }
    }

    /// Publishes `msg` in `encoding` and flushes.
    pub async fn publish(&self, msg: &PriceMessage, encoding: Encoding) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", encoding.content_type());
        self.client
            .publish_with_headers(
                self.subjects.price(msg.pair).clone(),
                headers,
                encoding.encode(msg),
            )
            .await
            .expect("publish");
        self.client.flush().await.expect("flush");
    }

    /// Creates the last-value stream the ingestor would create (one message per subject,
    /// direct gets allowed), in memory.
    pub async fn create_last_value_stream(&self) {
        self.create_last_value_stream_in(async_nats::jetstream::stream::StorageType::Memory)
            .await;
    }

    /// The same with the given storage (`File` survives a server restart).
    pub async fn create_last_value_stream_in(
        &self,
        storage: async_nats::jetstream::stream::StorageType,
    ) {
        async_nats::jetstream::new(self.client.clone())
            .get_or_create_stream(async_nats::jetstream::stream::Config {
                name: self.subjects.stream_name(),
                subjects: vec![self.subjects.prices_all()],
                max_messages_per_subject: 1,
                allow_direct: true,
                storage,
                ..Default::default()
            })
            .await
            .expect("create last-value stream");
    }
}

/// `path` cut to a readable length for failure messages (hostile tests send 60 KB targets).
fn shown(path: &str) -> String {
    match path.char_indices().nth(160) {
        Some((cut, _)) => format!("{}… ({} bytes)", &path[..cut], path.len()),
        None => path.to_owned(),
    }
}
