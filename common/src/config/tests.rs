//! Layering and error-message tests, each in a figment `Jail` (own cwd, env restored after).

// `Jail::expect_with` closures must return figment's (large) error type.
#![allow(clippy::result_large_err)]

use std::path::Path;
use std::time::Duration;

use figment::Jail;
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct TestConfig {
    server: ServerConfig,
    logging: LoggingConfig,
    business: BusinessConfig,
    nats: NatsConfig,
    cache: TestCache,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct TestCache {
    #[serde(with = "super::duration")]
    ttl: Duration,
    redis: TestRedis,
}

impl Default for TestCache {
    fn default() -> Self {
        TestCache {
            ttl: Duration::from_secs(30),
            redis: TestRedis::default(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct TestRedis {
    #[serde(skip_serializing)]
    password: crate::secret::Secret,
}

fn load_test(cli: Option<&str>) -> Result<TestConfig, ConfigError> {
    load::<TestConfig>(cli.map(Path::new)).map(|l| l.config)
}

fn jail_err(e: ConfigError) -> figment::Error {
    figment::Error::from(e.to_string())
}

#[test]
fn defaults_apply_when_nothing_is_configured() {
    Jail::expect_with(|_| {
        let c = load_test(None).map_err(jail_err)?;
        assert_eq!(c.server.port, 8080);
        assert_eq!(c.cache.ttl, Duration::from_secs(30));
        assert_eq!(c.nats.subject_prefix, "ltp");
        assert_eq!(c.business.supported_pairs.len(), DEFAULT_PAIRS.len());
        Ok(())
    });
}

#[test]
fn every_layer_overrides_the_one_below() {
    Jail::expect_with(|jail| {
        jail.create_dir("configs")?;
        jail.create_file(
            "configs/config.yaml",
            "server: {port: 1001, shutdown_timeout: 11s}\ncache: {ttl: 10s}\nlogging: {level: debug, format: text}\nnats: {subject_prefix: base}\n",
        )?;
        jail.create_file(
            "configs/config.production.yaml",
            "server: {port: 1002}\ncache: {ttl: 20s}\nlogging: {level: warn}\n",
        )?;
        jail.create_file("cli.yaml", "server: {port: 1004}\n")?;

        // base file over defaults
        let c = load_test(None).map_err(jail_err)?;
        assert_eq!((c.server.port, c.cache.ttl.as_secs()), (1001, 10));
        assert_eq!(c.logging.format, LogFormat::Text);

        // environment overlay over base, keys it does not set stay from base
        jail.set_env("ENVIRONMENT", "production");
        let c = load_test(None).map_err(jail_err)?;
        assert_eq!(
            (
                c.server.port,
                c.cache.ttl.as_secs(),
                c.logging.level.as_str()
            ),
            (1002, 20, "warn")
        );
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(11));
        assert_eq!(c.nats.subject_prefix, "base");

        // environment variables over files
        jail.set_env("PORT", "1003");
        jail.set_env("CACHE_TTL", "45s");
        let c = load_test(None).map_err(jail_err)?;
        assert_eq!((c.server.port, c.cache.ttl.as_secs()), (1003, 45));

        // generic LTP_ variables over the seed's names
        jail.set_env("LTP_SERVER__PORT", "1005");
        jail.set_env("LTP_NATS__SUBJECT_PREFIX", "generic");
        let c = load_test(None).map_err(jail_err)?;
        assert_eq!(
            (c.server.port, c.nats.subject_prefix.as_str()),
            (1005, "generic")
        );

        // --config FILE over everything
        let c = load_test(Some("cli.yaml")).map_err(jail_err)?;
        assert_eq!(c.server.port, 1004);
        assert_eq!(c.cache.ttl.as_secs(), 45);
        Ok(())
    });
}

#[test]
fn a_misspelt_environment_is_an_error_not_a_silent_default() {
    Jail::expect_with(|jail| {
        jail.create_dir("configs")?;
        jail.create_file("configs/config.yaml", "server: {port: 1}\n")?;
        jail.set_env("ENVIRONMENT", "prodution");
        let err = load_test(None).expect_err("missing overlay").to_string();
        assert!(
            err.contains("ENVIRONMENT=prodution") && err.contains("config.prodution.yaml"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn a_missing_cli_file_is_an_error() {
    Jail::expect_with(|_| {
        let err = load_test(Some("nope.yaml"))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("--config nope.yaml"), "{err}");
        Ok(())
    });
}

#[test]
fn type_errors_name_the_key_the_value_and_the_variable() {
    Jail::expect_with(|jail| {
        jail.set_env("PORT", "abc");
        let err = load_test(None).expect_err("abc").to_string();
        assert!(err.contains("server.port"), "{err}");
        assert!(err.contains("\"abc\""), "{err}");
        assert!(err.contains("whole number"), "{err}");
        assert!(err.contains("environment variable PORT"), "{err}");
        assert!(!err.contains('\n'));
        Ok(())
    });
}

#[test]
fn durations_need_a_unit() {
    Jail::expect_with(|jail| {
        jail.set_env("CACHE_TTL", "30");
        let err = load_test(None).expect_err("no unit").to_string();
        assert!(
            err.contains("cache.ttl") && err.contains("has no unit") && err.contains("CACHE_TTL"),
            "{err}"
        );
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.create_dir("configs")?;
        jail.create_file("configs/config.yaml", "cache: {ttl: 30}\n")?;
        let err = load_test(None).expect_err("no unit").to_string();
        assert!(
            err.contains("has no unit") && err.contains("configs/config.yaml"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn unknown_enum_values_list_the_allowed_ones() {
    Jail::expect_with(|jail| {
        jail.set_env("LOG_FORMAT", "xml");
        let err = load_test(None).expect_err("xml").to_string();
        assert!(
            err.contains("logging.format") && err.contains("json, text"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn lists_come_from_comma_separated_variables_and_secrets_stay_verbatim() {
    Jail::expect_with(|jail| {
        jail.set_env("SUPPORTED_PAIRS", " btc/usd, ETH/EUR ,");
        jail.set_env("REDIS_PASSWORD", "0012");
        let c = load_test(None).map_err(jail_err)?;
        assert_eq!(c.business.supported_pairs, ["btc/usd", "ETH/EUR"]);
        assert_eq!(c.cache.redis.password.expose(), "0012");
        Ok(())
    });
}

#[test]
fn empty_variables_count_as_unset() {
    Jail::expect_with(|jail| {
        jail.set_env("PORT", "");
        assert_eq!(load_test(None).map_err(jail_err)?.server.port, 8080);
        Ok(())
    });
}

#[test]
fn later_aliases_win() {
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct K {
        exchange: E,
    }
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct E {
        kraken: R,
    }
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct R {
        rest_url: String,
    }
    Jail::expect_with(|jail| {
        jail.set_env("KRAKEN_BASE_URL", "http://old");
        let k = load::<K>(None).map_err(jail_err)?.config;
        assert_eq!(k.exchange.kraken.rest_url, "http://old");
        jail.set_env("KRAKEN_REST_URL", "http://new");
        let k = load::<K>(None).map_err(jail_err)?.config;
        assert_eq!(k.exchange.kraken.rest_url, "http://new");
        Ok(())
    });
}

#[test]
fn validation_errors_say_where_the_value_was_set() {
    Jail::expect_with(|jail| {
        jail.set_env("CACHE_TTL", "50ms");
        let loaded = load::<TestConfig>(None).map_err(jail_err)?;
        let invalid = validate_ttl("cache.ttl", loaded.config.cache.ttl).expect_err("too short");
        let msg = loaded.explain(&invalid).to_string();
        assert_eq!(
            msg,
            "invalid configuration: cache.ttl: TTL too short: 50ms, minimum 100ms (causes excessive cache churn) (set by environment variable CACHE_TTL)"
        );
        Ok(())
    });
}

#[test]
fn ttl_rules_follow_the_seed() {
    let check = |d: Duration| validate_ttl("cache.ttl", d).map_err(|e| e.message);
    assert_eq!(
        check(Duration::ZERO),
        Err("TTL must be positive, got: 0s".into())
    );
    assert!(
        check(Duration::from_millis(50))
            .expect_err("short")
            .starts_with("TTL too short: 50ms")
    );
    assert!(
        check(Duration::from_millis(500))
            .expect_err("<1s")
            .starts_with("TTL potentially inefficient")
    );
    assert!(
        check(Duration::from_secs(7200))
            .expect_err(">1h")
            .starts_with("TTL potentially stale")
    );
    assert!(
        check(Duration::from_secs(25 * 3600))
            .expect_err(">24h")
            .starts_with("TTL too long")
    );
    assert_eq!(check(Duration::from_secs(1)), Ok(()));
    assert_eq!(check(Duration::from_secs(3600)), Ok(()));
}

#[test]
fn pair_rules_report_format_before_unknown_and_list_valid_pairs() {
    let business = |pairs: &[&str]| BusinessConfig {
        supported_pairs: pairs.iter().map(|s| (*s).to_owned()).collect(),
        ..BusinessConfig::default()
    };
    let err = business(&["BTC/USD", "DOGE/MOON", "BTCUSD"])
        .pairs()
        .expect_err("bad")
        .message;
    assert_eq!(
        err,
        "invalid pair format: [BTCUSD], expected BASE/QUOTE (e.g., BTC/USD)"
    );
    let err = business(&["BTC/USD", "doge/moon"])
        .pairs()
        .expect_err("unknown")
        .message;
    assert!(
        err.starts_with("unknown trading pairs: [DOGE/MOON], supported pairs: [AAVE/USD"),
        "{err}"
    );
    assert!(err.contains("BTC/CHF") && err.contains("SOL/USD"), "{err}");
    assert_eq!(
        business(&[]).pairs().expect_err("empty").message,
        "supported_pairs cannot be empty"
    );
    let pairs = business(&["eth/usd", " BTC/USD", "ETH/USD"])
        .pairs()
        .expect("valid");
    assert_eq!(
        pairs.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        ["ETH/USD", "BTC/USD"]
    );
}

#[test]
fn url_rules() {
    let check = |u: &str| {
        validate_url("k", "kraken rest_url", u, &["http", "https"]).map_err(|e| e.message)
    };
    assert_eq!(check("https://api.kraken.com"), Ok(()));
    assert_eq!(check(""), Err("kraken rest_url cannot be empty".into()));
    assert_eq!(
        check("ftp://x"),
        Err("invalid kraken rest_url scheme: ftp, must be http or https".into())
    );
    assert!(
        check("not a url")
            .expect_err("bad")
            .starts_with("invalid kraken rest_url: not a url")
    );
}

#[test]
fn nats_rules() {
    let ok = NatsConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    let bad = NatsConfig {
        url: "http://x:4222".into(),
        ..NatsConfig::default()
    };
    assert!(
        bad.validate()
            .expect_err("scheme")
            .message
            .contains("must be nats or tls or ws or wss")
    );
    let bad = NatsConfig {
        subject_prefix: "a b".into(),
        ..NatsConfig::default()
    };
    assert_eq!(
        bad.validate().expect_err("prefix").key,
        "nats.subject_prefix"
    );
    let bad = NatsConfig {
        user: "u".into(),
        ..NatsConfig::default()
    };
    assert_eq!(bad.validate().expect_err("no password").key, "nats.user");
    let bad = NatsConfig {
        credentials_file: Some("/nonexistent.creds".into()),
        ..NatsConfig::default()
    };
    assert_eq!(
        bad.validate().expect_err("no file").key,
        "nats.credentials_file"
    );
}

#[test]
fn single_dash_config_flag_is_accepted() {
    let args = [
        "bin",
        "-config",
        "a.yaml",
        "-config=b.yaml",
        "--config",
        "c.yaml",
        "-c",
    ]
    .map(std::ffi::OsString::from);
    let got = normalize_args(args);
    assert_eq!(
        got,
        [
            "bin",
            "--config",
            "a.yaml",
            "--config=b.yaml",
            "--config",
            "c.yaml",
            "-c"
        ]
    );
}

#[test]
fn credentials_in_urls_are_masked_for_printing() {
    assert_eq!(
        redact_url("nats://alice:s3cret@host:4222"),
        "nats://alice:***@host:4222"
    );
    assert_eq!(redact_url("nats://tok3n@host"), "nats://***@host");
    assert_eq!(
        redact_url("nats://a:b@h1:1,tls://h2:2,nats://t@h3/x@y"),
        "nats://a:***@h1:1,tls://h2:2,nats://***@h3/x@y"
    );
    // Not a valid URL (bad port), as shown in an error message: still masked.
    assert_eq!(
        redact_url("nats://alice:s3cret@host:notaport"),
        "nats://alice:***@host:notaport"
    );
    assert_eq!(redact_url("nats://host:4222"), "nats://host:4222");
    let nats = NatsConfig {
        url: "nats://alice:s3cret@host:4222".into(),
        ..NatsConfig::default()
    };
    let printed = serde_json::to_string(&nats).expect("serialise");
    assert!(!printed.contains("s3cret"), "{printed}");
    let err = validate_url(
        "nats.url",
        "nats url",
        "nats://alice:s3cret@host:x",
        &["nats"],
    )
    .expect_err("bad port");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn a_nats_url_list_gives_one_server_per_element() {
    let nats = NatsConfig {
        url: "nats://127.0.0.1:4222, nats://127.0.0.1:4223,tls://u:p@h3:4224".into(),
        ..NatsConfig::default()
    };
    let servers = nats.servers().expect("a valid list");
    let ports: Vec<u16> = servers.iter().map(async_nats::ServerAddr::port).collect();
    assert_eq!(ports, [4222, 4223, 4224]);
    assert!(servers[2].tls_required() && servers[2].has_user_pass());
    nats.validate().expect("validation agrees with connecting");
}

#[test]
fn a_bad_element_of_a_nats_url_list_is_named_with_its_password_masked() {
    for (url, expected) in [
        (
            "nats://h1:4222,nats://alice:s3cret@h2:x",
            "invalid nats url: nats://alice:***@h2:x",
        ),
        ("nats://h1:4222,", "nats url cannot be empty"),
        ("nats://h1:4222,http://h2", "invalid nats url scheme: http"),
    ] {
        let nats = NatsConfig {
            url: url.into(),
            ..NatsConfig::default()
        };
        let err = nats.validate().expect_err(url).to_string();
        assert!(
            err.starts_with("invalid configuration: nats.url: "),
            "{err}"
        );
        assert!(err.contains(expected), "{url}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

#[test]
fn stream_replicas_are_one_three_or_five() {
    for ok in [1, 3, 5] {
        let nats = NatsConfig {
            stream_replicas: ok,
            ..NatsConfig::default()
        };
        assert_eq!(nats.validate(), Ok(()), "{ok}");
    }
    for bad in [0, 2, 4, 6, 7] {
        let nats = NatsConfig {
            stream_replicas: bad,
            ..NatsConfig::default()
        };
        let err = nats.validate().expect_err("even or out of range");
        assert_eq!(err.key, "nats.stream_replicas");
        assert_eq!(
            err.message,
            format!(
                "invalid stream replicas: {bad}, must be 1, 3 or 5 (odd, so a majority of copies survives a node loss)"
            )
        );
    }
}

#[test]
fn stream_replicas_errors_say_which_variable_set_them() {
    Jail::expect_with(|jail| {
        jail.set_env("NATS_STREAM_REPLICAS", "2");
        let loaded = load::<TestConfig>(None).map_err(jail_err)?;
        let err = loaded.config.nats.validate().expect_err("even");
        assert_eq!(
            loaded.explain(&err).to_string(),
            "invalid configuration: nats.stream_replicas: invalid stream replicas: 2, must be 1, 3 or 5 (odd, so a majority of copies survives a node loss) (set by environment variable NATS_STREAM_REPLICAS)"
        );
        Ok(())
    });
}
