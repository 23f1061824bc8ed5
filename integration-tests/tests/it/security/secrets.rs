//! No password, token, API key or credential ever appears in what the binaries print: the
//! printed configuration, configuration errors, and the logs of runs that fail in every way a
//! secret could be involved (wrong password, unreachable server, refused API key), at the most
//! verbose log level.
//!
//! Every secret is a distinctive string; the test greps all output for each of them. It checks
//! that the runs really did what they were meant to (the configuration printed, the
//! authentication failure logged), so it cannot pass by producing no output.

use std::process::Stdio;
use std::time::Duration;

use integration_tests::process::{Process, binary, free_port};
use integration_tests::security::{NatsOperator, SecureNats, SecureRedis, leaks};
use integration_tests::unique_id;

const NATS_PASSWORD: &str = "nats-pw-Zq81xLp";
const NATS_TOKEN: &str = "nats-token-Vb62kRt";
const NATS_URL_PASSWORD: &str = "url-pw-Hd47sMw";
const REDIS_PASSWORD: &str = "redis-pw-Jc93nQe";
const API_KEY_ENV_1: &str = "apikey-env-Ty58gUa";
const API_KEY_ENV_2: &str = "apikey-env-Pw14hXo";
const API_KEY_FILE: &str = "apikey-file-Ln72dFs";

/// Every secret of these tests (the NKey seed is added per test).
const SECRETS: &[&str] = &[
    NATS_PASSWORD,
    NATS_TOKEN,
    NATS_URL_PASSWORD,
    REDIS_PASSWORD,
    API_KEY_ENV_1,
    API_KEY_ENV_2,
    API_KEY_FILE,
];

/// A temporary directory holding the API keys file.
fn keys_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("api-keys");
    std::fs::write(&path, format!("# test keys\n{API_KEY_FILE}\n")).expect("write keys");
    let path = path.display().to_string();
    (dir, path)
}

fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Runs `name args` to its end with only `env` (and `PATH`), in an empty directory; returns
/// the exit code and everything printed.
async fn run_once(name: &str, args: &[&str], env: &[(String, String)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(binary(name))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().cloned())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("finished within 30 s")
    .expect("run the binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

fn assert_no_leak(what: &str, text: &str, secrets: &[&str]) {
    let found = leaks(text, secrets);
    assert!(
        found.is_empty(),
        "{what}: secret(s) {:?} in the output:\n{text}",
        found.iter().map(|(i, _)| secrets[*i]).collect::<Vec<_>>()
    );
}

/// query-api's secrets, all at once: NATS user/password, Redis ACL user, two API keys in the
/// environment and one in a file.
fn query_api_secrets(keys_path: &str) -> Vec<(String, String)> {
    strings(&[
        ("NATS_USER", "ltp"),
        ("NATS_PASSWORD", NATS_PASSWORD),
        ("CACHE_BACKEND", "redis"),
        ("REDIS_USERNAME", "ltp"),
        ("REDIS_PASSWORD", REDIS_PASSWORD),
        ("AUTH_ENABLED", "true"),
        ("AUTH_API_KEY", &format!("{API_KEY_ENV_1},{API_KEY_ENV_2}")),
        ("AUTH_API_KEYS_FILE", keys_path),
    ])
}

#[tokio::test]
async fn printed_and_checked_configuration_has_no_secrets() {
    let (_dir, keys) = keys_file();
    let operator = NatsOperator::generate();
    let creds = operator.credentials_file().display().to_string();
    let mut secrets = SECRETS.to_vec();
    secrets.push(operator.user_seed());
    let url = format!("nats://alice:{NATS_URL_PASSWORD}@127.0.0.1:4222");
    let runs: Vec<(&str, Vec<(String, String)>)> = vec![
        ("query-api", query_api_secrets(&keys)),
        (
            "query-api",
            strings(&[("NATS_TOKEN", NATS_TOKEN), ("NATS_URL", &url)]),
        ),
        (
            "ingestor",
            strings(&[("NATS_USER", "ltp"), ("NATS_PASSWORD", NATS_PASSWORD)]),
        ),
        (
            "ingestor",
            strings(&[("NATS_TOKEN", NATS_TOKEN), ("NATS_URL", &url)]),
        ),
        ("ingestor", strings(&[("NATS_CREDENTIALS_FILE", &creds)])),
    ];
    for (name, env) in &runs {
        let (code, text) = run_once(name, &["--print-config"], env).await;
        assert_eq!(code, Some(0), "{name} --print-config:\n{text}");
        let printed: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
        assert!(printed["nats"]["url"].is_string(), "{text}");
        assert_no_leak(&format!("{name} --print-config"), &text, &secrets);
        let (code, text) = run_once(name, &["--check-config"], env).await;
        assert_eq!(code, Some(0), "{name} --check-config:\n{text}");
        assert_no_leak(&format!("{name} --check-config"), &text, &secrets);
    }
    // The API-key file is read (a key there is counted) and its keys stay unprinted.
    let (_, text) = run_once("query-api", &["--print-config"], &query_api_secrets(&keys)).await;
    assert!(text.contains("api_keys_file"), "{text}");
}

/// A configuration case: its name, its environment, the key its error must name.
type Case = (&'static str, Vec<(String, String)>, &'static str);

#[tokio::test]
async fn configuration_errors_name_the_key_not_the_secret() {
    let cases: Vec<Case> = vec![
        (
            "query-api",
            strings(&[
                ("NATS_USER", "ltp"),
                ("NATS_PASSWORD", NATS_PASSWORD),
                ("NATS_TOKEN", NATS_TOKEN),
            ]),
            "nats.token",
        ),
        (
            "query-api",
            strings(&[("NATS_PASSWORD", NATS_PASSWORD)]),
            "nats.user",
        ),
        (
            "query-api",
            strings(&[(
                "NATS_URL",
                &format!("nats://alice:{NATS_URL_PASSWORD}@host:notaport"),
            )]),
            "nats.url",
        ),
        (
            "query-api",
            strings(&[
                ("REDIS_PASSWORD", REDIS_PASSWORD),
                ("CACHE_BACKEND", "redis"),
                ("REDIS_ADDR", "nocolon"),
            ]),
            "cache.redis.addr",
        ),
        (
            "query-api",
            strings(&[
                ("AUTH_ENABLED", "true"),
                ("AUTH_API_KEYS_FILE", "/nonexistent/keys"),
                ("AUTH_API_KEY", API_KEY_ENV_1),
            ]),
            "auth.api_keys_file",
        ),
        (
            "ingestor",
            strings(&[
                ("NATS_TOKEN", NATS_TOKEN),
                ("NATS_USER", "ltp"),
                ("NATS_PASSWORD", NATS_PASSWORD),
            ]),
            "nats.token",
        ),
        (
            "ingestor",
            strings(&[(
                "NATS_URL",
                &format!("nats://alice:{NATS_URL_PASSWORD}@host:notaport"),
            )]),
            "nats.url",
        ),
    ];
    for (name, env, key) in &cases {
        for flag in [&["--check-config"][..], &[][..]] {
            let (code, text) = run_once(name, flag, env).await;
            assert_eq!(code, Some(1), "{name} {flag:?} with {env:?}:\n{text}");
            assert!(
                text.contains(key),
                "{name}: error does not name {key}:\n{text}"
            );
            assert_no_leak(&format!("{name} error for {key}"), &text, SECRETS);
        }
    }
}

/// Runs both binaries for a while against servers that refuse them or are not there, at
/// log level trace, with API keys tried right and wrong; nothing printed holds a secret.
#[tokio::test]
async fn failing_runs_at_trace_level_log_no_secrets() {
    let (_dir, keys) = keys_file();
    let nats = SecureNats::with_user("ltp", "the-real-nats-password").await;
    let redis = SecureRedis::start(&["--requirepass", "the-real-redis-password"], Vec::new()).await;
    let wrong_nats = format!("nats://{}", nats.host_port);
    let nowhere = format!("127.0.0.1:{}", free_port());
    let operator = NatsOperator::generate();
    let creds = operator.credentials_file().display().to_string();
    let mut secrets = SECRETS.to_vec();
    secrets.push(operator.user_seed());
    let prefix = unique_id();
    let common_env = |port: u16, nats_url: &str, redis_addr: &str| {
        let mut env = query_api_secrets(&keys);
        env.extend(strings(&[
            ("PORT", &port.to_string()),
            ("LTP_SERVER__HOST", "127.0.0.1"),
            ("NATS_URL", nats_url),
            ("NATS_SUBJECT_PREFIX", &prefix),
            ("REDIS_ADDR", redis_addr),
            ("REDIS_TIMEOUT", "200ms"),
            ("LOG_LEVEL", "trace"),
            ("LOG_FORMAT", "json"),
            ("SUPPORTED_PAIRS", "BTC/USD"),
            ("RATE_LIMIT_ENABLED", "false"),
        ]));
        env
    };
    // Wrong NATS and Redis passwords; then nothing listening at all.
    let refused = Process::start("query-api", |port| {
        common_env(port, &wrong_nats, &redis.addr)
    })
    .await;
    let absent = Process::start("query-api", |port| {
        common_env(port, &format!("nats://{nowhere}"), &nowhere)
    })
    .await;
    // The NATS password embedded in the URL, and a token.
    let in_url = Process::start("query-api", |port| {
        let mut env = common_env(
            port,
            &format!("nats://alice:{NATS_URL_PASSWORD}@{}", nats.host_port),
            &redis.addr,
        );
        env.retain(|(k, _)| k != "NATS_USER" && k != "NATS_PASSWORD");
        env
    })
    .await;
    let ingestor_env = |port: u16, auth: &[(&str, &str)]| {
        let mut env = strings(&[
            ("INGESTOR_PORT", &port.to_string()),
            ("LTP_INGESTOR__HOST", "127.0.0.1"),
            ("NATS_URL", &wrong_nats),
            ("NATS_SUBJECT_PREFIX", &prefix),
            ("KRAKEN_WS_URL", &format!("ws://{nowhere}/v2")),
            ("KRAKEN_REST_URL", &format!("http://{nowhere}")),
            ("LOG_LEVEL", "trace"),
            ("LOG_FORMAT", "json"),
            ("SUPPORTED_PAIRS", "BTC/USD"),
        ]);
        env.extend(strings(auth));
        env
    };
    let ingestor_password = Process::start("ingestor", |port| {
        ingestor_env(
            port,
            &[("NATS_USER", "ltp"), ("NATS_PASSWORD", NATS_PASSWORD)],
        )
    })
    .await;
    let ingestor_token = Process::start("ingestor", |port| {
        ingestor_env(port, &[("NATS_TOKEN", NATS_TOKEN)])
    })
    .await;
    let ingestor_creds = Process::start("ingestor", |port| {
        ingestor_env(port, &[("NATS_CREDENTIALS_FILE", &creds)])
    })
    .await;

    // API keys: missing, wrong, and each right one (the request itself then fails: no data).
    let http = reqwest::Client::new();
    for api in [&refused, &absent, &in_url] {
        for key in [
            None,
            Some("wrong-key"),
            Some(API_KEY_ENV_1),
            Some(API_KEY_ENV_2),
            Some(API_KEY_FILE),
        ] {
            let mut request = http.get(api.url("/api/v1/ltp?pair=BTC/USD"));
            if let Some(key) = key {
                request = request.header("X-API-Key", key);
            }
            let status = request.send().await.expect("request").status().as_u16();
            match key {
                None | Some("wrong-key") => assert_eq!(status, 401, "{key:?}"),
                Some(_) => assert_ne!(status, 401, "{key:?} refused"),
            }
        }
    }
    // Long enough for several reconnection attempts to be logged.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut all = [
        refused,
        absent,
        in_url,
        ingestor_password,
        ingestor_token,
        ingestor_creds,
    ];
    for process in &all {
        process.signal("TERM");
    }
    // Shutdown logs count too.
    for process in &mut all {
        let _ = process.wait(Duration::from_secs(15)).await;
    }
    for (i, process) in all.iter().enumerate() {
        let log = process.log_text();
        assert!(
            log.lines().count() > 5,
            "process {i} logged almost nothing:\n{log}"
        );
        assert_no_leak(&format!("process {i} ({})", process.name), &log, &secrets);
    }
    // The runs failed the way they were meant to.
    let refused_log = all[0].log_text();
    assert!(refused_log.contains("api key refused"), "{refused_log}");
    assert!(
        refused_log.to_lowercase().contains("authorization") || refused_log.contains("WRONGPASS"),
        "no authentication failure logged:\n{refused_log}"
    );
}
