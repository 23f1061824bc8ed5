//! A local Kraken for tests, benchmarks and offline demos: public WebSocket v2 (`ticker`,
//! `status`, `heartbeat`, `ping`) and public REST (`Ticker`, `AssetPairs`, `SystemStatus`,
//! `Time`) with the exact wire shapes of `docs/kraken-wire.md`, deterministic seeded
//! prices, and fault injection through [`Control`] or HTTP under `/control/`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = kraken_sim::Simulator::start(kraken_sim::SimConfig::default()).await?;
//! println!("point KRAKEN_WS_URL at {} and KRAKEN_REST_URL at {}", sim.ws_url(), sim.rest_url());
//! sim.control().drop_connections();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Modules, from the top; each imports only from the rows below it:
//!
//! | module | what |
//! |---|---|
//! | `lib.rs` | [`Simulator`]: binds the port, starts the server and the trade engine, stops them |
//! | `serve/` | the one HTTP/1.1 listener (`serve/mod.rs` accepts and routes): `rest` (`/0/public/*`), `control` (`/control/*` over [`Control`]), `ws/` (the `/v2` upgrade, one task per socket, client requests) and `response` |
//! | `exchange/` | the running exchange: `state` (what every task shares: markets, fault switches, counters, the ticker broadcast), `engine` (trades at the configured rate), [`Control`] |
//! | `wire/` | Kraken's text, byte for byte: WS v2 frames and timestamp formats |
//! | `market/` | one market's simulated state and seeded price walk, per-market precision and reference levels |
//! | `config`, `faults`, `stats`, [`decimal`] | settings, fault kinds, counters, exact decimals |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::exchange::state::Shared;

mod config;
pub mod decimal;
mod exchange;
mod faults;
mod market;
mod serve;
mod stats;
mod wire;

pub use config::{Rate, SimConfig};
pub use exchange::{Control, ControlError, TradeReport};
pub use faults::{RestFault, RestLimit, SystemStatus};
pub use stats::{Endpoint, Stats};

/// How long [`Simulator::shutdown`] waits for its tasks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A running simulator. Dropping it (or [`Simulator::shutdown`]) stops every task and
/// closes every socket.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    control: Control,
    token: CancellationToken,
    shared: Arc<Shared>,
}

impl Simulator {
    /// Binds `config.bind` and starts serving before returning.
    pub async fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        wire::Clock::new(config.clock_offset)?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let shared = Arc::new(Shared::new(config, token.clone()));
        shared.tracker.spawn(serve::run(listener, shared.clone()));
        shared.tracker.spawn(exchange::engine::run(shared.clone()));
        tracing::info!(%addr, pairs = shared.config.pairs.len(), "kraken simulator listening");
        Ok(Simulator {
            addr,
            control: Control::new(shared.clone()),
            token,
            shared,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/v2`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v2", self.addr)
    }

    /// `http://127.0.0.1:PORT` (REST under `/0/public/`, control under `/control/`).
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fault injection and counters.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops accepting, closes every socket (close code 1001) and waits for the tasks.
    pub async fn shutdown(self) {
        self.token.cancel();
        self.shared.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("simulator tasks still running after shutdown grace");
        }
        tracing::debug!("simulator stopped");
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.token.cancel();
    }
}
