//! The ingestor's configuration: the sections of the shared configuration file it reads.

use std::time::Duration;

use common::config::{
    BusinessConfig, Invalid, LoggingConfig, NatsConfig, ServerConfig, TelemetryConfig, duration,
    format_duration, validate_port, validate_ttl, validate_url,
};
use serde::{Deserialize, Serialize};

/// Everything the ingestor reads. Other sections of the file (rate limits, Redis, …) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `ingestor`: its admin HTTP listener and identity.
    pub ingestor: IngestorSection,
    /// `server`: only `shutdown_timeout` applies to the ingestor.
    pub server: ServerConfig,
    /// `cache`: only `ttl` applies: quiet pairs are re-published well inside it.
    pub cache: FreshnessSection,
    /// `exchange.kraken`: where and how to reach Kraken.
    pub exchange: ExchangeSection,
    /// `nats`: the bus prices are published on.
    pub nats: NatsConfig,
    /// `logging`: level and format of the log lines.
    pub logging: LoggingConfig,
    /// `telemetry`: where traces go (nowhere by default).
    pub telemetry: TelemetryConfig,
    /// `business`: the pairs to stream.
    pub business: BusinessConfig,
}

/// `ingestor`: settings only the ingestor reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestorSection {
    /// Port of `/health`, `/ready` and `/metrics` (`INGESTOR_PORT`); 0 picks a free port.
    pub port: u32,
    /// Address to bind the admin listener.
    pub host: String,
    /// Id put in every message (`INGESTOR_INSTANCE_ID`); empty means host name plus a random suffix.
    pub instance_id: String,
    /// For tests only: shifts this ingestor's clock by this many milliseconds (within a
    /// day), so two ingestors whose clocks disagree can run on one host. 0 in production.
    pub clock_offset_ms: i64,
}

impl Default for IngestorSection {
    fn default() -> Self {
        IngestorSection {
            port: 8081,
            host: "0.0.0.0".into(),
            instance_id: String::new(),
            clock_offset_ms: 0,
        }
    }
}

/// The largest `ingestor.clock_offset_ms`: a day.
const MAX_CLOCK_OFFSET_MS: i64 = 86_400_000;

impl IngestorSection {
    /// `clock_offset_ms` as a duration.
    pub fn clock_offset(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_millis(self.clock_offset_ms)
    }
}

/// `cache`, as far as the ingestor is concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FreshnessSection {
    /// Maximum age of a price the API serves (`CACHE_TTL`); re-publishing runs at a third of it.
    #[serde(with = "duration")]
    pub ttl: Duration,
}

impl Default for FreshnessSection {
    fn default() -> Self {
        FreshnessSection {
            ttl: Duration::from_secs(30),
        }
    }
}

/// `exchange`: the exchanges prices come from (Kraken only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExchangeSection {
    /// `exchange.kraken`: where and how to reach Kraken.
    pub kraken: KrakenConfig,
}

/// Which Kraken events trigger a ticker update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventTrigger {
    /// An update on every trade: `last` changes exactly when the last traded price does.
    #[default]
    Trades,
    /// An update on every best-bid/offer change (denser; still carries `last`).
    Bbo,
}

impl EventTrigger {
    /// The value sent in the subscribe request.
    pub fn as_str(self) -> &'static str {
        match self {
            EventTrigger::Trades => "trades",
            EventTrigger::Bbo => "bbo",
        }
    }
}

