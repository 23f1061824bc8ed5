//! The sections of the shared configuration file query-api reads, with their defaults (the
//! seed's). Their rules are in `rules.rs`.

use std::path::PathBuf;
use std::time::Duration;

use common::config::{
    BusinessConfig, Invalid, LoggingConfig, NatsConfig, ServerConfig, TelemetryConfig, duration,
    string_list,
};
use common::secret::Secret;
use serde::{Deserialize, Serialize};

/// Everything query-api reads. Other sections of the file (`exchange`, `ingestor`) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `server`: the HTTP listener.
    pub server: ServerConfig,
    /// `cache`: backend and TTL (the maximum age of a price served).
    pub cache: CacheConfig,
    /// `nats`: where prices come from and refreshes go.
    pub nats: NatsConfig,
    /// `rate_limit`: per-client token bucket on `/api/v1/*`.
    pub rate_limit: RateLimitConfig,
    /// `auth`: API keys.
    pub auth: AuthConfig,
    /// `cors`.
    pub cors: CorsConfig,
    /// `limits`: request size and time bounds.
    pub limits: LimitsConfig,
    /// `streams`: the SSE and WebSocket endpoints.
    pub streams: super::streams::StreamsConfig,
    /// `logging`.
    pub logging: LoggingConfig,
    /// `telemetry`: where traces go (nowhere by default).
    pub telemetry: TelemetryConfig,
    /// `access_log`: the one line logged per request.
    pub access_log: AccessLogConfig,
    /// `business`: the pairs served and the cache key prefix.
    pub business: BusinessConfig,
}

/// Which cache holds the prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// In this process (default).
    #[default]
    #[serde(alias = "Memory", alias = "MEMORY")]
    Memory,
    /// Shared by every replica.
    #[serde(alias = "Redis", alias = "REDIS")]
    Redis,
}

/// `cache`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// `memory` or `redis` (`CACHE_BACKEND`).
    pub backend: CacheBackend,
    /// Maximum age of a price served, 1s–1h (`CACHE_TTL`).
    #[serde(with = "duration")]
    pub ttl: Duration,
    /// `cache.redis`, used when `backend` is `redis`.
    pub redis: RedisConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            backend: CacheBackend::Memory,
            ttl: Duration::from_secs(30),
            redis: RedisConfig::default(),
        }
    }
}

/// `cache.redis`: one server at `addr`, or, when `sentinels` is set, the primary that Redis
/// Sentinel names for `master_name` (followed through failovers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `host:port` (`REDIS_ADDR`); not used with `sentinels`.
    pub addr: String,
    /// Sentinels asked for the primary, `host:port` each, comma separated (`REDIS_SENTINELS`).
    #[serde(deserialize_with = "string_list")]
    pub sentinels: Vec<String>,
    /// The primary's name in the sentinels' `sentinel monitor` line (`REDIS_MASTER_NAME`);
    /// needed with `sentinels`.
    pub master_name: String,
    /// ACL user on the sentinels, when they require one (`REDIS_SENTINEL_USERNAME`).
    pub sentinel_username: String,
    /// Password of the sentinels (`REDIS_SENTINEL_PASSWORD`); `password` is the data nodes'.
    #[serde(skip_serializing)]
    pub sentinel_password: Secret,
    /// ACL user name; empty uses the default user (`REDIS_USERNAME`).
    pub username: String,
    /// Password (`REDIS_PASSWORD`).
    #[serde(skip_serializing)]
    pub password: Secret,
    /// Database number, 0–15 (`REDIS_DB`).
    pub db: u32,
    /// Connect with TLS, `rediss://` (`REDIS_TLS`).
    pub tls: bool,
    /// CA certificate(s), PEM, to trust for the server's certificate instead of the system's
    /// roots (`REDIS_TLS_CA_FILE`); needs `tls`.
    pub tls_ca_file: Option<PathBuf>,
    /// Bound on one Redis round trip; past it the request fails fast (`REDIS_TIMEOUT`).
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            addr: "localhost:6379".into(),
            sentinels: Vec::new(),
            master_name: String::new(),
            sentinel_username: String::new(),
            sentinel_password: Secret::default(),
            username: String::new(),
            password: Secret::default(),
            db: 0,
            tls: false,
            tls_ca_file: None,
            timeout: Duration::from_millis(500),
        }
    }
}

