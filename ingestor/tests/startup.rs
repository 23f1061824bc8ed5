//! What an operator sees when the ingestor cannot start: one line that names the key, the
//! value, the rule and where it was set, said once.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// An empty directory of its own, so no `configs/` is found.
fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ltp-ingestor-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

#[test]
fn an_invalid_setting_stops_the_binary_with_one_line_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_ingestor"))
        .current_dir(empty_dir("invalid"))
        .env_clear()
        .env("CACHE_TTL", "50ms")
        .output()
        .expect("run the ingestor");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: invalid configuration: cache.ttl: TTL too short: 50ms, minimum 100ms (causes \
         excessive cache churn) (set by environment variable CACHE_TTL)\n"
    );
    assert!(out.stdout.is_empty(), "nothing else is printed");
}

#[test]
fn the_help_says_what_the_binary_does() {
    let run = |flag| {
        let out = Command::new(env!("CARGO_BIN_EXE_ingestor"))
            .arg(flag)
            .output()
            .expect("run the ingestor");
        assert!(out.status.success(), "{flag}");
        String::from_utf8(out.stdout).expect("utf8")
    };
    assert!(run("-h").starts_with(env!("CARGO_PKG_DESCRIPTION")));
    assert!(run("--help").starts_with("Streams Kraken's WebSocket v2 ticker (REST fallback"));
    assert_eq!(
        run("--version"),
        format!("ingestor {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_library_caller_gets_the_configuration_error_once() {
    let mut config = ingestor::Config::default();
    config.cache.ttl = Duration::from_millis(50);
    let Err(err) = ingestor::Ingestor::build(config).await else {
        panic!("an invalid configuration must not build");
    };
    assert_eq!(
        format!("{err:#}"),
        "invalid configuration: cache.ttl: TTL too short: 50ms, minimum 100ms (causes excessive \
         cache churn)"
    );
}
