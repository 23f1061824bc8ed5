//! The shipped `configs/` files: the base equals the defaults in code, the overlays apply, and
//! every invalid fixture is refused with the message an operator needs.

// `Jail::expect_with` closures must return figment's (large) error type.
#![allow(clippy::result_large_err)]

use std::path::Path;

use common::config::load;
use figment::Jail;
use query_api::{CacheBackend, Config};

/// Copies the repository's `configs/` into the jail, so tests see exactly what ships.
fn with_shipped_configs(jail: &mut Jail) -> figment::error::Result<()> {
    jail.create_dir("configs")?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("file name")?;
        jail.create_file(format!("configs/{name}"), &text)?;
    }
    Ok(())
}

/// Loads and validates, returning the operator's message on failure.
fn load_valid(cli: Option<&str>) -> Result<Config, String> {
    let loaded = load::<Config>(cli.map(Path::new)).map_err(|e| e.to_string())?;
    loaded
        .config
        .validate()
        .map_err(|e| loaded.explain(&e).to_string())?;
    Ok(loaded.config)
}

#[test]
fn base_file_documents_exactly_the_defaults() {
    Jail::expect_with(|jail| {
        with_shipped_configs(jail)?;
        let from_file = load_valid(None)?;
        assert_eq!(from_file, Config::default());
        Ok(())
    });
}

#[test]
fn production_overlay_applies() {
    Jail::expect_with(|jail| {
        with_shipped_configs(jail)?;
        jail.set_env("ENVIRONMENT", "production");
        let c = load_valid(None)?;
        assert_eq!(c.cache.backend, CacheBackend::Redis);
        assert_eq!(c.cache.ttl.as_secs(), 60);
        assert_eq!(c.business.cache_prefix, "prod:price:");
        assert_eq!(
            c.server.port, 8080,
            "keys the overlay does not set come from the base"
        );
        Ok(())
    });
}

#[test]
fn precedence_demo_behaves_as_its_comments_say() {
    Jail::expect_with(|jail| {
        with_shipped_configs(jail)?;
        jail.set_env("ENVIRONMENT", "demo-precedence");
        assert_eq!(load_valid(None)?.server.port, 9000);
        jail.set_env("PORT", "9100");
        assert_eq!(load_valid(None)?.server.port, 9100);
        assert_eq!(
            load_valid(Some("configs/config.test-port.yaml"))?
                .server
                .port,
            9200
        );
        Ok(())
    });
}

#[test]
fn invalid_fixtures_are_refused_with_a_clear_message() {
    let cases = [
        (
            "test-bad-ttl",
            "invalid configuration: cache.ttl: TTL too short: 50ms, minimum 100ms (causes excessive cache churn) (set in configs/config.test-bad-ttl.yaml)",
        ),
        (
            "test-bad-pairs",
            "invalid configuration: business.supported_pairs: unknown trading pairs: [DOGE/MOON FAKE/COIN], supported pairs: [AAVE/USD",
        ),
        (
            "test-invalid-types",
            "invalid configuration: cache.ttl: \"abc-invalid-string\" is not a duration",
        ),
        (
            "test-missing-units",
            "invalid configuration: cache.ttl: duration 30 has no unit: write e.g. 30s or 30ms (set in configs/config.test-missing-units.yaml)",
        ),
        (
            "test-zero-values",
            "invalid configuration: cache.ttl: TTL must be positive, got: 0s (set in configs/config.test-zero-values.yaml)",
        ),
        (
            "explicit-zero",
            "invalid configuration: business.cache_prefix: cache_prefix cannot be empty (set in configs/config.explicit-zero.yaml)",
        ),
    ];
    for (environment, expected) in cases {
        Jail::expect_with(|jail| {
            with_shipped_configs(jail)?;
            jail.set_env("ENVIRONMENT", environment);
            let err = load_valid(None).expect_err(environment);
            assert!(
                err.starts_with(expected),
                "{environment}:\n got  {err}\n want {expected}…"
            );
            assert!(!err.contains('\n'), "one line: {err}");
            Ok(())
        });
    }
}