/// `rate_limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Whether `/api/v1/*` is rate limited (`RATE_LIMIT_ENABLED`).
    pub enabled: bool,
    /// Bucket size: the burst a client may send, 1–10000 (`RATE_LIMIT_CAPACITY`).
    pub capacity: u32,
    /// Tokens added per second, 1–1000 (`RATE_LIMIT_REFILL_RATE`).
    pub refill_rate: u32,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed
    /// (`RATE_LIMIT_TRUSTED_PROXIES`); from anyone else the header is ignored.
    #[serde(deserialize_with = "string_list")]
    pub trusted_proxies: Vec<String>,
    /// Most clients tracked at once; the least recently seen are forgotten first
    /// (`RATE_LIMIT_MAX_CLIENTS`).
    pub max_clients: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            capacity: 100,
            refill_rate: 10,
            trusted_proxies: Vec::new(),
            max_clients: 100_000,
        }
    }
}

/// `auth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Require an API key on `/api/v1/*` (`AUTH_ENABLED`).
    pub enabled: bool,
    /// Accepted key(s), comma separated (`AUTH_API_KEY`).
    #[serde(skip_serializing)]
    pub api_key: Secret,
    /// File with one accepted key per line (`AUTH_API_KEYS_FILE`); `#` starts a comment.
    pub api_keys_file: Option<PathBuf>,
    /// Header carrying the key (`AUTH_HEADER_NAME`).
    pub header_name: String,
    /// Paths (or path prefixes ending in `/`) that never need a key (`AUTH_UNAUTH_PATHS`).
    #[serde(deserialize_with = "string_list")]
    pub unauth_paths: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            api_key: Secret::default(),
            api_keys_file: None,
            header_name: "X-API-Key".into(),
            unauth_paths: [
                "/health",
                "/ready",
                "/metrics",
                "/docs",
                "/swagger",
                "/openapi.json",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl AuthConfig {
    /// Every accepted key: from `api_key` (comma separated) and from `api_keys_file`.
    pub fn keys(&self) -> Result<Vec<Secret>, Invalid> {
        let mut keys: Vec<Secret> = self
            .api_key
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(Secret::new)
            .collect();
        if let Some(path) = &self.api_keys_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Invalid::new("auth.api_keys_file", format!("{}: {e}", path.display()))
            })?;
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(Secret::new),
            );
        }
        Ok(keys)
    }
}

/// `cors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Allowed origins; `*` allows any (`CORS_ALLOWED_ORIGINS`).
    #[serde(deserialize_with = "string_list")]
    pub allowed_origins: Vec<String>,
    /// Methods announced in `Access-Control-Allow-Methods`.
    #[serde(deserialize_with = "string_list")]
    pub allowed_methods: Vec<String>,
    /// Headers announced in `Access-Control-Allow-Headers`.
    #[serde(deserialize_with = "string_list")]
    pub allowed_headers: Vec<String>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: vec!["*".into()],
            allowed_methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
                .map(String::from)
                .to_vec(),
            allowed_headers: [
                "Content-Type",
                "Authorization",
                "X-API-Key",
                "If-None-Match",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// `limits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Longest request URL (path and query) accepted; longer gets 414.
    pub max_url_bytes: u32,
    /// Largest total size of request headers; larger gets 431.
    pub max_header_bytes: u32,
    /// Most pairs in one request; more gets 400.
    pub max_pairs: u32,
    /// Bound on handling one request.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's line and headers; past it the connection
    /// is closed (slow-header "slowloris" clients cannot hold connections open).
    #[serde(with = "duration")]
    pub header_timeout: Duration,
    /// A connection on which nothing was read or written for this long is closed (idle
    /// keep-alive connections and stalled clients do not pile up).
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
}

/// The longest request target hyper accepts (its `MAX_URI_LEN`).
pub const MAX_URL_BYTES: u32 = 65_534;

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_url_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_pairs: 100,
            request_timeout: Duration::from_secs(15),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// At which level the access log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogLevel {
    /// One `info` line per request (default).
    #[default]
    Info,
    /// At `debug`: shown only with `LOG_LEVEL=debug`, so busy deployments log errors only.
    Debug,
    /// Never.
    Off,
}

/// `access_log`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessLogConfig {
    /// `info`, `debug` or `off` (`ACCESS_LOG_LEVEL`). Lines carry method, route, status,
    /// duration, request id and client address, under the target `query_api::access`.
    pub level: AccessLogLevel,
}
