//! Scenario 12: the leader of the last-value stream (three copies) is killed. The copies on
//! the two surviving nodes elect a new leader, and a query-api replica started afterwards (the
//! binary, with `NATS_URL` listing all three nodes, the dead one included) is ready with every
//! pair at once, from the stream.
//!
//! The simulator trades only when told to and the TTL is 10 minutes (quiet pairs re-published
//! every 200 s), so no price message is published between the kill and the new replica's first
//! answer — a subscriber on the price subjects checks that: whatever it serves, it read from
//! the surviving copies.

use std::time::{Duration, Instant};

use common::Subjects;
use integration_tests::cluster::TestCluster;
use integration_tests::ingestor::{Watcher, start_ingestor};
use integration_tests::process::{Process, query_api_env};
use integration_tests::query_api::Reply;
use integration_tests::{eventually, unique_id};

use super::super::{WAIT, figure, items, manual_sim, ms, serves, trade_streamed};
use super::{ALL, PAIRS, get, ingestor_config, others};

#[tokio::test]
async fn after_the_stream_leader_dies_a_new_replica_is_warm_from_the_surviving_copies() {
    let cluster = TestCluster::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(600);
    let urls = cluster.urls();
    let _ingestor = start_ingestor(ingestor_config(&urls, &prefix, &sim, ttl)).await;
    let prices = [
        ("BTC/USD", "64000.5"),
        ("ETH/USD", "3300.25"),
        ("LTC/USD", "90.75"),
    ];
    let mut traded = Vec::new();
    for (pair, price) in prices {
        traded.push((pair, trade_streamed(&sim, pair, price, 1).await));
    }

    // Every copy holds the last trade of every pair.
    let subjects = Subjects::new(&prefix).expect("prefix");
    let stream_name = subjects.stream_name();
    let client = cluster.client_of(ALL).await;
    let js = async_nats::jetstream::new(client.clone());
    eventually(WAIT, "three current copies of every last trade", || async {
        let mut stream = js.get_stream(&stream_name).await.ok()?;
        for (pair, _) in prices {
            let pair = common::Pair::parse(pair).expect("pair");
            let last = stream
                .direct_get_last_for_subject(subjects.price(pair).as_str())
                .await
                .ok()?;
            let ct = last.headers.get("Content-Type").map(|v| v.as_str());
            let msg = common::message::decode(ct, &last.payload).ok()?;
            let (_, price) = prices.iter().find(|(p, _)| *p == pair.as_str())?;
            (msg.price.as_str() == *price).then_some(())?;
        }
        let cluster_info = stream.info().await.ok()?.cluster.clone()?;
        (cluster_info.replicas.len() == 2 && cluster_info.replicas.iter().all(|r| r.current))
            .then_some(())
    })
    .await;

    let leader = eventually(WAIT, "the stream leader", || {
        cluster.stream_leader(&stream_name, ALL)
    })
    .await;
    let survivors = others(leader);
    let on_survivors = cluster.client_of(&survivors).await;
    let watcher = Watcher::start(&on_survivors, &prefix).await;
    let js = async_nats::jetstream::new(on_survivors);
    let killing = Instant::now();
    cluster.kill(leader).await;
    let kill_call = killing.elapsed();
    // Stream info is answered by the stream's leader only: an answer naming a survivor is
    // the election done.
    let new_leader = eventually(WAIT, "a new stream leader answering", || async {
        let info = js
            .get_stream(&stream_name)
            .await
            .ok()?
            .info()
            .await
            .ok()?
            .clone();
        let name = info.cluster?.leader?;
        survivors
            .iter()
            .copied()
            .find(|i| cluster.nodes[*i].name == name)
    })
    .await;
    let elected = killing.elapsed();

    // A replica (the binary, given all three URLs, one of them dead) starts now.
    integration_tests::process::binary("query-api");
    let started = Instant::now();
    let api = Process::start("query-api", |port| {
        query_api_env(port, &urls, &prefix, PAIRS, ttl)
    })
    .await;
    let http = reqwest::Client::new();
    eventually(WAIT, "the new replica's /ready 200", || async {
        (get(&http, &api.url("/ready")).await?.0 == 200).then_some(())
    })
    .await;
    let ready = started.elapsed();
    let (status, body) = get(&http, &api.url("/api/v1/ltp"))
        .await
        .expect("an answer");
    let reply = Reply {
        status,
        body,
        degraded: None,
    };
    let ticks = watcher.prices().len();
    figure(
        "scenario 12 kill issued → a new stream leader answers (the kill call itself)",
        format!(
            "{} ({}; {} → {})",
            ms(elected),
            ms(kill_call),
            cluster.nodes[leader].name,
            cluster.nodes[new_leader].name
        ),
    );
    figure(
        "scenario 12 replica started after the election → ready with every pair",
        ms(ready),
    );
    assert!(
        serves(&reply, &prices, Some("ws")),
        "ready but not every pair: {}",
        reply.body
    );
    let served = items(&reply.body);
    for (pair, at) in &traded {
        assert!(
            served
                .iter()
                .any(|i| i.pair == *pair && i.exchange_time == Some(*at)),
            "{pair}: not the last trade: {}",
            reply.body
        );
    }
    assert_eq!(ticks, 0, "no price was published while it started");
    let (_, metrics) = get(&http, &api.url("/metrics")).await.expect("metrics");
    assert!(
        metrics.contains(r#"btc_ltp_warmups_total{result="success",source="jetstream"} 1"#),
        "warmed from the stream: {}",
        metrics
            .lines()
            .filter(|l| l.contains("warmups"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
