//! Starting the Kraken simulator for a test: a free port on 127.0.0.1, fast trades and
//! heartbeats, and a fixed seed so prices are reproducible. The simulator stops when the
//! returned value is dropped.

use std::time::Duration;

use kraken_sim::{Rate, SimConfig, Simulator};

/// Settings suited to tests: each pair trades every 100 ms, heartbeats every 250 ms, seed 1,
/// the usual 60 s idle timeout. Adjust fields before passing it to [`Simulator::start`].
pub fn test_config(pairs: &[&str]) -> SimConfig {
    let base = SimConfig::default()
        .with_pairs(pairs)
        .unwrap_or_else(|err| panic!("simulator pairs {pairs:?}: {err}"));
    SimConfig {
        rate: Rate::PerPair(Duration::from_millis(100)),
        heartbeat_interval: Duration::from_millis(250),
        seed: 1,
        ..base
    }
}

/// A running simulator offering `pairs` (canonical `BASE/QUOTE`) with [`test_config`].
/// Point `KRAKEN_WS_URL` at `sim.ws_url()` and `KRAKEN_REST_URL` at `sim.rest_url()`.
pub async fn start_sim(pairs: &[&str]) -> Simulator {
    start_sim_with(test_config(pairs)).await
}

/// A running simulator with a custom configuration.
pub async fn start_sim_with(config: SimConfig) -> Simulator {
    Simulator::start(config)
        .await
        .unwrap_or_else(|err| panic!("start the Kraken simulator: {err:#}"))
}
