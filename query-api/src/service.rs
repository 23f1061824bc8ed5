//! The service as a whole: [`QueryApi::build`] wires configuration → cache → NATS side → HTTP
//! and starts the background tasks; [`QueryApi::run`] serves until cancelled, then drains.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use async_nats::Client;
use common::Subjects;
use common::config::ServerConfig;
use salvo::conn::tcp::TcpAcceptor;
use salvo::fuse::FuseConfig;
use salvo::{Server, Service};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::bus::Refresher;
use crate::bus::warmup::Warmup;
use crate::bus::{consumer, status};
use crate::cache::{Cache, MemoryCache, RedisCache};
use crate::config::{CacheBackend, Config};
use crate::descriptors;
use crate::http::{AppState, read_buffer, router};
use crate::metrics::Metrics;

/// How long background tasks get to finish after the server has drained.
const TASKS_GRACE: Duration = Duration::from_secs(2);

/// A built query-api: listening, connecting, consuming; serving once [`QueryApi::run`] runs.
pub struct QueryApi {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    client: Client,
    tasks: TaskTracker,
    token: CancellationToken,
    /// Stops the background tasks if this value is dropped without running.
    _stop_on_drop: DropGuard,
}

impl std::fmt::Debug for QueryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryApi")
            .field("addr", &self.addr)
            .finish()
    }
}

impl QueryApi {
    /// Validates the configuration, binds the listener (port 0 picks a free one), connects to
    /// NATS (and Redis) in the background, subscribes to the price subjects and starts the
    /// warm-up. Returns without waiting for NATS or Redis: `/ready` says when they are there.
    pub async fn build(config: Config) -> anyhow::Result<QueryApi> {
        let settings = config.validated()?;
        let config = settings.config();
        descriptors::raise_for(config.streams.max_streams);
        let subjects = Subjects::new(&config.nats.subject_prefix)?;
        let (listener, addr) = bind(&config.server).await?;
        let token = CancellationToken::new();
        let tasks = TaskTracker::new();
        let metrics = Metrics::new();
        metrics.set_cache_ttl(config.cache.ttl);
        let cache = open_cache(config, &metrics, &token, &tasks)?;
        let connection = common::nats::connect(&config.nats, "query-api")
            .await
            .context("nats connection options")?;
        let client = connection.client;
        let refresher = Refresher::Nats {
            client: client.clone(),
            subject: subjects.refresh(),
            timeout: config.nats.request_timeout,
        };
        let use_jetstream = config.nats.jetstream;
        let state = AppState::new(settings, cache, refresher, metrics);
        state
            .metrics
            .set_cache_available(state.cache.is_available());
        let subscribers = consumer::subscribe(&client, &subjects, &state.served)
            .await
            .context("subscribing to the price subjects")?;
        tasks.spawn(consumer::run(
            subscribers,
            subjects.clone(),
            state.cache.clone(),
            state.board.clone(),
            state.feed.clone(),
            state.metrics.clone(),
            token.clone(),
        ));
        tasks.spawn(state.board.clone().fan_out(token.clone()));
        let statuses = status::subscribe(&client, subjects.status())
            .await
            .context("subscribing to the status subject")?;
        tasks.spawn(status::run(statuses, state.feed.clone(), token.clone()));
        let warmup = Warmup {
            client: client.clone(),
            subjects,
            use_jetstream,
            refresher: state.refresher.clone(),
            cache: state.cache.clone(),
            board: state.board.clone(),
            served: state.served.clone(),
            readiness: state.readiness.clone(),
            metrics: state.metrics.clone(),
        };
        tasks.spawn(warmup.run(connection.events.subscribe(), token.clone()));
        tracing::info!(%addr, backend = state.cache.backend(), pairs = state.served.pairs.len(), "query-api built");
        Ok(QueryApi {
            listener,
            addr,
            state,
            client,
            tasks,
            _stop_on_drop: token.clone().drop_guard(),
            token,
        })
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (cache, readiness, metrics), for tests and embedding.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets in-flight requests
    /// finish within `server.shutdown_timeout`, stops the background tasks and drains NATS.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let QueryApi {
            listener,
            addr,
            state,
            client,
            tasks,
            token,
            _stop_on_drop,
        } = self;
        let grace = state.config.server.shutdown_timeout;
        let acceptor = TcpAcceptor::try_from(listener).context("listener")?;
        let limits = &state.config.limits;
        // Connection-level bounds (salvo's "fuse"): a client that trickles its request head
        // (slowloris) or goes silent is disconnected, so such clients cannot hold sockets.
        let fuse = FuseConfig::default()
            .with_http1_header_timeout(limits.header_timeout)
            .with_connection_idle_timeout(limits.idle_timeout);
        let mut server = Server::new(acceptor).fuse_config(fuse);
        server
            .http1_mut()
            .max_buf_size(read_buffer(&state.config.limits));
        let handle = server.handle();
        let service = Service::new(router(state.clone()));
        tracing::info!(%addr, "serving");
        let serve = server.try_serve(service);
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => result.context("server stopped")?,
            () = shutdown.cancelled() => {
                tracing::info!(grace = ?grace, "draining in-flight requests");
                state.readiness.begin_shutdown();
                // Streams get their final event and end now: they do not hold the drain.
                state.streams.close_all();
                handle.stop_graceful(Some(grace));
                serve.await.context("server stopped while draining")?;
            }
        }
        token.cancel();
        tasks.close();
        if tokio::time::timeout(TASKS_GRACE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time");
        }
        // Unsubscribe cleanly; bounded, since NATS may be the reason we are stopping.
        let _ = tokio::time::timeout(TASKS_GRACE, client.drain()).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Builds and runs query-api until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    QueryApi::build(config).await?.run(shutdown).await
}

