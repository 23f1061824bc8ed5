//! Configuration sections both binaries read, and the validation rules they share. Messages
//! follow the seed's wording (docs/seed-compatibility.md §4.3) so operators recognise them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::{Invalid, format_duration};
use crate::message::Encoding;
use crate::pair::{Pair, PairError, supported_list};
use crate::secret::Secret;
use crate::subject::Subjects;

/// `server`: the HTTP listener of query-api, and the shutdown budget of both binaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// TCP port of the REST API (`PORT`); 0 picks a free port.
    pub port: u32,
    /// Address to bind.
    pub host: String,
    /// How long a graceful shutdown may take before remaining work is cut (`SHUTDOWN_TIMEOUT`).
    #[serde(with = "super::duration")]
    pub shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 8080,
            host: "0.0.0.0".into(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerConfig {
    /// Port within 0..=65535, shutdown timeout within (0, 5m].
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_port("server.port", self.port)?;
        validate_shutdown_timeout("server.shutdown_timeout", self.shutdown_timeout)
    }
}

/// A TCP port: 1..=65535, or 0 for "any free port".
pub fn validate_port(key: &'static str, port: u32) -> Result<(), Invalid> {
    if port > 65535 {
        return Err(Invalid::new(
            key,
            format!("invalid port: {port}, must be between 1-65535"),
        ));
    }
    Ok(())
}

/// A shutdown budget: positive and at most five minutes.
pub fn validate_shutdown_timeout(key: &'static str, d: Duration) -> Result<(), Invalid> {
    if d.is_zero() {
        return Err(Invalid::new(
            key,
            format!(
                "shutdown_timeout must be positive, got: {}",
                format_duration(d)
            ),
        ));
    }
    if d > Duration::from_secs(300) {
        return Err(Invalid::new(
            key,
            format!(
                "shutdown_timeout too long: {}, max 5 minutes",
                format_duration(d)
            ),
        ));
    }
    Ok(())
}

/// The cache TTL, also the maximum age of a price the API serves (docs/architecture.md, Freshness).
pub fn validate_ttl(key: &'static str, ttl: Duration) -> Result<(), Invalid> {
    let d = format_duration(ttl);
    let message = if ttl.is_zero() {
        format!("TTL must be positive, got: {d}")
    } else if ttl < Duration::from_millis(100) {
        format!("TTL too short: {d}, minimum 100ms (causes excessive cache churn)")
    } else if ttl > Duration::from_secs(24 * 3600) {
        format!("TTL too long: {d}, maximum 24h (stale data risk)")
    } else if ttl < Duration::from_secs(1) {
        format!("TTL potentially inefficient: {d}, recommended minimum 1s for production")
    } else if ttl > Duration::from_secs(3600) {
        format!("TTL potentially stale: {d}, recommended maximum 1h for financial data")
    } else {
        return Ok(());
    };
    Err(Invalid::new(key, message))
}

/// A URL with one of `schemes` and a host. `what` names it in messages (`kraken rest_url`).
pub fn validate_url(
    key: &'static str,
    what: &str,
    value: &str,
    schemes: &[&str],
) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(key, format!("{what} cannot be empty")));
    }
    let url = url::Url::parse(value).map_err(|e| {
        let shown = redact_url(value);
        Invalid::new(key, format!("invalid {what}: {shown}, error: {e}"))
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(Invalid::new(
            key,
            format!(
                "invalid {what} scheme: {}, must be {}",
                url.scheme(),
                schemes.join(" or ")
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new(key, format!("{what} must have a host")));
    }
    Ok(())
}

/// A URL (or a comma-separated list of URLs) with any credentials in it masked, for printing:
/// `nats://user:pass@host` becomes `nats://user:***@host`, and `nats://token@host` becomes
/// `nats://***@host` (NATS reads a lone user part as a token). Works on text that does not
/// parse as a URL too, since error messages show exactly such text.
pub fn redact_url(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('@') {
        return std::borrow::Cow::Borrowed(text);
    }
    let redacted: Vec<String> = text
        .split(',')
        .map(|one| {
            let Some(start) = one.find("://").map(|i| i + 3) else {
                return one.to_owned();
            };
            let rest = &one[start..];
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let Some(at) = rest[..authority_end].rfind('@') else {
                return one.to_owned();
            };
            let masked = match rest[..at].split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            format!("{}{masked}{}", &one[..start], &rest[at..])
        })
        .collect();
    std::borrow::Cow::Owned(redacted.join(","))
}

fn serialize_redacted_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

/// Output format of logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (default).
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// `trace`, `debug`, `info`, `warn` or `error` (`LOG_LEVEL`); `RUST_LOG` overrides it.
    pub level: String,
    /// `json` or `text` (`LOG_FORMAT`).
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

/// `telemetry`: where traces go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP collector, e.g. `http://otel-collector:4318`; spans are sent to
    /// its `/v1/traces` (`OTEL_EXPORTER_OTLP_ENDPOINT`). Empty: no tracing at all.
    pub otlp_endpoint: String,
}

impl TelemetryConfig {
    /// Empty, or an `http`/`https` URL with a host.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.otlp_endpoint.trim().is_empty() {
            return Ok(());
        }
        validate_url(
            "telemetry.otlp_endpoint",
            "OTLP endpoint",
            self.otlp_endpoint.trim(),
            &["http", "https"],
        )
    }

    /// The collector's trace URL (`…/v1/traces`), or `None` when tracing is off.
    pub fn traces_url(&self) -> Option<String> {
        let base = self.otlp_endpoint.trim().trim_end_matches('/');
        if base.is_empty() {
            None
        } else if base.ends_with("/v1/traces") {
            Some(base.to_owned())
        } else {
            Some(format!("{base}/v1/traces"))
        }
    }
}

