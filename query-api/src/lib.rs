//! query-api: the REST service over the prices received from NATS.

mod config;

pub use config::{
    AuthConfig, CacheBackend, CacheConfig, Config, CorsConfig, LimitsConfig, RateLimitConfig,
    RedisConfig,
};

use common::cli::AppConfig;
use common::config::{Invalid, LoggingConfig};
use tokio_util::sync::CancellationToken;

impl AppConfig for Config {
    fn validate(&self) -> Result<(), Invalid> {
        Config::validate(self)
    }

    fn logging(&self) -> &LoggingConfig {
        &self.logging
    }
}

/// Runs query-api until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let _ = (config, shutdown);
    anyhow::bail!("query-api is not implemented yet")
}
