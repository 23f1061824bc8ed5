//! Scenario 13: a rolling restart of all three nodes, one at a time (`docker stop`, SIGTERM:
//! each server shuts down cleanly, then starts again with its data), under read load. No read
//! fails, no pair's served trade ever goes back in time, prices flow while each node is down,
//! and a refresh through the API is answered while each node is down and after it is back.

use std::time::{Duration, Instant};

use common::Subjects;
use integration_tests::cluster::TestCluster;
use integration_tests::ingestor::start_ingestor;
use integration_tests::query_api::{RunningQueryApi, start_query_api};
use integration_tests::{eventually, unique_id};
use jiff::Timestamp;

use super::super::{Read, ReadLoop, WAIT, figure, items, ms, trading_sim};
use super::{
    ALL, PAIRS, api_config, exchange_time, failed, ingestor_config, longest_unchanged, served_after,
};

/// Refreshes BTC/USD through the API: the status and how long it took.
async fn refresh(api: &RunningQueryApi) -> (u16, Duration) {
    let started = Instant::now();
    let reply = api.post("/api/v1/ltp/refresh?pairs=BTC/USD").await;
    assert_eq!(
        items(&reply.body).len(),
        usize::from(reply.status == 200),
        "{}",
        reply.body
    );
    (reply.status, started.elapsed())
}

/// Asserts that no pair's served exchange time ever went back across `reads`.
fn assert_no_regression(reads: &[Read]) {
    for pair in PAIRS {
        let mut newest: Option<Timestamp> = None;
        for read in reads {
            let Some(t) = exchange_time(read, pair) else {
                continue;
            };
            assert!(
                newest.is_none_or(|n| t >= n),
                "{pair} went back from {newest:?} to {t}"
            );
            newest = Some(t);
        }
    }
}

#[tokio::test]
async fn a_rolling_restart_of_every_nats_node_fails_no_read_and_loses_no_price() {
    let cluster = TestCluster::start().await;
    let prefix = unique_id();
    let sim = trading_sim(PAIRS, Duration::from_millis(100)).await;
    let ttl = Duration::from_secs(10);
    let urls = cluster.urls();
    let _ingestor = start_ingestor(ingestor_config(&urls, &prefix, &sim, ttl)).await;
    let api = start_query_api(api_config(&urls, &prefix, ttl)).await;
    api.wait_ready(WAIT).await;
    let ltp = api.url("/api/v1/ltp");
    served_after(&api.http, &ltp, Timestamp::now()).await;
    let stream_name = Subjects::new(&prefix).expect("prefix").stream_name();
    let js = async_nats::jetstream::new(cluster.client_of(ALL).await);
    let reads = ReadLoop::start(ltp.clone(), Duration::from_millis(20));

    let started = Instant::now();
    for node in 0..ALL.len() {
        let name = &cluster.nodes[node].name;
        let stopping = Instant::now();
        cluster.stop(node).await;
        let (stopped_at, stop_call) = (Timestamp::now(), stopping.elapsed());
        served_after(&api.http, &ltp, stopped_at).await;
        let flowing = stopping.elapsed();
        let (down_status, down_took) = refresh(&api).await;

        let starting = Instant::now();
        cluster.start_again(node, ALL).await;
        let rejoined = starting.elapsed();
        // Its copy of the stream has caught up: the leader reports both others current.
        eventually(
            WAIT,
            &format!("{name}'s copy of the stream current"),
            || async {
                let mut stream = js.get_stream(&stream_name).await.ok()?;
                let info = stream.info().await.ok()?.cluster.clone()?;
                let peers: Vec<&str> = info.replicas.iter().map(|r| r.name.as_str()).collect();
                let back =
                    info.leader.as_deref() == Some(name.as_str()) || peers.contains(&name.as_str());
                (back
                    && info.replicas.len() == 2
                    && info.replicas.iter().all(|r| r.current && !r.offline))
                .then_some(())
            },
        )
        .await;
        let current = starting.elapsed();
        let (up_status, up_took) = refresh(&api).await;
        figure(
            &format!("scenario 13 {name} stopped (stop call) → every pair traded after it served"),
            format!("{} ({})", ms(flowing), ms(stop_call)),
        );
        figure(
            &format!("scenario 13 {name} down / back: refresh status and latency"),
            format!(
                "{down_status} {} / {up_status} {}",
                ms(down_took),
                ms(up_took)
            ),
        );
        figure(
            &format!("scenario 13 {name} start → back in the cluster / its stream copy current"),
            format!("{} / {}", ms(rejoined), ms(current)),
        );
        assert_eq!(
            (down_status, up_status),
            (200, 200),
            "refresh around {name}'s restart"
        );
        // The next node goes down only when every node serves prices again.
        served_after(&api.http, &ltp, Timestamp::now()).await;
    }
    let rolled = started.elapsed();
    served_after(&api.http, &ltp, Timestamp::now() + Duration::from_secs(1)).await;
    let reads = reads.finish().await;

    let failures = failed(&reads);
    figure("scenario 13 rolling restart of 3 nodes took", ms(rolled));
    figure(
        "scenario 13 reads under load / failed",
        format!("{} / {}", reads.len(), failures.len()),
    );
    figure(
        "scenario 13 longest time a served trade stayed the newest (trades every 100 ms)",
        ms(longest_unchanged(&reads)),
    );
    assert!(failures.is_empty(), "failed reads: {failures:#?}");
    assert_no_regression(&reads);
}
