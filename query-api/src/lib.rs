//! query-api: the REST service over the last traded prices the ingestor publishes on NATS.
//!
//! ```text
//! NATS ─► bus::consumer ─► cache (memory | Redis) ─► http ─► REST clients
//!   ▲                                                  │
//!   └───────── bus::requester (refresh, snapshot) ◄────┘
//! ```
//!
//! [`QueryApi::build`] validates the configuration, binds and connects in the background;
//! [`QueryApi::run`] serves until its token is cancelled, then drains. [`router`] is the whole
//! HTTP app, for in-process tests.
//!
//! # Layers
//!
//! Four layers, one per folder, above a floor of shared vocabulary. **A module imports only
//! from its own layer or from layers below it**, never from above (`scripts/check-module-cycles`
//! fails on any loop):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | 4 | `service.rs`, `descriptors` | [`QueryApi`]: wires the layers below, runs and drains; the open-file limit it raises at start |
//! | 3 | `http/` | the REST API: router, handlers, middleware, statuses, bodies, OpenAPI |
//! | 2 | `bus/` | NATS: prices in, warm-up, refresh and snapshot requests out |
//! | 1 | `cache/` | the price store, memory or Redis |
//! | 0 | `config`, `params`, `freshness`, `route`, `metrics`, `readiness`, `feed`, `json` | vocabulary every layer uses |
//!
//! # Module map
//!
//! * `config` — the configuration sections, validated once into `Validated`.
//! * `descriptors` — raises the open-file limit to what `streams.max_streams` needs.
//! * `params` — the `pair`/`pairs` parameter: query decoding, the seed's parsing rules, Kraken's
//!   names as aliases, lenient parsing (`skip_invalid`), boolean flags.
//! * `freshness` — **how old a served price may be**: the TTL and a client's `max_age`.
//! * `route` — the routes as a closed set: metric labels, access-log routes, 405's `Allow`.
//! * `metrics` — the Prometheus registry (`metrics/families.rs` registers the families).
//! * `readiness` — the flags behind `/ready`, and the cache's state as it reports it.
//! * `feed` — `FeedStatus`: the ingestors' feed as last heard of, behind `/api/v1/status`.
//! * `json` — Go-compatible JSON escaping, by hand (hot path) and through serde.
//! * `cache` — `Cache::{Memory, Redis}`; **the TTL is enforced** in `Cache::lookup`
//!   (`cache.rs`), where a Redis read also picks the newer of Redis's and the board's price,
//!   or the board's alone while Redis cannot be asked (degraded); `cache/board.rs` is the
//!   newest price per pair this replica received, whatever the backend;
//!   `cache/entry.rs` prepares each price's REST item once; `cache/outcome.rs` says what a read
//!   or write answers; `cache/redis/link.rs` is the way to Redis (one server, or the primary
//!   Redis Sentinel names).
//! * `bus/consumer.rs` — the price subscriptions feeding the cache.
//! * `bus/warmup.rs` — last values from JetStream or an ingestor snapshot, on every connect.
//! * `bus/requester.rs` — the NATS request-reply client that asks an ingestor to refresh.
//! * `bus/status.rs` — the ingestors' status events, kept in `FeedStatus`.
//! * `http/router.rs` — which handler answers which path; 404/405.
//! * `http/handlers/` — `ltp.rs` (`GET /api/v1/ltp`, `/cached`), `refresh.rs` (**where a
//!   refresh is answered**: `POST /api/v1/ltp/refresh`), `ops.rs` (`/health`, `/ready`,
//!   `/metrics`), `status.rs` (`GET /api/v1/status`), `board.rs` (the live board at `/`, its
//!   files in `http/board/`).
//! * `http/status.rs` — **where an error becomes a status**, and every other status decision.
//! * `http/bodies.rs` — the response types (serde and OpenAPI); `http/ltp_body.rs` writes the
//!   hot body by hand; `http/feed_body.rs` is `/api/v1/status`'s.
//! * `http/middleware/` — request id, limits, CORS, metrics and access log (`Edge`); rate
//!   limit and API keys (`Guard`).
//! * `http/openapi.rs` — the OpenAPI document; `http/state.rs` — what handlers share;
//!   `http/request_id.rs` — `X-Request-ID`, kept or generated, read back by the logs.

mod bus;
pub mod cache;
mod config;
mod descriptors;
mod feed;
mod freshness;
mod http;
mod json;
mod metrics;
/// Query-string and pair-list parsing; public so the fuzz targets (`fuzz/`) can reach it.
#[doc(hidden)]
pub mod params;
mod readiness;
mod route;
mod service;

use common::cli::AppConfig;
use common::config::{Invalid, LoggingConfig, TelemetryConfig};

pub use bus::consumer::offer;
pub use bus::{RefreshError, Refresher};
pub use config::{
    Access, AccessLogConfig, AccessLogLevel, AuthConfig, CacheBackend, CacheConfig, Config,
    CorsConfig, LimitsConfig, MAX_URL_BYTES, RateLimitConfig, RedisConfig, StreamsConfig,
    Validated,
};
pub use feed::FeedStatus;
pub use http::bodies;
pub use http::{ApiError, AppState, State, router};
pub use metrics::Metrics;
pub use params::ParamError;
pub use readiness::Readiness;
pub use route::{OPENAPI_PATH, Route};
pub use service::{QueryApi, run};

impl AppConfig for Config {
    fn validate(&self) -> Result<(), Invalid> {
        Config::validate(self)
    }

    fn logging(&self) -> &LoggingConfig {
        &self.logging
    }

    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}
