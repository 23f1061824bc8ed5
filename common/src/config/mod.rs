//! Configuration loading shared by both binaries (README.md, "Configuration").
//!
//! Layers, lowest first: defaults in code < `configs/config.yaml` < `configs/config.{ENVIRONMENT}.yaml`
//! < environment variables (the seed's names, then `LTP_SECTION__KEY`) < `--config FILE`.
//! Every value remembers where it came from, so an error can say "set by environment variable
//! CACHE_TTL" instead of leaving the operator to guess.

pub mod duration;
mod env;
mod sections;

use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Yaml};
use figment::{Figment, Metadata, Source};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use duration::format_duration;
pub use env::{ENV_KEYS, env_var_for};
pub use sections::*;

/// Directories searched, in order, for `config.yaml` and `config.{ENVIRONMENT}.yaml`.
pub const SEARCH_DIRS: &[&str] = &["configs", "../configs", "/etc/ltp"];

/// Environment name used when `ENVIRONMENT` is not set; its overlay file is optional.
pub const DEFAULT_ENVIRONMENT: &str = "development";

/// A configuration that cannot be used. Display is one line, meant for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A rule broken by one key, found by a binary's `validate()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted key, e.g. `cache.ttl`.
    pub key: &'static str,
    /// What is wrong and what is allowed, e.g. `TTL too short: 50ms, minimum 100ms (…)`.
    pub message: String,
}

impl Invalid {
    /// Builds an error for `key`.
    pub fn new(key: &'static str, message: impl Into<String>) -> Invalid {
        Invalid {
            key,
            message: message.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.key, self.message)
    }
}

impl std::error::Error for Invalid {}

/// A configuration together with the layers it came from.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The extracted configuration (not yet validated).
    pub config: T,
    figment: Figment,
}

impl<T> Loaded<T> {
    /// Turns a validation error into a message that names where the bad value was set.
    pub fn explain(&self, invalid: &Invalid) -> ConfigError {
        let origin = self
            .figment
            .find_metadata(invalid.key)
            .map(origin)
            .unwrap_or_default();
        ConfigError(format!("{invalid}{origin}"))
    }
}

/// Loads `T` from every layer. `cli_file` is the `--config FILE` argument.
pub fn load<T: Serialize + DeserializeOwned + Default>(
    cli_file: Option<&Path>,
) -> Result<Loaded<T>, ConfigError> {
    let figment = figment(T::default(), cli_file)?;
    match figment.extract_lossy::<T>() {
        Ok(config) => Ok(Loaded { config, figment }),
        Err(err) => Err(describe(&figment, err)),
    }
}

fn figment(defaults: impl Serialize, cli_file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(base) = find("config.yaml") {
        figment = figment.merge(Yaml::file_exact(base));
    }
    let explicit = std::env::var("ENVIRONMENT")
        .ok()
        .filter(|e| !e.trim().is_empty());
    let environment = explicit
        .as_deref()
        .unwrap_or(DEFAULT_ENVIRONMENT)
        .trim()
        .to_ascii_lowercase();
    match find(&format!("config.{environment}.yaml")) {
        Some(overlay) => figment = figment.merge(Yaml::file_exact(overlay)),
        // A typo in ENVIRONMENT must not silently run without the intended overlay.
        None if explicit.is_some() && environment != DEFAULT_ENVIRONMENT => {
            return Err(ConfigError(format!(
                "invalid configuration: ENVIRONMENT={environment}: no config.{environment}.yaml in {}",
                SEARCH_DIRS.join(", ")
            )));
        }
        None => {}
    }
    figment = env::merge_into(figment);
    if let Some(file) = cli_file {
        if !file.is_file() {
            return Err(ConfigError(format!(
                "invalid configuration: --config {}: no such file",
                file.display()
            )));
        }
        figment = figment.merge(Yaml::file_exact(file));
    }
    Ok(figment)
}

/// Command-line arguments with the seed's single-dash `-config FILE` spelled `--config FILE`,
/// so clap can parse both.
pub fn normalize_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|arg| match arg.to_str() {
            Some("-config") => "--config".into(),
            Some(s) if s.starts_with("-config=") => format!("-{s}").into(),
            _ => arg,
        })
        .collect()
}

fn find(name: &str) -> Option<PathBuf> {
    SEARCH_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// " (set by environment variable CACHE_TTL)", " (set in configs/config.yaml)", or nothing for a
/// default from code.
fn origin(md: &Metadata) -> String {
    match &md.source {
        Some(Source::File(path)) => format!(" (set in {})", path.display()),
        Some(Source::Custom(var)) => format!(" (set by environment variable {var})"),
        _ => String::new(),
    }
}

/// One line per extraction error: key, offending value, what is expected, and where it was set.
fn describe(figment: &Figment, err: figment::Error) -> ConfigError {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let what = match &e.kind {
                figment::error::Kind::InvalidType(actual, expected) => {
                    format!(
                        "{actual} is not valid here: expected {}",
                        friendly(expected)
                    )
                }
                figment::error::Kind::InvalidValue(actual, expected) => {
                    format!(
                        "{actual} is not valid here: expected {}",
                        friendly(expected)
                    )
                }
                figment::error::Kind::UnknownVariant(actual, allowed) => {
                    format!("{actual:?} is not one of: {}", allowed.join(", "))
                }
                other => other.to_string(),
            };
            let origin = e
                .metadata
                .as_ref()
                .or_else(|| figment.find_metadata(&key))
                .map(origin)
                .unwrap_or_default();
            format!("invalid configuration: {key}: {what}{origin}")
        })
        .collect();
    ConfigError(lines.join("; "))
}

fn friendly(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests;
