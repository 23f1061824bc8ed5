//! Building an app in process, publishing prices into it, and sending requests.

use std::time::Duration;

use common::PriceMessage;
use query_api::cache::{Cache, MemoryCache};
use query_api::{AppState, Config, Metrics, Refresher, router};
use salvo::Service;
use salvo::http::HeaderMap;
use salvo::test::{ResponseExt, TestClient};

/// The pairs every test app serves, deliberately not in alphabetical order.
pub const PAIRS: &str = "XRP/USD,BTC/USD,ETH/USD,LTC/USD";

/// A config for in-process tests: rate limiting off (tests that want it turn it on).
pub fn config() -> Config {
    let mut c = Config::default();
    c.business.supported_pairs = PAIRS.split(',').map(String::from).collect();
    c.rate_limit.enabled = false;
    c.cache.ttl = Duration::from_secs(30);
    c
}

/// An app over the memory cache; refreshes answered by `refresher`.
pub struct App {
    pub state: AppState,
    pub service: Service,
    _stop: tokio_util::sync::DropGuard,
}

impl App {
    pub fn new(config: Config) -> App {
        Self::with_refresher(
            config,
            Refresher::scripted(|_| Err(query_api::RefreshError::NoResponders)),
        )
    }

    pub fn with_refresher(config: Config, refresher: Refresher) -> App {
        let state = AppState::new(
            config.validated().expect("valid test config"),
            Cache::Memory(MemoryCache::new()),
            refresher,
            Metrics::new(),
        );
        // The board's fan-out wakes stream clients; it stops with the app.
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(state.board.clone().fan_out(stop.clone()));
        App {
            service: Service::new(router(state.clone())),
            state,
            _stop: stop.drop_guard(),
        }
    }

    /// Publishes a price into the cache as the NATS consumer would.
    pub fn publish(&self, msg: PriceMessage) {
        query_api::offer(
            &self.state.cache,
            &self.state.board,
            &self.state.metrics,
            msg,
        );
    }

    pub async fn send(&self, request: salvo::test::RequestBuilder) -> Reply {
        Reply::of(request.send(&self.service).await).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(TestClient::get(url(path))).await
    }

    /// Sends a built request (to set the peer address).
    pub async fn handle(&self, request: salvo::Request) -> Reply {
        Reply::of(self.service.handle(request).await).await
    }
}

pub fn url(path: &str) -> String {
    format!("http://127.0.0.1{path}")
}

/// What came back.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    async fn of(mut res: salvo::Response) -> Reply {
        Reply {
            status: res.status_code.map_or(0, |s| s.as_u16()),
            headers: res.headers().clone(),
            body: res.take_string().await.unwrap_or_default(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A price of `pair`, `age` old (published `age` ago), from the WebSocket.
pub use common::test_support::price_message as price;

/// A fresh price.
pub fn fresh(pair: &str, p: &str) -> PriceMessage {
    price(pair, p, Duration::from_millis(100))
}
