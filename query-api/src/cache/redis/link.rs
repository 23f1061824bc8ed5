//! How the cache reaches Redis: one server at `cache.redis.addr`, which the redis crate's
//! `ConnectionManager` reconnects to by itself, or the primary that Redis Sentinel names for
//! `cache.redis.master_name` (the redis crate's `sentinel` module asks the sentinels in turn and
//! checks with `ROLE` that the node it names is a primary). A lost Sentinel connection is
//! forgotten, and the next [`Link::probe`] asks the sentinels again, so a failover is followed
//! without a restart.

use std::time::Duration;

use ::redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisFuture, Role, TlsCertificates, TlsMode, Value,
};
use anyhow::Context;
use arc_swap::ArcSwapOption;

use crate::config::RedisConfig;

/// The way to Redis; shared by every request and the background tasks.
pub enum Link {
    /// One server, reconnected by the connection manager.
    Direct(ConnectionManager),
    /// The primary named by the sentinels (boxed: far larger than a connection manager).
    Sentinel(Box<SentinelLink>),
}

/// The Sentinel side of a [`Link`].
pub struct SentinelLink {
    /// Asks the sentinels; one lookup at a time.
    client: tokio::sync::Mutex<SentinelClient>,
    /// The connection to the current primary; empty until found, and after it was lost.
    primary: ArcSwapOption<MultiplexedConnection>,
    config: AsyncConnectionConfig,
    /// Bound on one lookup: every sentinel asked, the primary connected and checked.
    budget: Duration,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Direct(_) => f.write_str("Link::Direct"),
            Link::Sentinel(s) => f
                .debug_struct("Link::Sentinel")
                .field("connected", &s.primary.load().is_some())
                .finish(),
        }
    }
}

/// A connection for one round trip.
#[derive(Clone)]
pub enum Conn {
    /// Through the connection manager.
    Managed(ConnectionManager),
    /// To the primary the sentinels named.
    Primary(MultiplexedConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Managed(c) => c.req_packed_command(cmd),
            Conn::Primary(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Primary(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Managed(c) => c.get_db(),
            Conn::Primary(c) => c.get_db(),
        }
    }
}

impl Link {
    /// Prepares the way to Redis without connecting (connections are made lazily, or by the
    /// first probe), so this never waits for Redis.
    pub fn open(config: &RedisConfig) -> anyhow::Result<Link> {
        if config.sentinels.is_empty() {
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.timeout))
                .set_response_timeout(Some(config.timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500));
            let client = direct_client(config)?;
            let manager = ConnectionManager::new_lazy_with_config(client, manager_config)?;
            return Ok(Link::Direct(manager));
        }
        Ok(Link::Sentinel(Box::new(SentinelLink {
            client: tokio::sync::Mutex::new(sentinel_client(config)?),
            primary: ArcSwapOption::empty(),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(config.timeout))
                .set_response_timeout(Some(config.timeout)),
            // A lookup is a few round trips to sentinels and one to the primary.
            budget: config.timeout * 4,
        })))
    }

    /// A connection for one round trip; `None` while the sentinels' primary is not connected
    /// (the probe looks for it).
    pub fn connection(&self) -> Option<Conn> {
        match self {
            Link::Direct(manager) => Some(Conn::Managed(manager.clone())),
            Link::Sentinel(s) => s.primary.load().as_deref().cloned().map(Conn::Primary),
        }
    }

    /// Forgets a connection that failed, so that the next probe asks the sentinels which node
    /// is the primary now. (The connection manager reconnects by itself.)
    pub fn lost(&self) {
        if let Link::Sentinel(s) = self {
            s.primary.store(None);
        }
    }

    /// Whether Redis answers, connecting first if need be. One server: `PING`. Sentinel: the
    /// node connected to still says it is the primary (`ROLE`: a former primary that came back
    /// as a replica would refuse writes), else the sentinels are asked for the primary.
    pub async fn probe(&self) -> bool {
        match self {
            Link::Direct(manager) => {
                let mut conn = manager.clone();
                ::redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            }
            Link::Sentinel(s) => s.probe().await,
        }
    }
}

