//! The ingestor: streams Kraken's WebSocket v2 `ticker` channel, falls back to REST polling per
//! pair, and publishes every price to NATS (docs/architecture.md).
//!
//! [`Ingestor::build`] validates the configuration, binds the admin listener and starts the
//! NATS connection in the background; [`Ingestor::run`] runs every task until the token is
//! cancelled, then closes the socket, drains NATS and returns.
//!
//! Modules, from the top; each imports only from the rows below it:
//!
//! | module | what |
//! |---|---|
//! | `lib.rs` | builds the parts, spawns the tasks, and stops them in order |
//! | `sources/` | the tasks that bring prices in: `socket` (the WebSocket session, reconnects) and `poller` (REST for pairs in fallback) |
//! | `serve/` | what the ingestor answers: `admin` (`/health`, `/ready`, `/metrics`) and `refresh` (refresh and snapshot requests over NATS) |
//! | `feed/` | the per-pair state machine: which source serves a pair, what is published and re-published; its pure decisions in `feed/pair_state.rs` |
//! | `kraken/` | Kraken's wire: WebSocket frames and connection, reconnect backoff, the REST client, its rate budget, coalesced fetches |
//! | `bus/` | NATS: publishing price messages and status events, the JetStream last-value stream, the connection watcher |
//! | `config`, `metrics`, `clock` | the configuration sections, every metric, our clock (shifted only in tests) |
//!
//! `kraken/` and `bus/` know nothing of each other: the feed joins them.

mod bus;
mod clock;
mod config;
mod feed;
pub mod kraken;
mod metrics;
mod serve;
mod sources;

pub use config::{
    Config, EventTrigger, ExchangeSection, FreshnessSection, IngestorSection, KrakenConfig,
};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::cli::AppConfig;
use common::config::{Invalid, LoggingConfig, TelemetryConfig};
use common::{Pair, Subjects};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{Publisher, StatusSender};
use crate::clock::Clock;
use crate::feed::{Clocks, Feed, Timing};
use crate::kraken::fetch::Fetcher;
use crate::kraken::limiter::{self, Limiter};
use crate::kraken::offset::OffsetEstimate;
use crate::kraken::rest::RestClient;
use crate::metrics::Metrics;
use crate::serve::admin::{self, AdminState};
use crate::serve::refresh::Responder;

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

/// A built ingestor, listening but not yet running.
pub struct Ingestor {
    config: Config,
    pairs: Vec<Pair>,
    instance: Arc<str>,
    listener: TcpListener,
    admin_addr: SocketAddr,
    nats: common::nats::Connection,
    subjects: Arc<Subjects>,
    metrics: Metrics,
}

impl Ingestor {
    /// Validates `config`, binds the admin listener (port 0 picks a free one) and starts
    /// connecting to NATS in the background (it need not be up yet).
    pub async fn build(config: Config) -> anyhow::Result<Ingestor> {
        // `wss://` needs a process-wide TLS provider when a build links more than one.
        common::tls::install_default_provider();
        config.validate()?;
        let pairs = config.business.pairs()?;
        let subjects =
            Arc::new(Subjects::new(&config.nats.subject_prefix).context("nats.subject_prefix")?);
        let instance: Arc<str> = if config.ingestor.instance_id.trim().is_empty() {
            default_instance_id().into()
        } else {
            config.ingestor.instance_id.trim().into()
        };
        let addr = format!("{}:{}", config.ingestor.host, config.ingestor.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding the admin listener on {addr}"))?;
        let admin_addr = listener.local_addr()?;
        let metrics = Metrics::new(&pairs).context("registering metrics")?;
        metrics.cache_ttl.set(config.cache.ttl.as_secs_f64());
        let nats = common::nats::connect(&config.nats, &format!("ltp-ingestor {instance}"))
            .await
            .context("configuring the NATS connection")?;
        tracing::info!(%admin_addr, ingestor = %instance, pairs = pairs.len(), "ingestor built");
        Ok(Ingestor {
            config,
            pairs,
            instance,
            listener,
            admin_addr,
            nats,
            subjects,
            metrics,
        })
    }

    /// Address of `/health`, `/ready` and `/metrics`.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The id put in every message.
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// Runs until `shutdown` is cancelled, then stops reading Kraken, closes the socket,
    /// flushes and drains NATS, all within `server.shutdown_timeout`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let client = self.nats.client.clone();
        let budget = self.config.server.shutdown_timeout;
        let instance = self.instance.clone();
        // Tasks stop on their own token, so shutdown can sequence them.
        let tasks = Tasks {
            tracker: TaskTracker::new(),
            stop: shutdown.child_token(),
            // Refreshes in flight at shutdown finish with Kraken's answer; only the tasks'
            // deadline cuts them short.
            fetches: CancellationToken::new(),
        };
        self.spawn(&tasks)?;
        tracing::info!(ingestor = %instance, "ingestor running");
        shutdown.cancelled().await;
        tasks.stop(&client, budget).await;
        tracing::info!("ingestor stopped");
        Ok(())
    }