/// Binds the REST listener; port 0 picks a free one. Like `TcpListener::bind` (every resolved
/// address in turn, `SO_REUSEADDR`, backlog 1024), plus `TCP_NODELAY`, which accepted
/// connections inherit: a stream's events are small writes, and with Nagle's algorithm one
/// written while the last is unacknowledged waits for the client's delayed ACK (up to 40 ms).
async fn bind(server: &ServerConfig) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let port = u16::try_from(server.port).context("server.port")?;
    let cannot = || format!("cannot listen on {}:{}", server.host, server.port);
    let mut last = None;
    for target in tokio::net::lookup_host((server.host.as_str(), port))
        .await
        .with_context(cannot)?
    {
        let listen = || -> std::io::Result<TcpListener> {
            let socket = if target.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.set_nodelay(true)?;
            socket.bind(target)?;
            socket.listen(1024)
        };
        match listen() {
            Ok(listener) => {
                let addr = listener.local_addr()?;
                return Ok((listener, addr));
            }
            Err(err) => last = Some(err),
        }
    }
    Err(last.map_or_else(
        || anyhow::anyhow!("{} resolves to no address", server.host),
        anyhow::Error::from,
    ))
    .with_context(cannot)
}

/// The configured cache; Redis's writer and probe run in `tasks` until `token` is cancelled.
fn open_cache(
    config: &Config,
    metrics: &Metrics,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<Cache> {
    Ok(match config.cache.backend {
        CacheBackend::Memory => Cache::Memory(MemoryCache::new()),
        CacheBackend::Redis => Cache::Redis(RedisCache::start(
            &config.cache.redis,
            &config.business.cache_prefix,
            config.cache.ttl,
            metrics.clone(),
            token,
            tasks,
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nodelay() {
        let server = ServerConfig {
            port: 0,
            host: "127.0.0.1".into(),
            ..ServerConfig::default()
        };
        let (listener, addr) = bind(&server).await.expect("binds");
        assert_ne!(addr.port(), 0);
        let _client = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let (accepted, _) = listener.accept().await.expect("accepts");
        assert!(accepted.nodelay().expect("readable"));
    }
}
