//! Running the real `query-api` and `ingestor` binaries as child processes, configured through
//! environment variables as an operator would, for the scenarios that need a process: a
//! signal, a kill, an exit status.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test executable
//! (`<target>/<profile>/`). When one is missing, or older than its crate's library (a
//! `cargo test -p integration-tests` after an edit rebuilds the library but not the binary),
//! they are built with `cargo build -p query-api -p ingestor` first.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::process::{Child, Command};

/// A free TCP port on the loopback interface, chosen by the kernel and released, for a
/// process that must be told its port (port 0 would not tell us which one it took).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The path of the workspace binary `name` (`query-api` or `ingestor`), built first when it
/// is missing or stale. Panics with the reason when it cannot be built.
pub fn binary(name: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one_build_at_a_time = BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let exe = std::env::current_exe().expect("the test executable's path");
    // <target>/<profile>/deps/<test executable>
    let deps = exe
        .parent()
        .expect("the test executable is in a deps directory");
    let profile_dir = deps
        .parent()
        .expect("the deps directory is in a profile directory");
    let path = profile_dir.join(name);
    let library = format!("lib{}-", name.replace('-', "_"));
    if is_stale(&path, deps, &library) {
        build(profile_dir);
    }
    assert!(
        path.is_file(),
        "{} is missing after `cargo build -p query-api -p ingestor`",
        path.display()
    );
    path
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|m| m.modified()).ok()
}

/// Missing, or older than the newest `lib<crate>-*.rlib` in `deps`.
fn is_stale(binary: &Path, deps: &Path, library_prefix: &str) -> bool {
    let Some(built) = modified(binary) else {
        return true;
    };
    let newest_library = std::fs::read_dir(deps)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(library_prefix) && name.ends_with(".rlib")
        })
        .filter_map(|e| modified(&e.path()))
        .max();
    newest_library.is_some_and(|lib| lib > built)
}

fn build(profile_dir: &Path) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests is inside the workspace");
    let target_dir = profile_dir
        .parent()
        .expect("the profile directory is in the target directory");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(&cargo);
    command
        .current_dir(workspace)
        .args(["build", "-p", "query-api", "-p", "ingestor", "--target-dir"])
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    match command.status() {
        Ok(status) if status.success() => {}
        other => panic!(
            "the scenario needs the query-api and ingestor binaries and building them failed \
             ({other:?}): run `cargo build -p query-api -p ingestor` (target {}) or \
             `cargo test --workspace`",
            target_dir.display()
        ),
    }
}

/// Environment of a `query-api` process for a test: loopback `port`, its own subject prefix
/// (and Redis key prefix), memory cache with `ttl`, no rate limit, no access log.
pub fn query_api_env(
    port: u16,
    nats_url: &str,
    prefix: &str,
    pairs: &[&str],
    ttl: Duration,
) -> Vec<(String, String)> {
    env(&[
        ("PORT", port.to_string()),
        ("LTP_SERVER__HOST", "127.0.0.1".into()),
        ("NATS_URL", nats_url.into()),
        ("NATS_SUBJECT_PREFIX", prefix.into()),
        ("NATS_REQUEST_TIMEOUT", "5s".into()),
        ("SUPPORTED_PAIRS", pairs.join(",")),
        ("CACHE_TTL", humantime(ttl)),
        ("CACHE_PREFIX", format!("{prefix}:price:")),
        ("RATE_LIMIT_ENABLED", "false".into()),
        ("ACCESS_LOG_LEVEL", "off".into()),
        ("SHUTDOWN_TIMEOUT", "10s".into()),
    ])
}