impl SentinelLink {
    async fn probe(&self) -> bool {
        if let Some(mut conn) = self.primary.load().as_deref().cloned() {
            let role = ::redis::cmd("ROLE").query_async::<Role>(&mut conn).await;
            if matches!(role, Ok(Role::Primary { .. })) {
                return true;
            }
            tracing::warn!(role = ?role.map(|r| role_name(&r)), "redis node is no longer the primary; asking the sentinels");
            self.primary.store(None);
        }
        match tokio::time::timeout(self.budget, self.find_primary()).await {
            Ok(Ok(conn)) => {
                self.primary.store(Some(conn.into()));
                true
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "no redis primary from the sentinels");
                false
            }
            Err(_) => {
                tracing::debug!(budget = ?self.budget, "sentinel lookup timed out");
                false
            }
        }
    }

    async fn find_primary(&self) -> ::redis::RedisResult<MultiplexedConnection> {
        let mut client = self.client.lock().await;
        let conn = client
            .get_async_connection_with_config(&self.config)
            .await?;
        tracing::info!("connected to the redis primary named by the sentinels");
        Ok(conn)
    }
}

fn role_name(role: &Role) -> &'static str {
    match role {
        Role::Primary { .. } => "primary",
        Role::Replica { .. } => "replica",
        Role::Sentinel { .. } => "sentinel",
        _ => "unknown",
    }
}

/// `host:port` (IPv6 hosts in brackets) as the redis crate's address.
fn address(addr: &str, tls: bool) -> anyhow::Result<ConnectionAddr> {
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("invalid redis address {addr:?}"))?;
    Ok(if tls {
        // rustls needs one process-wide provider when a build links several.
        common::tls::install_default_provider();
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, port)
    })
}

/// The PEM CA certificate(s) of `tls_ca_file`, when TLS is on and one is configured.
fn certificates(config: &RedisConfig) -> anyhow::Result<Option<TlsCertificates>> {
    match &config.tls_ca_file {
        Some(path) if config.tls => {
            let root_cert = std::fs::read(path)
                .with_context(|| format!("cache.redis.tls_ca_file {}", path.display()))?;
            Ok(Some(TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            }))
        }
        _ => Ok(None),
    }
}

/// The client for one server: plain TCP, or TLS (`rediss://`) trusting the system's roots or
/// `tls_ca_file`. Built from connection details, not a URL (a password may contain any
/// character); errors never include the password (it is only in the connection settings).
fn direct_client(config: &RedisConfig) -> anyhow::Result<Client> {
    let mut redis = RedisConnectionInfo::default().set_db(i64::from(config.db));
    if !config.username.is_empty() {
        redis = redis.set_username(&config.username);
    }
    if !config.password.is_empty() {
        redis = redis.set_password(config.password.expose());
    }
    let info = address(&config.addr, config.tls)?
        .into_connection_info()?
        .set_redis_settings(redis);
    match certificates(config)? {
        Some(certificates) => Client::build_with_tls(info, certificates)
            .context("cache.redis.tls_ca_file: unusable certificate"),
        None => Ok(Client::open(info)?),
    }
}

/// The Sentinel client for the primary of `master_name`: the sentinels with their own
/// credentials, the data nodes with `username`, `password` and `db`; TLS (and `tls_ca_file`)
/// for both when `tls` is on.
fn sentinel_client(config: &RedisConfig) -> anyhow::Result<SentinelClient> {
    let sentinels = config
        .sentinels
        .iter()
        .map(|addr| address(addr, config.tls))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut builder =
        SentinelClientBuilder::new(sentinels, &config.master_name, SentinelServerType::Master)?
            .set_client_to_redis_db(i64::from(config.db));
    if !config.username.is_empty() {
        builder = builder.set_client_to_redis_username(&config.username);
    }
    if !config.password.is_empty() {
        builder = builder.set_client_to_redis_password(config.password.expose());
    }
    if !config.sentinel_username.is_empty() {
        builder = builder.set_client_to_sentinel_username(&config.sentinel_username);
    }
    if !config.sentinel_password.is_empty() {
        builder = builder.set_client_to_sentinel_password(config.sentinel_password.expose());
    }
    if config.tls {
        builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        if let Some(certificates) = certificates(config)? {
            builder = builder
                .set_client_to_sentinel_certificates(certificates.clone())
                .set_client_to_redis_certificates(certificates);
        }
    }
    Ok(builder.build()?)
}
