//! The rules of every section, in the seed's order where it had one. [`Config::validated`]
//! checks them once and keeps what checking had to compute (the served pairs, the API keys,
//! the trusted networks) in a [`Validated`], so nothing downstream parses or checks the
//! configuration again.

use std::net::IpAddr;

use common::config::{Invalid, validate_ttl};
use common::secret::Secret;
use ipnet::{IpNet, Ipv4Net};
use salvo::http::HeaderName;

use super::sections::{CacheBackend, Config, MAX_URL_BYTES, RedisConfig};
use crate::params::Served;

impl Config {
    /// Every rule, first failure only, in the seed's order where it had one.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.check().map(drop)
    }

    /// Checks every rule (as [`Config::validate`]) and keeps what the checks computed.
    pub fn validated(self) -> Result<Validated, Invalid> {
        let derived = self.check()?;
        Ok(Validated {
            config: self,
            derived,
        })
    }

    /// The rules in order.
    fn check(&self) -> Result<Derived, Invalid> {
        self.server.validate()?;
        validate_ttl("cache.ttl", self.cache.ttl)?;
        if self.cache.backend == CacheBackend::Redis {
            self.validate_redis()?;
        }
        self.nats.validate()?;
        let trusted_proxies = self.validate_rate_limit()?;
        let (key_header, api_keys) = self.validate_auth()?;
        self.validate_limits()?;
        self.streams.validate()?;
        self.logging.validate()?;
        self.telemetry.validate()?;
        self.business.validate()?;
        Ok(Derived {
            served: Served::new(self.business.pairs()?),
            access: Access {
                api_keys,
                key_header,
                trusted_proxies,
            },
        })
    }

    fn validate_redis(&self) -> Result<(), Invalid> {
        let redis = &self.cache.redis;
        if redis.sentinels.is_empty() {
            validate_sentinel_settings_unused(redis)?;
            if redis.addr.trim().is_empty() {
                return Err(Invalid::new(
                    "cache.redis.addr",
                    "redis addr cannot be empty",
                ));
            }
            if !is_host_port(&redis.addr) {
                return Err(Invalid::new(
                    "cache.redis.addr",
                    format!(
                        "invalid redis addr format: {}, expected host:port",
                        redis.addr
                    ),
                ));
            }
        } else {
            if let Some(bad) = redis.sentinels.iter().find(|s| !is_host_port(s)) {
                return Err(Invalid::new(
                    "cache.redis.sentinels",
                    format!("invalid sentinel address: {bad}, expected host:port"),
                ));
            }
            if redis.master_name.trim().is_empty() {
                return Err(Invalid::new(
                    "cache.redis.master_name",
                    "needed with cache.redis.sentinels: the name the sentinels monitor the primary under",
                ));
            }
        }
        if redis.db > 15 {
            return Err(Invalid::new(
                "cache.redis.db",
                format!("invalid redis DB: {}, must be between 0-15", redis.db),
            ));
        }
        if redis.timeout.is_zero() {
            return Err(Invalid::new(
                "cache.redis.timeout",
                "redis timeout must be positive",
            ));
        }
        if let Some(ca) = &redis.tls_ca_file {
            // A CA without TLS would be silently unused: the operator meant TLS.
            if !redis.tls {
                return Err(Invalid::new(
                    "cache.redis.tls_ca_file",
                    "needs cache.redis.tls (REDIS_TLS=true)",
                ));
            }
            if !ca.is_file() {
                return Err(Invalid::new(
                    "cache.redis.tls_ca_file",
                    format!("{}: no such file", ca.display()),
                ));
            }
        }
        Ok(())
    }

    /// Also returns the trusted proxies' networks.
    fn validate_rate_limit(&self) -> Result<Vec<IpNet>, Invalid> {
        let rl = &self.rate_limit;
        if rl.enabled {
            let (c, r) = (rl.capacity, rl.refill_rate);
            let fail = |key, msg: String| Err(Invalid::new(key, msg));
            if c == 0 {
                return fail(
                    "rate_limit.capacity",
                    format!("rate_limit capacity must be positive when enabled, got: {c}"),
                );
            }
            if r == 0 {
                return fail(
                    "rate_limit.refill_rate",
                    format!("rate_limit refill_rate must be positive when enabled, got: {r}"),
                );
            }
            if c > 10_000 {
                return fail(
                    "rate_limit.capacity",
                    format!("rate_limit capacity too high: {c}, max 10000"),
                );
            }
            if r > 1000 {
                return fail(
                    "rate_limit.refill_rate",
                    format!("rate_limit refill_rate too high: {r}, max 1000"),
                );
            }
            if rl.max_clients == 0 {
                return fail(
                    "rate_limit.max_clients",
                    "rate_limit max_clients must be positive".into(),
                );
            }
        }
        rl.trusted_proxies
            .iter()
            .map(|proxy| {
                parse_network(proxy).ok_or_else(|| {
                    Invalid::new(
                        "rate_limit.trusted_proxies",
                        format!(
                            "invalid trusted proxy: {proxy}, expected an IP address or CIDR (10.0.0.0/8)"
                        ),
                    )
                })
            })
            .collect()
    }

    /// Also returns the key header and, when auth is enabled, the accepted keys.
    fn validate_auth(&self) -> Result<(HeaderName, Option<Vec<Secret>>), Invalid> {
        let auth = &self.auth;
        let header = Some(&auth.header_name)
            .filter(|name| {
                !name.trim().is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .and_then(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .ok_or_else(|| {
                Invalid::new(
                    "auth.header_name",
                    format!("invalid header name: {:?}", auth.header_name),
                )
            })?;
        let keys = if auth.enabled {
            let keys = auth.keys()?;
            // Enabling auth without a key would lock every client out (a defect of the seed).
            if keys.is_empty() {
                return Err(Invalid::new(
                    "auth.api_key",
                    "auth is enabled but no API key is configured (set AUTH_API_KEY or AUTH_API_KEYS_FILE)",
                ));
            }
            Some(keys)
        } else {
            None
        };
        if auth.unauth_paths.iter().any(|p| !p.starts_with('/')) {
            return Err(Invalid::new(
                "auth.unauth_paths",
                "every unauth path must start with '/'",
            ));
        }
        Ok((header, keys))
    }

    fn validate_limits(&self) -> Result<(), Invalid> {
        let l = &self.limits;
        if l.max_url_bytes < 256 {
            return Err(Invalid::new(
                "limits.max_url_bytes",
                format!("max_url_bytes too small: {}, minimum 256", l.max_url_bytes),
            ));
        }
        // hyper answers 414 itself past this, whatever is configured.
        if l.max_url_bytes > MAX_URL_BYTES {
            return Err(Invalid::new(
                "limits.max_url_bytes",
                format!(
                    "max_url_bytes too large: {}, maximum {MAX_URL_BYTES}",
                    l.max_url_bytes
                ),
            ));
        }
        if l.max_header_bytes < 1024 {
            return Err(Invalid::new(
                "limits.max_header_bytes",
                format!(
                    "max_header_bytes too small: {}, minimum 1024",
                    l.max_header_bytes
                ),
            ));
        }
        if l.max_pairs == 0 {
            return Err(Invalid::new(
                "limits.max_pairs",
                "max_pairs must be positive",
            ));
        }
        if l.request_timeout.is_zero() {
            return Err(Invalid::new(
                "limits.request_timeout",
                "request_timeout must be positive",
            ));
        }
        for (key, d) in [
            ("limits.header_timeout", l.header_timeout),
            ("limits.idle_timeout", l.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(Invalid::new(key, "must be positive"));
            }
        }
        // An idle timeout below the request bound would cut a slow (but legal) answer short.
        if l.idle_timeout < l.request_timeout {
            return Err(Invalid::new(
                "limits.idle_timeout",
                format!(
                    "idle_timeout ({:?}) must be at least request_timeout ({:?})",
                    l.idle_timeout, l.request_timeout
                ),
            ));
        }
        Ok(())
    }
}

/// Sentinel settings without `cache.redis.sentinels` would be silently unused: the operator
/// meant Sentinel.
fn validate_sentinel_settings_unused(redis: &RedisConfig) -> Result<(), Invalid> {
    let set = [
        ("cache.redis.master_name", !redis.master_name.is_empty()),
        (
            "cache.redis.sentinel_username",
            !redis.sentinel_username.is_empty(),
        ),
        (
            "cache.redis.sentinel_password",
            !redis.sentinel_password.is_empty(),
        ),
    ];
    match set.into_iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(Invalid::new(
            key,
            "needs cache.redis.sentinels (REDIS_SENTINELS)",
        )),
        None => Ok(()),
    }
}

/// `host:port` with a non-empty host and a port 1–65535.
fn is_host_port(addr: &str) -> bool {
    addr.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// A configuration that passed every rule, with what the rules computed.
#[derive(Debug)]
pub struct Validated {
    config: Config,
    derived: Derived,
}

impl Validated {
    /// The configuration as loaded.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Splits into the configuration and what validation computed from it.
    pub(crate) fn into_parts(self) -> (Config, Derived) {
        (self.config, self.derived)
    }
}

/// What validation computed from a [`Config`].
#[derive(Debug)]
pub(crate) struct Derived {
    /// `business.supported_pairs`, parsed.
    pub served: Served,
    pub access: Access,
}

/// The `auth` and `rate_limit` settings the middleware works from, as validation parsed them.
#[derive(Debug, Clone)]
pub struct Access {
    /// The accepted API keys (from `auth.api_key` and `auth.api_keys_file`): `Some` exactly
    /// when `auth.enabled`, and then never empty.
    pub api_keys: Option<Vec<Secret>>,
    /// `auth.header_name`.
    pub key_header: HeaderName,
    /// `rate_limit.trusted_proxies`; IPv4-mapped IPv6 networks in their IPv4 form.
    pub trusted_proxies: Vec<IpNet>,
}

/// `10.0.0.1` (one address) or `10.0.0.0/8`. An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`)
/// becomes the IPv4 network it means, since client addresses are compared in that form.
fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    let net = text
        .parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .ok()?;
    Some(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .addr()
            .to_ipv4_mapped()
            .and_then(|v4| Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(net, IpNet::V4),
        _ => net,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::sections::{AuthConfig, RedisConfig};

    fn check(f: impl FnOnce(&mut Config)) -> Result<(), (&'static str, String)> {
        let mut c = Config::default();
        f(&mut c);
        c.validate().map_err(|e| (e.key, e.message))
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(check(|_| {}), Ok(()));
    }

    #[test]
    fn redis_rules_apply_only_to_the_redis_backend() {
        assert_eq!(check(|c| c.cache.redis.addr = "nocolon".into()), Ok(()));
        let redis = |f: fn(&mut RedisConfig)| {
            check(|c| {
                c.cache.backend = CacheBackend::Redis;
                f(&mut c.cache.redis);
            })
        };
        assert_eq!(redis(|_| {}), Ok(()));
        assert_eq!(
            redis(|r| r.addr = "nocolon".into()),
            Err((
                "cache.redis.addr",
                "invalid redis addr format: nocolon, expected host:port".into()
            ))
        );
        assert_eq!(
            redis(|r| r.addr = String::new()).expect_err("empty").1,
            "redis addr cannot be empty"
        );
        assert_eq!(
            redis(|r| r.db = 16),
            Err((
                "cache.redis.db",
                "invalid redis DB: 16, must be between 0-15".into()
            ))
        );
        assert_eq!(
            redis(|r| r.tls_ca_file = Some("Cargo.toml".into())),
            Err((
                "cache.redis.tls_ca_file",
                "needs cache.redis.tls (REDIS_TLS=true)".into()
            ))
        );
        assert_eq!(
            redis(|r| {
                r.tls = true;
                r.tls_ca_file = Some("/nonexistent/ca.pem".into());
            }),
            Err((
                "cache.redis.tls_ca_file",
                "/nonexistent/ca.pem: no such file".into()
            ))
        );
        assert_eq!(
            redis(|r| {
                r.tls = true;
                r.tls_ca_file = Some("Cargo.toml".into());
            }),
            Ok(())
        );
    }

    #[test]
    fn sentinel_needs_addresses_and_a_master_name() {
        let redis = |f: fn(&mut RedisConfig)| {
            check(|c| {
                c.cache.backend = CacheBackend::Redis;
                f(&mut c.cache.redis);
            })
        };
        assert_eq!(
            redis(|r| {
                r.sentinels = vec!["s1:26379".into(), "[::1]:26380".into()];
                r.master_name = "ltp".into();
                r.addr = String::new();
            }),
            Ok(())
        );
        assert_eq!(
            redis(|r| r.sentinels = vec!["s1:26379".into()]),
            Err((
                "cache.redis.master_name",
                "needed with cache.redis.sentinels: the name the sentinels monitor the primary under"
                    .into()
            ))
        );
        assert_eq!(
            redis(|r| {
                r.sentinels = vec!["s1:26379".into(), "s2".into()];
                r.master_name = "ltp".into();
            }),
            Err((
                "cache.redis.sentinels",
                "invalid sentinel address: s2, expected host:port".into()
            ))
        );
        assert_eq!(
            redis(|r| r.master_name = "ltp".into()),
            Err((
                "cache.redis.master_name",
                "needs cache.redis.sentinels (REDIS_SENTINELS)".into()
            ))
        );
        assert_eq!(
            redis(|r| r.sentinel_password = Secret::new("x"))
                .expect_err("unused")
                .0,
            "cache.redis.sentinel_password"
        );
    }

    #[test]
    fn connection_timeouts_are_positive_and_idle_outlasts_a_request() {
        assert_eq!(
            check(|c| c.limits.header_timeout = Duration::ZERO),
            Err(("limits.header_timeout", "must be positive".into()))
        );
        assert_eq!(
            check(|c| c.limits.idle_timeout = Duration::from_secs(5)),
            Err((
                "limits.idle_timeout",
                "idle_timeout (5s) must be at least request_timeout (15s)".into()
            ))
        );
    }

    #[test]
    fn rate_limit_rules() {
        assert_eq!(
            check(|c| c.rate_limit.capacity = 0).expect_err("0").1,
            "rate_limit capacity must be positive when enabled, got: 0"
        );
        assert_eq!(
            check(|c| c.rate_limit.refill_rate = 1001)
                .expect_err("hi")
                .1,
            "rate_limit refill_rate too high: 1001, max 1000"
        );
        assert_eq!(
            check(|c| c.rate_limit.capacity = 10_001).expect_err("hi").1,
            "rate_limit capacity too high: 10001, max 10000"
        );
        assert_eq!(
            check(|c| {
                c.rate_limit.enabled = false;
                c.rate_limit.capacity = 0;
            }),
            Ok(())
        );
        assert_eq!(
            check(|c| c.rate_limit.trusted_proxies = vec!["10.0.0.0/8".into(), "::1".into()]),
            Ok(())
        );
        assert_eq!(
            check(|c| c.rate_limit.trusted_proxies = vec!["10.0.0.0/33".into()])
                .expect_err("cidr")
                .0,
            "rate_limit.trusted_proxies"
        );
    }

    #[test]
    fn auth_needs_a_key_when_enabled() {
        assert_eq!(
            check(|c| c.auth.enabled = true).expect_err("no key").0,
            "auth.api_key"
        );
        assert_eq!(
            check(|c| {
                c.auth.enabled = true;
                c.auth.api_key = Secret::new("k1, k2");
            }),
            Ok(())
        );
        let mut auth = AuthConfig {
            api_key: Secret::new("k1, k2,"),
            ..AuthConfig::default()
        };
        let dir = std::env::temp_dir().join(format!("ltp-keys-{}", std::process::id()));
        std::fs::write(&dir, "# comment\nk3\n\n  k4  \n").expect("write");
        auth.api_keys_file = Some(dir.clone());
        let keys: Vec<_> = auth
            .keys()
            .expect("keys")
            .iter()
            .map(|k| k.expose().to_owned())
            .collect();
        assert_eq!(keys, ["k1", "k2", "k3", "k4"]);
        let _ = std::fs::remove_file(dir);
    }

    #[test]
    fn cidrs_parse() {
        let net = |text: &str| text.parse::<IpNet>().expect("net");
        assert_eq!(parse_network("10.1.2.3"), Some(net("10.1.2.3/32")));
        assert_eq!(parse_network("fd00::/8"), Some(net("fd00::/8")));
        assert_eq!(parse_network("10.0.0.0/40"), None);
        assert_eq!(parse_network("example.com"), None);
        assert_eq!(
            parse_network(" ::ffff:10.0.0.0/104"),
            Some(net("10.0.0.0/8"))
        );
    }

    #[test]
    fn validation_keeps_what_it_computed() {
        let mut c = Config::default();
        c.auth.enabled = true;
        c.auth.api_key = Secret::new("k1, k2");
        c.auth.header_name = "X-Key".into();
        c.rate_limit.trusted_proxies = vec!["10.0.0.0/8".into()];
        let (_, derived) = c.validated().expect("valid").into_parts();
        assert_eq!(derived.served.pairs.len(), 7);
        let access = derived.access;
        assert_eq!(access.api_keys.map(|k| k.len()), Some(2));
        assert_eq!(access.key_header, "x-key");
        assert_eq!(
            access.trusted_proxies,
            ["10.0.0.0/8".parse::<IpNet>().expect("net")]
        );
    }
}