    /// Builds the feed, what feeds it and what reads it, and spawns every task.
    fn spawn(self, tasks: &Tasks) -> anyhow::Result<()> {
        let Ingestor {
            config,
            pairs,
            instance,
            listener,
            admin_addr: _,
            nats,
            subjects,
            metrics,
        } = self;
        let (client, token) = (&nats.client, &tasks.stop);
        let publisher = Publisher::new(
            client.clone(),
            subjects.clone(),
            config.nats.encoding,
            metrics.clone(),
        );
        let gate = publisher.gate().clone();
        let (status, status_rx) = StatusSender::new(instance.clone(), metrics.clone());
        let clock = Clock::shifted(config.ingestor.clock_offset());
        let offset = Arc::new(OffsetEstimate::default());
        let feed = Arc::new(Feed::new(
            pairs,
            publisher,
            status,
            metrics.clone(),
            instance.clone(),
            timing(&config),
            Clocks {
                ours: clock,
                kraken: offset.clone(),
            },
        ));
        let fetcher = Arc::new(tasks.fetcher(&config.exchange.kraken, &metrics, clock, offset)?);
        let watch = bus::watch(
            client.clone(),
            nats.events.subscribe(),
            gate.clone(),
            subjects.clone(),
            config.nats.clone(),
            metrics.clone(),
            token.clone(),
        );
        tasks.tracker.spawn(watch);
        let status_task = bus::status::run(
            client.clone(),
            subjects.status(),
            gate.clone(),
            status_rx,
            token.clone(),
        );
        tasks.tracker.spawn(status_task);
        tasks.spawn_sources(&feed, &fetcher, &config.exchange.kraken, &metrics);
        let admin = Arc::new(AdminState {
            feed: feed.clone(),
            gate,
            metrics: metrics.clone(),
            instance: instance.clone(),
        });
        let serve_admin = admin::serve(listener, admin, tasks.tracker.clone(), token.clone());
        tasks.tracker.spawn(serve_admin);
        let responder = Arc::new(Responder {
            client: client.clone(),
            subject: subjects.refresh(),
            feed,
            fetcher,
            metrics,
            instance,
            budget: config.nats.request_timeout.mul_f64(0.9),
        });
        tasks
            .tracker
            .spawn(responder.run(tasks.tracker.clone(), token.clone()));
        Ok(())
    }
}

/// The state machine's timing from the configuration.
fn timing(config: &Config) -> Timing {
    let kraken = &config.exchange.kraken;
    let republish_every = config.republish_interval();
    Timing {
        republish_every,
        grace: kraken.fallback_timeout,
        stale_after: republish_every.max(kraken.poll_interval * 2) + Duration::from_secs(1),
    }
}

/// Every task of a running ingestor, and the tokens that stop them.
struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
    /// Cuts REST calls short (only when the tasks miss their deadline).
    fetches: CancellationToken,
}

impl Tasks {
    /// The REST client behind every price fetch, with the process-wide request budget; its
    /// calls run as tasks here.
    fn fetcher(
        &self,
        kraken: &KrakenConfig,
        metrics: &Metrics,
        clock: Clock,
        offset: Arc<OffsetEstimate>,
    ) -> anyhow::Result<Fetcher> {
        let limiter = Arc::new(Limiter::new(limiter::MIN_SPACING));
        let rest = RestClient::new(kraken, limiter.clone(), metrics.clone(), clock)
            .context("building the HTTP client")?;
        Ok(Fetcher::new(
            Arc::new(rest),
            limiter,
            offset,
            self.tracker.clone(),
            self.fetches.clone(),
        ))
    }

    /// The socket, REST polling, and the feed's own clock.
    fn spawn_sources(
        &self,
        feed: &Arc<Feed>,
        fetcher: &Arc<Fetcher>,
        kraken: &KrakenConfig,
        metrics: &Metrics,
    ) {
        let token = &self.stop;
        let socket =
            sources::socket::run(feed.clone(), kraken.clone(), metrics.clone(), token.clone());
        self.tracker.spawn(socket);
        let poller = sources::poller::run(
            feed.clone(),
            fetcher.clone(),
            kraken.poll_interval,
            token.clone(),
        );
        self.tracker.spawn(poller);
        self.tracker
            .spawn(feed::tick_until(feed.clone(), token.clone()));
    }

    /// Stops the tasks within 60 % of `budget` (the socket is closed cleanly), then flushes and
    /// drains NATS within what is left.
    async fn stop(self, client: &async_nats::Client, budget: Duration) {
        let deadline = tokio::time::Instant::now() + budget;
        tracing::info!("stopping: closing the socket and draining NATS");
        self.stop.cancel();
        self.tracker.close();
        // Leave a share of the budget for NATS.
        let tasks_deadline = tokio::time::Instant::now() + budget.mul_f64(0.6);
        if tokio::time::timeout_at(tasks_deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop in time");
            self.fetches.cancel();
        }
        // With NATS down there is nothing to flush, and draining would only wait out the
        // whole budget for a server that is not there.
        if client.connection_state() != async_nats::connection::State::Connected {
            tracing::warn!("nats unavailable at shutdown: held prices are dropped");
            return;
        }
        match tokio::time::timeout_at(deadline, client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "nats flush failed"),
            Err(_) => tracing::warn!("nats flush timed out"),
        }
        if tokio::time::timeout_at(deadline, client.drain())
            .await
            .is_err()
        {
            tracing::warn!("nats drain timed out");
        }
    }
}

/// Builds and runs an ingestor until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    Ingestor::build(config).await?.run(shutdown).await
}

/// Host name plus a random suffix, so two instances on one host differ.
fn default_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ingestor".to_owned());
    format!("{host}-{:04x}", rand::random::<u16>())
}
