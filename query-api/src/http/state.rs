//! What every handler and middleware shares: cache, served pairs, refresher, readiness,
//! metrics and the (validated) configuration. Built once; handlers hold a clone (no
//! per-request lookup).

use std::ops::Deref;
use std::sync::Arc;

use crate::bus::Refresher;
use crate::cache::{Board, Cache};
use crate::config::{Access, Config, Validated};
use crate::metrics::Metrics;
use crate::params::Served;
use crate::readiness::Readiness;

/// Shared application state; clones are cheap.
#[derive(Debug, Clone)]
pub struct AppState(Arc<State>);

/// What an [`AppState`] points to.
#[derive(Debug)]
pub struct State {
    /// Where prices are read (and refreshed prices stored): memory or Redis.
    pub cache: Cache,
    /// The newest price per pair this replica received, whatever the backend (streams read
    /// it). Its fan-out ([`Board::fan_out`]) is run by the service, or by the embedder.
    pub board: Board,
    /// `business.supported_pairs`, prepared for parsing request parameters.
    pub served: Served,
    /// Maximum age of a price served, in milliseconds (`cache.ttl`).
    pub ttl_ms: u64,
    /// Where `POST /api/v1/ltp/refresh` sends its request (an ingestor, over NATS).
    pub refresher: Refresher,
    /// Written by the warm-up and at shutdown, read by `/ready`.
    pub readiness: Readiness,
    /// Shared with the cache and the NATS side: one registry per app.
    pub metrics: Metrics,
    /// API keys and trusted proxies, for the middleware to prepare its guards from.
    pub access: Access,
    /// The whole configuration (middleware reads its sections).
    pub config: Config,
}

impl AppState {
    /// Assembles the state from a validated configuration (nothing is checked again here).
    pub fn new(
        settings: Validated,
        cache: Cache,
        refresher: Refresher,
        metrics: Metrics,
    ) -> AppState {
        let (config, derived) = settings.into_parts();
        AppState(Arc::new(State {
            cache,
            board: Board::new(),
            served: derived.served,
            ttl_ms: u64::try_from(config.cache.ttl.as_millis()).unwrap_or(u64::MAX),
            refresher,
            readiness: Readiness::default(),
            metrics,
            access: derived.access,
            config,
        }))
    }
}

impl Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}
