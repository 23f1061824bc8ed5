//! Security end to end: NATS and Redis that require credentials or TLS, the client address
//! used for rate limiting over a real socket, and secrets kept out of every output.

use std::time::Duration;

use common::config::NatsConfig;
use integration_tests::ingestor::{self, start_ingestor};
use integration_tests::query_api::{RunningQueryApi, start_query_api, test_config};
use integration_tests::sim::start_sim;
use integration_tests::{eventually, unique_id};

mod client_ip;
mod nats_auth;
mod redis_auth;
mod secrets;

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD"];
const WAIT: Duration = Duration::from_secs(30);

/// The simulator, a real ingestor and a real query-api, both connecting to NATS at `url`
/// with `auth` applied to their NATS settings. Returns once query-api serves BTC/USD: the
/// price went Kraken → ingestor → (authenticated) NATS → query-api.
async fn pipeline_serves(url: &str, auth: impl Fn(&mut NatsConfig)) {
    let sim = start_sim(PAIRS).await;
    let prefix = unique_id();
    let mut config = ingestor::test_config(url, &prefix, &sim.ws_url(), &sim.rest_url(), PAIRS);
    auth(&mut config.nats);
    let _ingestor = start_ingestor(config).await;
    let mut config = test_config(url, &prefix, PAIRS);
    auth(&mut config.nats);
    let api = start_query_api(config).await;
    eventually(WAIT, "BTC/USD served through the secured NATS", || async {
        let reply = api.get("/api/v1/ltp?pair=BTC/USD").await;
        (reply.status == 200).then_some(())
    })
    .await;
    api.wait_ready(WAIT).await;
}

/// Asserts `api` never becomes ready within `within` (a dependency refused it), and returns
/// the last `/ready` body.
async fn stays_unready(api: &RunningQueryApi, within: Duration) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let reply = api.get("/ready").await;
        assert_eq!(reply.status, 503, "became ready: {}", reply.body);
        if tokio::time::Instant::now() >= deadline {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A query-api whose NATS settings are `auth` applied to `url`: for the refusals.
async fn query_api_with(url: &str, auth: impl Fn(&mut NatsConfig)) -> RunningQueryApi {
    let mut config = test_config(url, &unique_id(), PAIRS);
    auth(&mut config.nats);
    start_query_api(config).await
}
