//! README.md stays true: every configuration key of both binaries and every named environment
//! variable appears in its configuration table.

use serde_json::Value;

const README: &str = include_str!("../../../README.md");

fn leaf_keys(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(&key, v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn documented_keys_of(config: Value) -> Vec<String> {
    let mut keys = Vec::new();
    leaf_keys("", &config, &mut keys);
    keys.into_iter()
        .filter(|k| !README.contains(&format!("| `{k}` |")))
        .collect()
}

#[test]
fn readme_documents_every_configuration_key() {
    let query = serde_json::to_value(query_api::Config::default()).expect("serialise");
    let ingest = serde_json::to_value(ingestor::Config::default()).expect("serialise");
    let mut missing = documented_keys_of(query);
    missing.extend(documented_keys_of(ingest));
    // Secrets are not serialised; check them by name.
    for secret in [
        "cache.redis.password",
        "cache.redis.sentinel_password",
        "nats.password",
        "nats.token",
        "auth.api_key",
    ] {
        if !README.contains(&format!("| `{secret}` |")) {
            missing.push(secret.to_owned());
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "README.md lacks rows for: {missing:?}");
}

#[test]
fn readme_documents_every_environment_variable() {
    let missing: Vec<_> = common::config::ENV_KEYS
        .iter()
        .map(|(var, _)| *var)
        .filter(|var| !README.contains(&format!("`{var}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not mention: {missing:?}"
    );
}
