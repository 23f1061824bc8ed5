//! The ingestor: streams Kraken's WebSocket v2 `ticker` channel, falls back to REST polling per
//! pair, and publishes every price to NATS.

mod config;

pub use config::{
    Config, EventTrigger, ExchangeSection, FreshnessSection, IngestorSection, KrakenConfig,
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

/// Runs the ingestor until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let _ = (config, shutdown);
    anyhow::bail!("the ingestor is not implemented yet")
}