/// `exchange.kraken`: Kraken's URLs, time budgets and retry bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KrakenConfig {
    /// WebSocket v2 URL (`KRAKEN_WS_URL`).
    pub websocket_url: String,
    /// REST base URL (`KRAKEN_REST_URL`, or the seed's `KRAKEN_BASE_URL`); a trailing
    /// `/0/public` is accepted and ignored.
    pub rest_url: String,
    /// Budget of one REST call including its retries (`KRAKEN_TIMEOUT`).
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Budget of one REST attempt (`KRAKEN_REQUEST_TIMEOUT`); below `timeout`.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// A socket that sends no frame (heartbeats included) for this long is stalled, and its
    /// pairs fall back to REST (`KRAKEN_FALLBACK_TIMEOUT`).
    #[serde(with = "duration")]
    pub fallback_timeout: Duration,
    /// REST attempts per call, 1–10 (`KRAKEN_MAX_RETRIES`).
    pub max_retries: u32,
    /// Interval of REST polls for pairs in fallback (`KRAKEN_POLL_INTERVAL`); at least 1s, the
    /// whole process never sends Kraken more than about one REST request per second.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// Interval of application-level pings on the socket (`KRAKEN_PING_INTERVAL`).
    #[serde(with = "duration")]
    pub ping_interval: Duration,
    /// Budget of the WebSocket handshake.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Longest wait between reconnection attempts.
    #[serde(with = "duration")]
    pub reconnect_max_delay: Duration,
    /// `trades` or `bbo` (`KRAKEN_EVENT_TRIGGER`).
    pub event_trigger: EventTrigger,
}

impl Default for KrakenConfig {
    fn default() -> Self {
        KrakenConfig {
            websocket_url: "wss://ws.kraken.com/v2".into(),
            rest_url: "https://api.kraken.com".into(),
            timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(3),
            fallback_timeout: Duration::from_secs(5),
            max_retries: 3,
            poll_interval: Duration::from_secs(2),
            ping_interval: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            reconnect_max_delay: Duration::from_secs(30),
            event_trigger: EventTrigger::Trades,
        }
    }
}

impl KrakenConfig {
    /// The REST base without the seed's `/0/public` suffix: `https://api.kraken.com`.
    pub fn rest_base(&self) -> &str {
        let url = self.rest_url.trim_end_matches('/');
        url.strip_suffix("/0/public").unwrap_or(url)
    }

