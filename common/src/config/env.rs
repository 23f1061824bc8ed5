//! Environment variables: the seed's names (and a few new ones) mapped to configuration keys,
//! plus `LTP_SECTION__KEY` for any key.
//!
//! Each variable is its own provider so an error can name the exact variable. Values stay
//! strings here: numbers and booleans are interpreted at extraction (`extract_lossy`), so a
//! numeric-looking password like `0012` keeps its leading zeros.

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

/// `(variable, key)`, lowest precedence first: when two variables set one key (an old alias
/// and its new name), the later one wins.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("PORT", "server.port"),
    ("SHUTDOWN_TIMEOUT", "server.shutdown_timeout"),
    ("CACHE_BACKEND", "cache.backend"),
    ("CACHE_TTL", "cache.ttl"),
    ("REDIS_ADDR", "cache.redis.addr"),
    ("REDIS_PASSWORD", "cache.redis.password"),
    ("REDIS_USERNAME", "cache.redis.username"),
    ("REDIS_DB", "cache.redis.db"),
    ("REDIS_TLS", "cache.redis.tls"),
    ("REDIS_TLS_CA_FILE", "cache.redis.tls_ca_file"),
    ("REDIS_TIMEOUT", "cache.redis.timeout"),
    ("REDIS_SENTINELS", "cache.redis.sentinels"),
    ("REDIS_MASTER_NAME", "cache.redis.master_name"),
    ("REDIS_SENTINEL_USERNAME", "cache.redis.sentinel_username"),
    ("REDIS_SENTINEL_PASSWORD", "cache.redis.sentinel_password"),
    ("CACHE_PREFIX", "business.cache_prefix"),
    ("SUPPORTED_PAIRS", "business.supported_pairs"),
    ("RATE_LIMIT_ENABLED", "rate_limit.enabled"),
    ("RATE_LIMIT_CAPACITY", "rate_limit.capacity"),
    ("RATE_LIMIT_REFILL_RATE", "rate_limit.refill_rate"),
    ("RATE_LIMIT_TRUSTED_PROXIES", "rate_limit.trusted_proxies"),
    ("RATE_LIMIT_MAX_CLIENTS", "rate_limit.max_clients"),
    ("LOG_LEVEL", "logging.level"),
    ("LOG_FORMAT", "logging.format"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("ACCESS_LOG_LEVEL", "access_log.level"),
    ("KRAKEN_TIMEOUT", "exchange.kraken.timeout"),
    ("KRAKEN_REQUEST_TIMEOUT", "exchange.kraken.request_timeout"),
    (
        "KRAKEN_FALLBACK_TIMEOUT",
        "exchange.kraken.fallback_timeout",
    ),
    ("KRAKEN_MAX_RETRIES", "exchange.kraken.max_retries"),
    ("KRAKEN_POLL_INTERVAL", "exchange.kraken.poll_interval"),
    ("KRAKEN_PING_INTERVAL", "exchange.kraken.ping_interval"),
    ("KRAKEN_EVENT_TRIGGER", "exchange.kraken.event_trigger"),
    ("KRAKEN_WEBSOCKET_URL", "exchange.kraken.websocket_url"),
    ("KRAKEN_WS_URL", "exchange.kraken.websocket_url"),
    ("KRAKEN_BASE_URL", "exchange.kraken.rest_url"),
    ("KRAKEN_REST_URL", "exchange.kraken.rest_url"),
    ("AUTH_ENABLED", "auth.enabled"),
    ("AUTH_API_KEY", "auth.api_key"),
    ("AUTH_API_KEYS_FILE", "auth.api_keys_file"),
    ("AUTH_HEADER_NAME", "auth.header_name"),
    ("AUTH_UNAUTH_PATHS", "auth.unauth_paths"),
    ("CORS_ALLOWED_ORIGINS", "cors.allowed_origins"),
    ("NATS_URL", "nats.url"),
    ("NATS_SUBJECT_PREFIX", "nats.subject_prefix"),
    ("NATS_ENCODING", "nats.encoding"),
    ("NATS_USER", "nats.user"),
    ("NATS_PASSWORD", "nats.password"),
    ("NATS_TOKEN", "nats.token"),
    ("NATS_CREDENTIALS_FILE", "nats.credentials_file"),
    ("NATS_TLS_CA_FILE", "nats.tls_ca_file"),
    ("NATS_TLS_CERT_FILE", "nats.tls_cert_file"),
    ("NATS_TLS_KEY_FILE", "nats.tls_key_file"),
    ("NATS_REQUEST_TIMEOUT", "nats.request_timeout"),
    ("NATS_STREAM_STORAGE", "nats.stream_storage"),
    ("NATS_STREAM_REPLICAS", "nats.stream_replicas"),
    ("INGESTOR_PORT", "ingestor.port"),
    ("INGESTOR_INSTANCE_ID", "ingestor.instance_id"),
];

/// Prefix of the generic variables: `LTP_CACHE__REDIS__ADDR` sets `cache.redis.addr`.
const GENERIC_PREFIX: &str = "LTP_";

/// The variable to mention for a key, if it has a named one.
pub fn env_var_for(key: &str) -> Option<&'static str> {
    ENV_KEYS
        .iter()
        .rev()
        .find(|(_, k)| *k == key)
        .map(|(v, _)| *v)
}

/// One environment variable setting one key.
struct EnvVar {
    name: String,
    key: String,
    value: String,
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::from(
            format!("environment variable {}", self.name),
            Source::Custom(self.name.clone()),
        )
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let nested = figment::util::nest(&self.key, Value::from(self.value.clone()));
        let dict = nested.into_dict().unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

/// Merges every set, non-empty variable into `figment` (empty means unset, as in the seed).
pub(super) fn merge_into(mut figment: Figment) -> Figment {
    for (name, key) in ENV_KEYS {
        if let Ok(value) = std::env::var(name)
            && !value.trim().is_empty()
        {
            figment = figment.merge(EnvVar {
                name: (*name).into(),
                key: (*key).into(),
                value,
            });
        }
    }
    let mut generic: Vec<(String, String)> = std::env::vars()
        .filter(|(name, value)| name.starts_with(GENERIC_PREFIX) && !value.trim().is_empty())
        .collect();
    generic.sort();
    for (name, value) in generic {
        let key = name[GENERIC_PREFIX.len()..]
            .to_ascii_lowercase()
            .replace("__", ".");
        figment = figment.merge(EnvVar { name, key, value });
    }
    figment
}