/// Accepted log levels.
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

impl LoggingConfig {
    /// Level is one of [`LOG_LEVELS`], in any case.
    pub fn validate(&self) -> Result<(), Invalid> {
        let level = self.level.trim().to_ascii_lowercase();
        if !LOG_LEVELS.contains(&level.as_str()) {
            return Err(Invalid::new(
                "logging.level",
                format!(
                    "invalid log level: {}, must be one of: [{}]",
                    self.level,
                    LOG_LEVELS.join(" ")
                ),
            ));
        }
        Ok(())
    }
}

/// `business`: which pairs are served, and the cache key prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BusinessConfig {
    /// Pairs to stream and serve, `BASE/QUOTE` (`SUPPORTED_PAIRS`, comma separated).
    #[serde(deserialize_with = "string_list")]
    pub supported_pairs: Vec<String>,
    /// Prefix of cache keys, e.g. `price:` gives `price:BTC/USD` (`CACHE_PREFIX`).
    pub cache_prefix: String,
}

/// Pairs served when none are configured: the seed's pairs.
pub const DEFAULT_PAIRS: &[&str] = &[
    "BTC/USD", "BTC/EUR", "BTC/CHF", "ETH/USD", "ETH/EUR", "LTC/USD", "XRP/USD",
];

impl Default for BusinessConfig {
    fn default() -> Self {
        BusinessConfig {
            supported_pairs: DEFAULT_PAIRS.iter().map(|p| (*p).to_owned()).collect(),
            cache_prefix: "price:".into(),
        }
    }
}

impl BusinessConfig {
    /// The configured pairs, parsed, in configuration order without duplicates. Malformed
    /// entries are reported before unknown ones, all of them at once.
    pub fn pairs(&self) -> Result<Vec<Pair>, Invalid> {
        const KEY: &str = "business.supported_pairs";
        if self.supported_pairs.iter().all(|p| p.trim().is_empty()) {
            return Err(Invalid::new(KEY, "supported_pairs cannot be empty"));
        }
        let (mut pairs, mut malformed, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
        for entry in self.supported_pairs.iter().filter(|p| !p.trim().is_empty()) {
            match Pair::parse(entry) {
                Ok(pair) if !pairs.contains(&pair) => pairs.push(pair),
                Ok(_) => {}
                Err(PairError::Format(e)) => malformed.push(e),
                Err(PairError::Unknown(e)) => unknown.push(e),
            }
        }
        if !malformed.is_empty() {
            return Err(Invalid::new(
                KEY,
                format!(
                    "invalid pair format: [{}], expected BASE/QUOTE (e.g., BTC/USD)",
                    malformed.join(" ")
                ),
            ));
        }
        if !unknown.is_empty() {
            return Err(Invalid::new(
                KEY,
                format!(
                    "unknown trading pairs: [{}], supported pairs: [{}]",
                    unknown.join(" "),
                    supported_list().replace(',', " ")
                ),
            ));
        }
        Ok(pairs)
    }

    /// Pairs parse, cache prefix is not empty.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.pairs()?;
        if self.cache_prefix.is_empty() {
            return Err(Invalid::new(
                "business.cache_prefix",
                "cache_prefix cannot be empty",
            ));
        }
        Ok(())
    }
}

/// Where JetStream keeps the last-value stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStorage {
    /// On disk: last values survive a NATS restart (default).
    #[default]
    File,
    /// In memory: faster, lost when NATS restarts.
    Memory,
}

