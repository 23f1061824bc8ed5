//! What every handler and middleware shares: cache, served pairs, refresher, readiness,
//! metrics and the configuration. Built once; handlers hold a clone (no per-request lookup).

use std::ops::Deref;
use std::sync::Arc;

use crate::cache::Cache;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::middleware::ApiKeys;
use crate::params::Served;
use crate::readiness::Readiness;
use crate::refresh::Refresher;

/// Shared application state; clones are cheap.
#[derive(Debug, Clone)]
pub struct AppState(Arc<State>);

/// The shared parts.
#[derive(Debug)]
pub struct State {
    /// The price cache.
    pub cache: Cache,
    /// The pairs this deployment serves.
    pub served: Served,
    /// Maximum age of a price served, in milliseconds (`cache.ttl`).
    pub ttl_ms: u64,
    /// Where refreshes go.
    pub refresher: Refresher,
    /// What `/ready` reports.
    pub readiness: Readiness,
    /// The app's metrics.
    pub metrics: Metrics,
    /// Accepted API keys; `None` when authentication is off.
    pub api_keys: Option<ApiKeys>,
    /// The whole configuration (middleware reads its sections).
    pub config: Config,
}

impl AppState {
    /// Validates the configuration and assembles the state.
    pub fn new(
        config: Config,
        cache: Cache,
        refresher: Refresher,
        metrics: Metrics,
    ) -> anyhow::Result<AppState> {
        config
            .validate()
            .map_err(|invalid| anyhow::anyhow!("{invalid}"))?;
        let pairs = config
            .business
            .pairs()
            .map_err(|invalid| anyhow::anyhow!("{invalid}"))?;
        let api_keys = ApiKeys::new(&config.auth)?;
        metrics.set_cache_available(cache.is_available());
        Ok(AppState(Arc::new(State {
            cache,
            served: Served::new(pairs),
            ttl_ms: u64::try_from(config.cache.ttl.as_millis()).unwrap_or(u64::MAX),
            refresher,
            readiness: Readiness::default(),
            metrics,
            api_keys,
            config,
        })))
    }
}

impl Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}
