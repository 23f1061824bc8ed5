//! What both service binaries do around their `run`: parse the configuration flags, load and
//! validate the configuration (exiting with one clear line when it is unusable), set up
//! logging, run until a shutdown signal, and report a failure ([`main`]).

use std::fmt::Display;
use std::path::PathBuf;
use std::process::{ExitCode, exit};

use clap::builder::{Resettable, StyledStr};
use clap::{Args, FromArgMatches};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::config::{Invalid, LoggingConfig, TelemetryConfig, load, normalize_args};

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
    /// Level and format of the log lines, applied before the binary runs.
    fn logging(&self) -> &LoggingConfig;
    /// Where traces go, applied with the logging.
    fn telemetry(&self) -> &TelemetryConfig;
}

/// Loads and validates the configuration, handles `--check-config` / `--print-config`, and
/// initialises logging and tracing (spans named as from `service`). On an unusable
/// configuration, prints one line to stderr and exits 1 (no panic, no backtrace).
pub fn load_or_exit<C: AppConfig>(args: &ConfigArgs, service: &str) -> C {
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
    crate::telemetry::init_traced(loaded.config.logging(), loaded.config.telemetry(), service);
    loaded.config
}

/// The whole `main` of a service binary. `command` names it and says what it does (the flags
/// of [`ConfigArgs`] are added, and the seed's `-config FILE` is accepted); the configuration
/// is loaded as [`load_or_exit`] does; `run` then runs on a multi-threaded runtime with a token
/// cancelled by SIGINT or SIGTERM. A failure is logged and printed as one `error: …` line
/// (its whole cause chain), with exit status 1; the log writer is flushed before returning.
pub fn main<C, F, Fut, E>(command: clap::Command, run: F) -> ExitCode
where
    C: AppConfig,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("Failed building the Runtime");
    runtime.block_on(async {
        let name = command.get_name().to_owned();
        // `augment_args` also sets the command's descriptions to `ConfigArgs`' doc: restore them.
        let restore =
            |text: Option<&StyledStr>| text.cloned().map_or(Resettable::Reset, Resettable::Value);
        let (about, long_about) = (
            restore(command.get_about()),
            restore(command.get_long_about()),
        );
        let matches = ConfigArgs::augment_args(command)
            .about(about)
            .long_about(long_about)
            .get_matches_from(normalize_args(std::env::args_os()));
        let args = ConfigArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let config: C = load_or_exit(&args, &name);
        let code = match run(config, crate::shutdown::token()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "{name} failed");
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
        // The log writer thread holds the last lines (see crate::telemetry).
        crate::telemetry::flush();
        code
    })
}

fn fail(err: &dyn Display) -> ! {
    eprintln!("error: {err}");
    exit(1)
}