/// `nats`: the bus both binaries use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsConfig {
    /// Server URL(s), comma separated (`NATS_URL`); `tls://` requires TLS. Printed with any
    /// credentials in it masked.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: String,
    /// First token(s) of every subject (`NATS_SUBJECT_PREFIX`), default `ltp`.
    pub subject_prefix: String,
    /// Encoding of published prices: `msgpack` or `json` (`NATS_ENCODING`).
    pub encoding: Encoding,
    /// User name for user/password authentication (`NATS_USER`).
    pub user: String,
    /// Password for user/password authentication (`NATS_PASSWORD`).
    #[serde(skip_serializing)]
    pub password: Secret,
    /// Token authentication (`NATS_TOKEN`).
    #[serde(skip_serializing)]
    pub token: Secret,
    /// Credentials file with a JWT and NKey seed (`NATS_CREDENTIALS_FILE`).
    pub credentials_file: Option<PathBuf>,
    /// CA certificate(s) to trust for the server's TLS certificate (`NATS_TLS_CA_FILE`).
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS (`NATS_TLS_CERT_FILE`).
    pub tls_cert_file: Option<PathBuf>,
    /// Client key for mutual TLS (`NATS_TLS_KEY_FILE`).
    pub tls_key_file: Option<PathBuf>,
    /// Require TLS even for `nats://` URLs.
    pub tls_required: bool,
    /// How long a refresh request waits for an ingestor's answer (`NATS_REQUEST_TIMEOUT`).
    #[serde(with = "super::duration")]
    pub request_timeout: Duration,
    /// How long one connection attempt may take.
    #[serde(with = "super::duration")]
    pub connect_timeout: Duration,
    /// Use JetStream for last values when the server has it.
    pub jetstream: bool,
    /// Storage of the last-value stream: `file` or `memory` (`NATS_STREAM_STORAGE`).
    pub stream_storage: StreamStorage,
    /// Copies of the last-value stream kept by a NATS cluster (`NATS_STREAM_REPLICAS`): 1, 3
    /// or 5. Odd, so a majority survives losing nodes: 3 keeps the stream through the loss of
    /// one node, 5 through two. More than 1 needs a clustered server.
    pub stream_replicas: u32,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://localhost:4222".into(),
            subject_prefix: "ltp".into(),
            encoding: Encoding::Msgpack,
            user: String::new(),
            password: Secret::default(),
            token: Secret::default(),
            credentials_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_required: false,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            jetstream: true,
            stream_storage: StreamStorage::File,
            stream_replicas: 1,
        }
    }
}

impl NatsConfig {
    /// The servers of `url`, one per comma-separated element, in the form the client connects
    /// to: validation and connecting both use this, so a list that passes validation is the
    /// list the client gets (the whole string is never handed over as one URL). Errors show
    /// the URL with its credentials masked.
    pub fn servers(&self) -> Result<Vec<async_nats::ServerAddr>, Invalid> {
        const KEY: &str = "nats.url";
        if self.url.trim().is_empty() {
            return Err(Invalid::new(KEY, "nats url cannot be empty"));
        }
        self.url
            .split(',')
            .map(|one| {
                let one = one.trim();
                validate_url(KEY, "nats url", one, &["nats", "tls", "ws", "wss"])?;
                one.parse::<async_nats::ServerAddr>().map_err(|e| {
                    Invalid::new(
                        KEY,
                        format!("invalid nats url: {}, error: {e}", redact_url(one)),
                    )
                })
            })
            .collect()
    }

    /// URLs, prefix, timeouts and files are usable.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.servers()?;
        if !(1..=5).contains(&self.stream_replicas) || self.stream_replicas.is_multiple_of(2) {
            return Err(Invalid::new(
                "nats.stream_replicas",
                format!(
                    "invalid stream replicas: {}, must be 1, 3 or 5 (odd, so a majority of copies survives a node loss)",
                    self.stream_replicas
                ),
            ));
        }
        Subjects::new(&self.subject_prefix)
            .map_err(|e| Invalid::new("nats.subject_prefix", e.to_string()))?;
        for (key, d) in [
            ("nats.request_timeout", self.request_timeout),
            ("nats.connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() {
                return Err(Invalid::new(key, "must be positive"));
            }
        }
        if !self.token.is_empty() && (!self.user.is_empty() || self.credentials_file.is_some()) {
            return Err(Invalid::new(
                "nats.token",
                "use one of token, user/password or credentials_file",
            ));
        }
        if self.user.is_empty() != self.password.is_empty() {
            return Err(Invalid::new(
                "nats.user",
                "user and password must be set together",
            ));
        }
        for (key, file) in [
            ("nats.credentials_file", &self.credentials_file),
            ("nats.tls_ca_file", &self.tls_ca_file),
            ("nats.tls_cert_file", &self.tls_cert_file),
            ("nats.tls_key_file", &self.tls_key_file),
        ] {
            if let Some(path) = file
                && !path.is_file()
            {
                return Err(Invalid::new(
                    key,
                    format!("{}: no such file", path.display()),
                ));
            }
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(Invalid::new(
                "nats.tls_cert_file",
                "tls_cert_file and tls_key_file must be set together",
            ));
        }
        Ok(())
    }
}

/// Deserialises a list from a sequence or from one comma-separated string (as environment
/// variables give it).
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(s) => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
    })
}
