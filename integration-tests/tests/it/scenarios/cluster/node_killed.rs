//! Scenario 11: the NATS node the ingestor is connected to is killed (SIGKILL) mid-stream.
//! Both processes are the real binaries, started as an operator would with `NATS_URL` listing
//! all three nodes (the list once stopped both binaries at start) and
//! `NATS_STREAM_REPLICAS=3`. A replica is read every 20 ms throughout: no read fails, and
//! prices traded after the kill reach it within the measured time.

use std::time::{Duration, Instant};

use integration_tests::cluster::TestCluster;
use integration_tests::eventually;
use integration_tests::process::{Process, ingestor_env, query_api_env};
use integration_tests::unique_id;
use jiff::Timestamp;

use common::Subjects;
use integration_tests::ingestor::Watcher;

use super::super::{ReadLoop, WAIT, figure, items, ms, trading_sim};
use super::{ALL, PAIRS, failed, get, longest_silence, longest_unchanged, others, served_after};

#[tokio::test]
async fn killing_the_ingestors_nats_node_fails_no_read_and_prices_flow_again() {
    let cluster = TestCluster::start().await;
    let prefix = unique_id();
    let sim = trading_sim(PAIRS, Duration::from_millis(100)).await;
    let ttl = Duration::from_secs(10);
    let urls = cluster.urls();
    let ingestor = Process::start("ingestor", |port| {
        let mut env = ingestor_env(port, &urls, &prefix, &sim, PAIRS, ttl);
        env.push(("NATS_STREAM_REPLICAS".into(), "3".into()));
        env
    })
    .await;
    let api = Process::start("query-api", |port| {
        query_api_env(port, &urls, &prefix, PAIRS, ttl)
    })
    .await;
    let http = reqwest::Client::new();
    let ltp = api.url("/api/v1/ltp");
    eventually(WAIT, "every pair served", || async {
        let (status, body) = get(&http, &ltp).await?;
        (status == 200 && items(&body).len() == PAIRS.len()).then_some(())
    })
    .await;
    let name = format!("ltp-ingestor proc-{prefix}-{}", ingestor.addr.port());
    let node = eventually(WAIT, "the ingestor's node in /connz", || {
        cluster.node_of(&name, ALL)
    })
    .await;
    // The worst case: the node also leads the stream, so the stream needs a new leader while
    // the ingestor reconnects and ensures it.
    let stream = Subjects::new(&prefix).expect("prefix").stream_name();
    let admin = cluster.client_of(ALL).await;
    cluster.move_stream_leader(&admin, &stream, node).await;
    let api_node = cluster.node_of("query-api", ALL).await;
    figure(
        "scenario 11 ingestor (and stream leader) / query-api connected to",
        format!(
            "{} / {}",
            cluster.nodes[node].name,
            api_node.map_or("?", |n| cluster.nodes[n].name.as_str())
        ),
    );

    // A subscriber on the nodes that survive sees how long the bus goes quiet.
    let watcher = Watcher::start(&cluster.client_of(&others(node)).await, &prefix).await;
    let reads = ReadLoop::start(ltp.clone(), Duration::from_millis(20));
    served_after(&http, &ltp, Timestamp::now() + Duration::from_secs(1)).await;

    let killing = Instant::now();
    cluster.kill(node).await;
    let (dead_at, kill_call) = (Timestamp::now(), killing.elapsed());
    served_after(&http, &ltp, dead_at).await;
    let flowing = killing.elapsed();
    let survivors = others(node);
    let moved = eventually(WAIT, "the ingestor on a surviving node", || {
        cluster.node_of(&name, &survivors)
    })
    .await;
    served_after(&http, &ltp, Timestamp::now() + Duration::from_secs(1)).await;
    let reads = reads.finish().await;

    let failures = failed(&reads);
    figure(
        "scenario 11 reads under load / failed",
        format!("{} / {}", reads.len(), failures.len()),
    );
    figure(
        "scenario 11 kill issued → every pair traded after the node was gone served (the kill call itself)",
        format!("{} ({})", ms(flowing), ms(kill_call)),
    );
    figure(
        "scenario 11 longest bus silence seen on a surviving node (normally ~35 ms)",
        ms(longest_silence(&watcher.prices())),
    );
    figure(
        "scenario 11 longest time a served trade stayed the newest (trades every 100 ms)",
        ms(longest_unchanged(&reads)),
    );
    figure(
        "scenario 11 ingestor reconnected to",
        &cluster.nodes[moved].name,
    );
    assert!(failures.is_empty(), "failed reads: {failures:#?}");
    // Both processes lived through it (no restart): the same ones still answer.
    for process in [&ingestor, &api] {
        let (status, _) = get(&http, &process.url("/health"))
            .await
            .unwrap_or_default();
        assert_eq!(status, 200, "{}:\n{}", process.name, process.log_text());
    }
    assert!(
        flowing < Duration::from_secs(10),
        "prices took {flowing:?} to flow again"
    );
}