    /// URLs, timeouts and retry bounds, in the seed's words where it had a rule.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.validate_urls()?;
        self.validate_positive()?;
        self.validate_bounds()
    }

    fn validate_urls(&self) -> Result<(), Invalid> {
        validate_url(
            "exchange.kraken.websocket_url",
            "kraken websocket_url",
            &self.websocket_url,
            &["ws", "wss"],
        )?;
        validate_url(
            "exchange.kraken.rest_url",
            "kraken rest_url",
            &self.rest_url,
            &["http", "https"],
        )
    }

    fn validate_positive(&self) -> Result<(), Invalid> {
        for (key, name, d) in [
            ("exchange.kraken.timeout", "timeout", self.timeout),
            (
                "exchange.kraken.request_timeout",
                "request_timeout",
                self.request_timeout,
            ),
            (
                "exchange.kraken.fallback_timeout",
                "fallback_timeout",
                self.fallback_timeout,
            ),
            (
                "exchange.kraken.ping_interval",
                "ping_interval",
                self.ping_interval,
            ),
            (
                "exchange.kraken.connect_timeout",
                "connect_timeout",
                self.connect_timeout,
            ),
            (
                "exchange.kraken.reconnect_max_delay",
                "reconnect_max_delay",
                self.reconnect_max_delay,
            ),
        ] {
            if d.is_zero() {
                return Err(Invalid::new(
                    key,
                    format!("kraken {name} must be positive, got: 0s"),
                ));
            }
        }
        Ok(())
    }

    /// Relations between the timeouts, retry counts, and the floors Kraken's heartbeat and
    /// rate limit set.
    fn validate_bounds(&self) -> Result<(), Invalid> {
        if self.request_timeout >= self.timeout {
            return Err(Invalid::new(
                "exchange.kraken.request_timeout",
                format!(
                    "kraken request_timeout ({}) should be less than timeout ({})",
                    format_duration(self.request_timeout),
                    format_duration(self.timeout)
                ),
            ));
        }
        if !(1..=10).contains(&self.max_retries) {
            return Err(Invalid::new(
                "exchange.kraken.max_retries",
                format!(
                    "kraken max_retries must be between 1-10, got: {}",
                    self.max_retries
                ),
            ));
        }
        // Heartbeats arrive about once a second: a shorter stall timeout would flap.
        if self.fallback_timeout < Duration::from_secs(2) {
            return Err(Invalid::new(
                "exchange.kraken.fallback_timeout",
                format!(
                    "kraken fallback_timeout too short: {}, minimum 2s (heartbeats arrive every second)",
                    format_duration(self.fallback_timeout)
                ),
            ));
        }
        // Kraken throttles public REST beyond about one request per second.
        if self.poll_interval < Duration::from_secs(1) {
            return Err(Invalid::new(
                "exchange.kraken.poll_interval",
                format!(
                    "kraken poll_interval too short: {}, minimum 1s (Kraken's public rate limit)",
                    format_duration(self.poll_interval)
                ),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Every rule, first failure only, in file order.
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_port("ingestor.port", self.ingestor.port)?;
        if self.ingestor.clock_offset_ms.abs() > MAX_CLOCK_OFFSET_MS {
            return Err(Invalid::new(
                "ingestor.clock_offset_ms",
                format!(
                    "clock offset must be within a day (+-{MAX_CLOCK_OFFSET_MS} ms), got: {}",
                    self.ingestor.clock_offset_ms
                ),
            ));
        }
        self.server.validate()?;
        validate_ttl("cache.ttl", self.cache.ttl)?;
        self.exchange.kraken.validate()?;
        self.nats.validate()?;
        self.logging.validate()?;
        self.telemetry.validate()?;
        self.business.validate()
    }

    /// How often a quiet pair's confirmed price is re-published: a third of the TTL, so two
    /// re-publishes can be lost before a price expires.
    pub fn republish_interval(&self) -> Duration {
        self.cache.ttl / 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn seed_rest_url_form_is_accepted() {
        let mut k = KrakenConfig::default();
        assert_eq!(k.rest_base(), "https://api.kraken.com");
        k.rest_url = "https://api.kraken.com/0/public/".into();
        assert_eq!(k.rest_base(), "https://api.kraken.com");
    }

    #[test]
    fn kraken_rules() {
        let check = |f: fn(&mut KrakenConfig)| {
            let mut k = KrakenConfig::default();
            f(&mut k);
            k.validate().map_err(|e| (e.key, e.message))
        };
        assert_eq!(
            check(|k| k.request_timeout = Duration::from_secs(10)),
            Err((
                "exchange.kraken.request_timeout",
                "kraken request_timeout (10s) should be less than timeout (10s)".into()
            ))
        );
        assert_eq!(
            check(|k| k.max_retries = 0).expect_err("0").0,
            "exchange.kraken.max_retries"
        );
        assert_eq!(
            check(|k| k.max_retries = 11).expect_err("11").0,
            "exchange.kraken.max_retries"
        );
        assert_eq!(
            check(|k| k.websocket_url = "https://x".into())
                .expect_err("scheme")
                .0,
            "exchange.kraken.websocket_url"
        );
        assert_eq!(
            check(|k| k.poll_interval = Duration::from_millis(200))
                .expect_err("fast")
                .0,
            "exchange.kraken.poll_interval"
        );
        assert_eq!(
            check(|k| k.fallback_timeout = Duration::from_secs(1))
                .expect_err("short")
                .0,
            "exchange.kraken.fallback_timeout"
        );
        assert_eq!(
            check(|k| k.timeout = Duration::ZERO).expect_err("zero").0,
            "exchange.kraken.timeout"
        );
    }

    #[test]
    fn republish_runs_well_inside_the_ttl() {
        let c = Config::default();
        assert_eq!(c.republish_interval(), Duration::from_secs(10));
    }
}