/// Environment of an `ingestor` process for a test, with the timers of
/// [`crate::ingestor::test_config`]: admin on loopback `port`, stall after 2 s, REST polls
/// every second, quiet pairs re-published every `ttl / 3`.
pub fn ingestor_env(
    port: u16,
    nats_url: &str,
    prefix: &str,
    sim: &kraken_sim::Simulator,
    pairs: &[&str],
    ttl: Duration,
) -> Vec<(String, String)> {
    env(&[
        ("INGESTOR_PORT", port.to_string()),
        ("LTP_INGESTOR__HOST", "127.0.0.1".into()),
        ("INGESTOR_INSTANCE_ID", format!("proc-{prefix}-{port}")),
        ("NATS_URL", nats_url.into()),
        ("NATS_SUBJECT_PREFIX", prefix.into()),
        ("SUPPORTED_PAIRS", pairs.join(",")),
        ("CACHE_TTL", humantime(ttl)),
        ("KRAKEN_WS_URL", sim.ws_url()),
        ("KRAKEN_REST_URL", sim.rest_url()),
        ("KRAKEN_FALLBACK_TIMEOUT", "2s".into()),
        ("KRAKEN_POLL_INTERVAL", "1s".into()),
        ("KRAKEN_PING_INTERVAL", "5s".into()),
        ("KRAKEN_REQUEST_TIMEOUT", "1s".into()),
        ("KRAKEN_TIMEOUT", "5s".into()),
        ("LTP_EXCHANGE__KRAKEN__CONNECT_TIMEOUT", "2s".into()),
        ("LTP_EXCHANGE__KRAKEN__RECONNECT_MAX_DELAY", "2s".into()),
        ("SHUTDOWN_TIMEOUT", "5s".into()),
    ])
}

fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    all.push(("LOG_FORMAT".into(), "text".into()));
    all.push(("LOG_LEVEL".into(), "info".into()));
    all
}

fn humantime(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// A running binary; killed (SIGKILL) if still running when dropped.
pub struct Process {
    /// `query-api` or `ingestor`.
    pub name: String,
    /// Where its HTTP endpoints listen (`/health` answers there).
    pub addr: SocketAddr,
    /// Where its standard output and error go.
    pub log: PathBuf,
    child: Child,
}

impl Process {
    /// Starts binary `name` with only the environment `env` (plus `PATH`), in an empty
    /// working directory (so no `configs/` file applies), and waits until `GET /health` on
    /// `127.0.0.1:<port_var>` answers 200. A port taken meanwhile is retried with another.
    /// `env` is called with the port to use.
    pub async fn start(name: &str, env: impl Fn(u16) -> Vec<(String, String)>) -> Process {
        let binary = binary(name);
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("ltp-scenario-{}", crate::unique_id()));
            std::fs::create_dir_all(&dir).expect("create a working directory");
            let log = dir.join(format!("{name}.log"));
            let file = std::fs::File::create(&log).expect("create the log file");
            let mut command = Command::new(&binary);
            command
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .envs(env(port))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::from(file.try_clone().expect("clone the log file")))
                .stderr(Stdio::from(file))
                .kill_on_drop(true);
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
            let mut process = Process {
                name: name.to_owned(),
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                log,
                child,
            };
            match process.until_healthy(Duration::from_secs(30)).await {
                Ok(()) => return process,
                Err(log) if log.contains("in use") || log.contains("cannot listen") => {
                    last_log = log;
                }
                Err(log) => panic!("{name} did not become healthy:\n{log}"),
            }
        }
        panic!("{name} could not bind a port:\n{last_log}")
    }

    /// Waits until `/health` answers 200; `Err(log)` if the process exited or took too long.
    async fn until_healthy(&mut self, within: Duration) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + within;
        let url = format!("http://{}/health", self.addr);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}\n{}", self.log_text()));
            }
            if let Ok(res) = http.get(&url).send().await
                && res.status().as_u16() == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("no /health within {within:?}\n{}", self.log_text()))
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`, …) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {} failed", self.pid());
    }

    /// Kills it (SIGKILL) and waits until it is gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the process");
    }

    /// Waits for the exit, at most `within`; `None` if it is still running.
    pub async fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .map(|r| r.expect("wait for the process"))
    }

    /// What it wrote to standard output and error so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
