//! Scenario 14: two ingestors connected to different nodes, and the node of one of them killed.
//! Ingestor A is given every node's URL; B is given the two nodes A is not on, so the two are
//! on different nodes. When A's node dies, B's prices keep flowing without a gap, A comes back
//! on a surviving node by itself, refreshes through the API are answered right after the kill,
//! and a replica under read load fails no read.

use std::time::{Duration, Instant};

use integration_tests::cluster::TestCluster;
use integration_tests::ingestor::{Watcher, start_ingestor};
use integration_tests::query_api::start_query_api;
use integration_tests::{eventually, unique_id};
use jiff::Timestamp;
use kraken_sim::Simulator;

use super::super::{ReadLoop, WAIT, figure, items, ms, trading_sim};
use super::{
    ALL, PAIRS, api_config, failed, ingestor_config, longest_silence, others, served_after,
};

/// An ingestor with instance id `id`.
fn ingestor_with_id(urls: &str, prefix: &str, id: &str, sim: &Simulator) -> ingestor::Config {
    let mut config = ingestor_config(urls, prefix, sim, Duration::from_secs(10));
    config.ingestor.instance_id = id.to_owned();
    config
}

#[tokio::test]
async fn with_two_ingestors_on_different_nodes_one_node_loss_stops_no_price_or_refresh() {
    let cluster = TestCluster::start().await;
    let prefix = unique_id();
    let sim = trading_sim(PAIRS, Duration::from_millis(100)).await;
    let urls = cluster.urls();
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let _a = start_ingestor(ingestor_with_id(&urls, &prefix, &a, &sim)).await;
    let name_a = format!("ltp-ingestor {a}");
    let node = eventually(WAIT, "ingestor A in /connz", || {
        cluster.node_of(&name_a, ALL)
    })
    .await;
    let survivors = others(node);
    let _b = start_ingestor(ingestor_with_id(
        &cluster.urls_of(&survivors),
        &prefix,
        &b,
        &sim,
    ))
    .await;
    let name_b = format!("ltp-ingestor {b}");
    let node_b = eventually(WAIT, "ingestor B in /connz", || {
        cluster.node_of(&name_b, &survivors)
    })
    .await;
    let api = start_query_api(api_config(&urls, &prefix, Duration::from_secs(10))).await;
    api.wait_ready(WAIT).await;
    let ltp = api.url("/api/v1/ltp");
    let watcher = Watcher::start(&cluster.client_of(&survivors).await, &prefix).await;
    eventually(WAIT, "prices from both ingestors", || async {
        let prices = watcher.prices();
        [&a, &b]
            .iter()
            .all(|id| prices.iter().any(|r| &*r.msg.ingestor == id.as_str()))
            .then_some(())
    })
    .await;
    let reads = ReadLoop::start(ltp.clone(), Duration::from_millis(20));
    served_after(&api.http, &ltp, Timestamp::now() + Duration::from_secs(1)).await;

    let killing = Instant::now();
    cluster.kill(node).await;
    let dead = Instant::now();
    let mut refreshes = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let reply = api.post("/api/v1/ltp/refresh?pairs=ETH/USD").await;
        refreshes.push((reply.status, started.elapsed()));
        assert_eq!(reply.status, 200, "refresh after the kill: {}", reply.body);
        assert_eq!(items(&reply.body).len(), 1, "{}", reply.body);
    }
    served_after(&api.http, &ltp, Timestamp::now()).await;
    let a_back = eventually(WAIT, "ingestor A publishing again", || async {
        watcher
            .prices()
            .iter()
            .find(|r| &*r.msg.ingestor == a.as_str() && r.at > dead)
            .map(|r| r.at - killing)
    })
    .await;
    let moved = eventually(WAIT, "ingestor A on a surviving node", || {
        cluster.node_of(&name_a, &survivors)
    })
    .await;
    served_after(&api.http, &ltp, Timestamp::now() + Duration::from_secs(1)).await;
    let reads = reads.finish().await;

    let from_b: Vec<_> = watcher
        .prices()
        .into_iter()
        .filter(|r| &*r.msg.ingestor == b.as_str())
        .collect();
    let failures = failed(&reads);
    figure(
        "scenario 14 A / B connected to; A reconnected to",
        format!(
            "{} / {}; {}",
            cluster.nodes[node].name, cluster.nodes[node_b].name, cluster.nodes[moved].name
        ),
    );
    figure(
        "scenario 14 longest silence of B's prices across the kill (normally ~35 ms)",
        ms(longest_silence(&from_b)),
    );
    figure(
        "scenario 14 refreshes right after the kill: status and latency",
        refreshes
            .iter()
            .map(|(s, d)| format!("{s} {}", ms(*d)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    figure(
        "scenario 14 kill issued → A publishing again (the kill call itself)",
        format!("{} ({})", ms(a_back), ms(dead - killing)),
    );
    figure(
        "scenario 14 reads under load / failed",
        format!("{} / {}", reads.len(), failures.len()),
    );
    assert!(failures.is_empty(), "failed reads: {failures:#?}");
}
