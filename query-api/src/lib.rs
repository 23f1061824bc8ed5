//! query-api: the REST service over the last traded prices the ingestor publishes on NATS.
//!
//! ```text
//! NATS ─► consumer ─► cache (memory | Redis) ─► handlers ─► REST clients
//!   ▲                                              │
//!   └───────── refresh / snapshot requests ◄───────┘
//! ```
//!
//! [`QueryApi::build`] binds and connects in the background; [`QueryApi::run`] serves until
//! its token is cancelled, then drains. [`router`] is the whole HTTP app, for in-process tests.

pub mod api;
mod app;
pub mod cache;
mod config;
mod consumer;
mod error;
mod handlers;
mod json;
mod metrics;
mod middleware;
/// Query-string and pair-list parsing; public so the fuzz targets (`fuzz/`) can reach it.
#[doc(hidden)]
pub mod params;
mod readiness;
mod refresh;
mod render;
mod routes;
mod state;
mod warmup;

use common::cli::AppConfig;
use common::config::{Invalid, LoggingConfig};

pub use app::{QueryApi, run};
pub use config::{
    AccessLogConfig, AccessLogLevel, AuthConfig, CacheBackend, CacheConfig, Config, CorsConfig,
    LimitsConfig, MAX_URL_BYTES, RateLimitConfig, RedisConfig, parse_cidr,
};
pub use consumer::offer;
pub use error::ApiError;
pub use metrics::Metrics;
pub use params::ParamError;
pub use readiness::Readiness;
pub use refresh::{RefreshError, Refresher};
pub use routes::{OPENAPI_PATH, Route, router};
pub use state::{AppState, State};

impl AppConfig for Config {
    fn validate(&self) -> Result<(), Invalid> {
        Config::validate(self)
    }

    fn logging(&self) -> &LoggingConfig {
        &self.logging
    }
}
