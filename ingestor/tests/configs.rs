//! The shipped `configs/` as the ingestor reads them.

// `Jail::expect_with` closures must return figment's (large) error type.
#![allow(clippy::result_large_err)]

use std::path::Path;

use common::config::load;
use figment::Jail;
use ingestor::Config;

#[test]
fn base_file_documents_exactly_the_defaults_and_overlays_apply() {
    Jail::expect_with(|jail| {
        jail.create_dir("configs")?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        for name in [
            "config.yaml",
            "config.demo-resilience.yaml",
            "config.test-zero-values.yaml",
        ] {
            let text = std::fs::read_to_string(dir.join(name)).map_err(|e| e.to_string())?;
            jail.create_file(format!("configs/{name}"), &text)?;
        }
        let c = load::<Config>(None).map_err(|e| e.to_string())?.config;
        assert_eq!(c, Config::default());

        jail.set_env("ENVIRONMENT", "demo-resilience");
        let c = load::<Config>(None).map_err(|e| e.to_string())?.config;
        assert_eq!(c.validate(), Ok(()));
        assert!(c.exchange.kraken.websocket_url.contains("invalid"));

        jail.set_env("ENVIRONMENT", "test-zero-values");
        let loaded = load::<Config>(None).map_err(|e| e.to_string())?;
        let err = loaded.config.validate().expect_err("zero ttl");
        assert_eq!(err.key, "cache.ttl");
        Ok(())
    });
}

#[test]
fn kraken_variables_reach_their_keys() {
    Jail::expect_with(|jail| {
        for (var, value) in [
            ("KRAKEN_WS_URL", "ws://127.0.0.1:1/v2"),
            ("KRAKEN_BASE_URL", "http://127.0.0.1:2/0/public"),
            ("KRAKEN_TIMEOUT", "7s"),
            ("KRAKEN_REQUEST_TIMEOUT", "2s"),
            ("KRAKEN_FALLBACK_TIMEOUT", "4s"),
            ("KRAKEN_MAX_RETRIES", "5"),
            ("KRAKEN_POLL_INTERVAL", "3s"),
            ("KRAKEN_EVENT_TRIGGER", "bbo"),
            ("INGESTOR_PORT", "9091"),
            ("INGESTOR_INSTANCE_ID", "ing-7"),
            ("CACHE_TTL", "12s"),
            ("SHUTDOWN_TIMEOUT", "9s"),
            ("NATS_URL", "nats://n:4222"),
            ("NATS_ENCODING", "json"),
        ] {
            jail.set_env(var, value);
        }
        let c = load::<Config>(None).map_err(|e| e.to_string())?.config;
        let k = &c.exchange.kraken;
        assert_eq!(k.websocket_url, "ws://127.0.0.1:1/v2");
        assert_eq!(k.rest_base(), "http://127.0.0.1:2");
        assert_eq!(
            (
                k.timeout.as_secs(),
                k.request_timeout.as_secs(),
                k.fallback_timeout.as_secs()
            ),
            (7, 2, 4)
        );
        assert_eq!((k.max_retries, k.poll_interval.as_secs()), (5, 3));
        assert_eq!(k.event_trigger, ingestor::EventTrigger::Bbo);
        assert_eq!(
            (c.ingestor.port, c.ingestor.instance_id.as_str()),
            (9091, "ing-7")
        );
        assert_eq!(
            (c.cache.ttl.as_secs(), c.server.shutdown_timeout.as_secs()),
            (12, 9)
        );
        assert_eq!(c.nats.url, "nats://n:4222");
        assert_eq!(c.nats.encoding, common::Encoding::Json);
        assert_eq!(c.validate(), Ok(()));
        Ok(())
    });
}
