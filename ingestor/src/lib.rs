//! The ingestor: streams Kraken's WebSocket v2 `ticker` channel, falls back to REST polling per
//! pair, and publishes every price to NATS (architecture.md).
//!
//! [`Ingestor::build`] validates the configuration, binds the admin listener and starts the
//! NATS connection in the background; [`Ingestor::run`] runs every task until the token is
//! cancelled, then closes the socket, drains NATS and returns.

mod admin;
mod bus;
mod config;
mod feed;
mod fetch;
pub mod kraken;
mod limiter;
mod metrics;
mod pair_state;
mod poller;
mod publisher;
mod responder;
mod status;
mod stream;

pub use config::{
    Config, EventTrigger, ExchangeSection, FreshnessSection, IngestorSection, KrakenConfig,
};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::cli::AppConfig;
use common::config::{Invalid, LoggingConfig};
use common::{Pair, Subjects};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::feed::{Feed, Timing};
use crate::metrics::Metrics;
use crate::publisher::Publisher;

impl AppConfig for Config {
    fn validate(&self) -> Result<(), Invalid> {
        Config::validate(self)
    }

    fn logging(&self) -> &LoggingConfig {
        &self.logging
    }
}

/// How often the feed re-publishes, checks grace periods and sends what NATS missed.
const TICK: Duration = Duration::from_millis(250);

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
        kraken::ws::install_tls_provider();
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let pairs = config
            .business
            .pairs()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
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
        let kraken = config.exchange.kraken.clone();
        let client = nats.client.clone();
        let tracker = TaskTracker::new();
        // Tasks stop on their own token, so shutdown can sequence them.
        let tasks = shutdown.child_token();

        let publisher = Publisher::new(
            client.clone(),
            subjects.clone(),
            config.nats.encoding,
            metrics.clone(),
        );
        let gate = publisher.gate().clone();
        let (status, status_rx) = status::StatusSender::new(instance.clone(), metrics.clone());
        let republish_every = config.republish_interval();
        let feed = Arc::new(Feed::new(
            pairs,
            publisher,
            status,
            metrics.clone(),
            instance.clone(),
            Timing {
                republish_every,
                grace: kraken.fallback_timeout,
                stale_after: republish_every.max(kraken.poll_interval * 2) + Duration::from_secs(1),
            },
        ));
        let limiter = Arc::new(limiter::Limiter::new(limiter::MIN_SPACING));
        let rest = Arc::new(
            kraken::rest::RestClient::new(&kraken, limiter.clone(), metrics.clone())
                .context("building the HTTP client")?,
        );
        // Refreshes in flight at shutdown finish with Kraken's answer; only the tasks'
        // deadline below cuts them short.
        let fetches = CancellationToken::new();
        let fetcher = Arc::new(fetch::Fetcher::new(
            rest,
            limiter,
            tracker.clone(),
            fetches.clone(),
        ));

        tracker.spawn(bus::watch(
            client.clone(),
            nats.events.subscribe(),
            gate.clone(),
            subjects.clone(),
            config.nats.clone(),
            metrics.clone(),
            tasks.clone(),
        ));
        tracker.spawn(status::run(
            client.clone(),
            subjects.status(),
            gate.clone(),
            status_rx,
            tasks.clone(),
        ));
        tracker.spawn(admin::serve(
            listener,
            Arc::new(admin::AdminState {
                feed: feed.clone(),
                gate: gate.clone(),
                metrics: metrics.clone(),
                instance: instance.clone(),
            }),
            tracker.clone(),
            tasks.clone(),
        ));
        tracker.spawn(kraken::ws::run(
            feed.clone(),
            kraken.clone(),
            metrics.clone(),
            tasks.clone(),
        ));
        tracker.spawn(poller::run(
            feed.clone(),
            fetcher.clone(),
            kraken.poll_interval,
            tasks.clone(),
        ));
        tracker.spawn({
            let (feed, token) = (feed.clone(), tasks.clone());
            async move {
                let mut tick = tokio::time::interval(TICK);
                loop {
                    tokio::select! {
                        _ = tick.tick() => feed.tick().await,
                        () = token.cancelled() => return,
                    }
                }
            }
        });
        let responder = Arc::new(responder::Responder {
            client: client.clone(),
            subject: subjects.refresh(),
            feed: feed.clone(),
            fetcher,
            metrics: metrics.clone(),
            instance: instance.clone(),
            budget: config.nats.request_timeout.mul_f64(0.9),
        });
        tracker.spawn(responder.run(tracker.clone(), tasks.clone()));
        tracing::info!(ingestor = %instance, "ingestor running");

        shutdown.cancelled().await;
        let deadline = tokio::time::Instant::now() + config.server.shutdown_timeout;
        tracing::info!("stopping: closing the socket and draining NATS");
        tasks.cancel();
        tracker.close();
        // Leave a share of the budget for NATS.
        let tasks_deadline =
            tokio::time::Instant::now() + config.server.shutdown_timeout.mul_f64(0.6);
        if tokio::time::timeout_at(tasks_deadline, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop in time");
            fetches.cancel();
        }
        // With NATS down there is nothing to flush, and draining would only wait out the
        // whole budget for a server that is not there.
        if client.connection_state() == async_nats::connection::State::Connected {
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
        } else {
            tracing::warn!("nats unavailable at shutdown: held prices are dropped");
        }
        tracing::info!("ingestor stopped");
        Ok(())
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
