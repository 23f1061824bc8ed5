//! Scenarios 11–14 of issue 15: the system on a three-node NATS cluster (real nats-server
//! containers on a private Docker network, [`integration_tests::cluster::TestCluster`]) with
//! the last-value stream replicated on all three, while nodes die or restart. Every process is
//! given the URLs of all three nodes.
//!
//! | scenario | file |
//! |---|---|
//! | 11 the ingestor's node killed mid-stream, under read load | `node_killed.rs` |
//! | 12 the stream leader killed, a replica started afterwards | `leader_killed.rs` |
//! | 13 rolling restart of all three nodes, under read load | `rolling_restart.rs` |
//! | 14 two ingestors on different nodes, one node killed | `two_ingestors.rs` |

use std::time::{Duration, Instant};

use integration_tests::eventually;
use integration_tests::ingestor::Received;
use jiff::Timestamp;
use kraken_sim::Simulator;

use super::{Read, WAIT, items};

mod leader_killed;
mod node_killed;
mod rolling_restart;
mod two_ingestors;

/// Pairs of the cluster scenarios.
pub const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "LTC/USD"];

/// Every node index.
pub const ALL: &[usize] = &[0, 1, 2];

/// The nodes other than `index`.
pub fn others(index: usize) -> Vec<usize> {
    ALL.iter().copied().filter(|i| *i != index).collect()
}

/// An in-process ingestor on the cluster's `urls` (comma separated) keeping three copies of
/// the stream, with the cache TTL `ttl` (quiet pairs re-published every `ttl / 3`).
pub fn ingestor_config(
    urls: &str,
    prefix: &str,
    sim: &Simulator,
    ttl: Duration,
) -> ingestor::Config {
    let mut config = integration_tests::ingestor::test_config(
        urls,
        prefix,
        &sim.ws_url(),
        &sim.rest_url(),
        PAIRS,
    );
    config.cache.ttl = ttl;
    config.nats.stream_replicas = 3;
    config
}

/// An in-process query-api on the cluster's `urls` with the cache TTL `ttl`; refreshes wait
/// up to 5 s for an ingestor.
pub fn api_config(urls: &str, prefix: &str, ttl: Duration) -> query_api::Config {
    let mut config = integration_tests::query_api::test_config(urls, prefix, PAIRS);
    config.cache.ttl = ttl;
    config.nats.request_timeout = Duration::from_secs(5);
    config
}

/// The exchange time of `pair` in `read`, when it served one.
pub fn exchange_time(read: &Read, pair: &str) -> Option<Timestamp> {
    read.items
        .iter()
        .find(|i| i.pair == pair)
        .and_then(|i| i.exchange_time)
}

/// `GET url`: status and body; `None` when no answer came.
pub async fn get(http: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let res = http.get(url).send().await.ok()?;
    let status = res.status().as_u16();
    Some((status, res.text().await.ok()?))
}

/// Waits until `GET url` (an `ltp` URL) serves every pair of [`PAIRS`] with a price Kraken
/// traded after `after`.
pub async fn served_after(http: &reqwest::Client, url: &str, after: Timestamp) {
    eventually(
        WAIT,
        &format!("every pair traded after {after} served"),
        || async {
            let (status, body) = get(http, url).await?;
            let served = items(&body);
            (status == 200
                && served.len() == PAIRS.len()
                && served
                    .iter()
                    .all(|i| i.exchange_time.is_some_and(|t| t > after)))
            .then_some(())
        },
    )
    .await;
}

/// The longest interval between two consecutive price messages a subscriber received.
pub fn longest_silence(prices: &[Received]) -> Duration {
    let mut at: Vec<Instant> = prices.iter().map(|r| r.at).collect();
    at.sort();
    at.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
}

/// Over `reads`, the longest time any pair's served trade (its exchange time) stayed the
/// newest one the API showed: from the first read showing it to the first showing a newer one.
pub fn longest_unchanged(reads: &[Read]) -> Duration {
    let mut longest = Duration::ZERO;
    for pair in PAIRS {
        let mut shown: Option<(Timestamp, Instant)> = None;
        for read in reads {
            let Some(t) = exchange_time(read, pair) else {
                continue;
            };
            match shown {
                Some((current, since)) if current == t => {
                    longest = longest.max(read.sent - since);
                }
                _ => shown = Some((t, read.sent)),
            }
        }
    }
    longest
}

/// The reads that did not answer 200 with every pair (each one a fresh price: the API never
/// serves one older than the TTL), as `status body` lines for a failure message.
pub fn failed(reads: &[Read]) -> Vec<String> {
    reads
        .iter()
        .filter(|r| !r.ok_for(PAIRS))
        .map(|r| format!("{:?} {}", r.status, r.body))
        .collect()
}
