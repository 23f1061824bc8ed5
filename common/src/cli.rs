//! What both binaries do before `run`: parse the configuration flags, load and validate the
//! configuration (exiting with one clear line when it is unusable), and set up logging.

use std::path::PathBuf;
use std::process::exit;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Invalid, LoggingConfig, load};

/// Flags shared by both binaries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// YAML file merged over every other layer (defaults < configs/config.yaml <
    /// configs/config.$ENVIRONMENT.yaml < environment variables < this file). The seed's
    /// `-config FILE` spelling also works.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print "configuration ok" and exit (0 when valid, 1 when not).
    #[arg(long)]
    pub check_config: bool,
    /// Print the effective configuration as JSON (secrets omitted) and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// A binary's whole configuration.
pub trait AppConfig: Serialize + DeserializeOwned + Default {
    /// Checks every rule; the first broken one is reported.
    fn validate(&self) -> Result<(), Invalid>;
    /// The logging section.
    fn logging(&self) -> &LoggingConfig;
}

/// Loads and validates the configuration, handles `--check-config` / `--print-config`, and
/// initialises logging. On an unusable configuration, prints one line to stderr and exits 1
/// (no panic, no backtrace).
pub fn load_or_exit<C: AppConfig>(args: &ConfigArgs) -> C {
    let loaded = match load::<C>(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(err) => fail(&err),
    };
    if let Err(invalid) = loaded.config.validate() {
        fail(&loaded.explain(&invalid));
    }
    if args.print_config {
        match serde_json::to_string_pretty(&loaded.config) {
            Ok(json) => println!("{json}"),
            Err(err) => fail(&err),
        }
        exit(0);
    }
    if args.check_config {
        println!("configuration ok");
        exit(0);
    }
    crate::telemetry::init(loaded.config.logging());
    loaded.config
}

fn fail(err: &dyn std::fmt::Display) -> ! {
    eprintln!("error: {err}");
    exit(1)
}
