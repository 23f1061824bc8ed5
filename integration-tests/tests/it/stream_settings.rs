//! The last-value stream's settings against real servers: an existing stream made with other
//! settings is changed where NATS allows it and kept, with NATS's reason, where it does not,
//! one log line per setting, as an operator running the `ingestor` binary sees them.

use std::time::Duration;

use async_nats::jetstream::stream::{self, StorageType};
use common::{Pair, Subjects};
use integration_tests::cluster::TestCluster;
use integration_tests::process::{Process, ingestor_env};
use integration_tests::sim::start_sim;
use integration_tests::{TestNats, eventually, unique_id};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD"];
const WAIT: Duration = Duration::from_secs(30);

/// The stream an operator (or an older version) might have made: ltp's subjects, other limits.
fn made_by_hand(subjects: &Subjects, storage: StorageType, replicas: usize) -> stream::Config {
    stream::Config {
        name: subjects.stream_name(),
        subjects: vec![subjects.prices_all()],
        max_messages_per_subject: 5,
        max_age: Duration::from_secs(3600),
        allow_direct: true,
        storage,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// Waits until the process's log has a line containing every one of `parts`; returns it.
async fn log_line(process: &Process, parts: &[&str]) -> String {
    eventually(WAIT, &format!("a log line with {parts:?}"), || async {
        process
            .log_text()
            .lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_owned)
    })
    .await
}

/// Waits until `stream` holds a last price of every pair.
async fn until_every_pair_in(stream: &stream::Stream, subjects: &Subjects) {
    for pair in PAIRS {
        let subject = subjects.price(Pair::parse(pair).expect("pair")).to_string();
        eventually(
            WAIT,
            &format!("{pair}'s last price in the stream"),
            || async {
                stream
                    .direct_get_last_for_subject(subject.as_str())
                    .await
                    .ok()
            },
        )
        .await;
    }
}

#[tokio::test]
async fn stream_settings_nats_allows_are_updated_and_storage_is_kept_with_the_reason() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let subjects = Subjects::new(&prefix).expect("prefix");
    let js = async_nats::jetstream::new(nats.client().await);
    js.create_stream(made_by_hand(&subjects, StorageType::Memory, 1))
        .await
        .expect("create the stream by hand");
    let sim = start_sim(PAIRS).await;
    let ttl = Duration::from_secs(30);
    let ingestor = Process::start("ingestor", |port| {
        ingestor_env(port, &nats.url, &prefix, &sim, PAIRS, ttl)
    })
    .await;

    let limit = log_line(
        &ingestor,
        &[
            "price stream setting updated",
            "max_messages_per_subject",
            "existing=5 wanted=1",
        ],
    )
    .await;
    let age = log_line(
        &ingestor,
        &[
            "price stream setting updated",
            "max_age",
            "existing=1h wanted=unlimited",
        ],
    )
    .await;
    let storage = log_line(
        &ingestor,
        &[
            "price stream setting kept: NATS refused the change",
            "setting=storage existing=memory wanted=file",
            "reason=",
        ],
    )
    .await;
    println!("{limit}\n{age}\n{storage}");

    let mut s = js.get_stream(subjects.stream_name()).await.expect("stream");
    let config = s.info().await.expect("info").config.clone();
    assert_eq!(config.max_messages_per_subject, 1);
    assert!(config.max_age.is_zero(), "{:?}", config.max_age);
    assert_eq!(
        config.storage,
        StorageType::Memory,
        "a stream keeps its storage"
    );
    // The stream kept in memory still holds the last price of every pair.
    until_every_pair_in(&s, &subjects).await;
}

#[tokio::test]
async fn a_single_copy_stream_gets_three_copies_on_a_cluster_when_configured() {
    let cluster = TestCluster::start().await;
    let prefix = unique_id();
    let subjects = Subjects::new(&prefix).expect("prefix");
    let js = async_nats::jetstream::new(cluster.client_of(&[0, 1, 2]).await);
    let mut by_hand = made_by_hand(&subjects, StorageType::File, 1);
    by_hand.max_messages_per_subject = 1;
    by_hand.max_age = Duration::ZERO;
    js.create_stream(by_hand).await.expect("create the stream");
    let sim = start_sim(PAIRS).await;
    let urls = cluster.urls();
    let ingestor = Process::start("ingestor", |port| {
        let mut env = ingestor_env(port, &urls, &prefix, &sim, PAIRS, Duration::from_secs(30));
        env.push(("NATS_STREAM_REPLICAS".into(), "3".into()));
        env
    })
    .await;

    let line = log_line(
        &ingestor,
        &[
            "price stream setting updated",
            "setting=num_replicas existing=1 wanted=3",
        ],
    )
    .await;
    println!("{line}");
    let log = ingestor.log_text();
    assert!(
        !log.contains("price stream setting kept"),
        "nothing else differed: {log}"
    );
    let copies = eventually(WAIT, "three current copies", || async {
        let mut s = js.get_stream(subjects.stream_name()).await.ok()?;
        let info = s.info().await.ok()?;
        let cluster = info.cluster.clone()?;
        (info.config.num_replicas == 3
            && cluster.replicas.len() == 2
            && cluster.replicas.iter().all(|r| r.current))
        .then(|| cluster.replicas.len() + 1)
    })
    .await;
    assert_eq!(copies, 3);
}

#[tokio::test]
async fn a_stream_nats_cannot_create_yet_is_created_later_without_a_reconnect() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let subjects = Subjects::new(&prefix).expect("prefix");
    let client = nats.client().await;
    let js = async_nats::jetstream::new(client.clone());
    // Another stream on the same subjects: NATS refuses ltp's ("subjects overlap").
    let other = format!("OTHER_{}", subjects.stream_name());
    js.create_stream(stream::Config {
        name: other.clone(),
        subjects: vec![subjects.prices_all()],
        storage: StorageType::Memory,
        ..Default::default()
    })
    .await
    .expect("create the conflicting stream");
    let sim = start_sim(PAIRS).await;
    let watcher = integration_tests::ingestor::Watcher::start(&client, &prefix).await;
    let ingestor =
        integration_tests::ingestor::start_ingestor(integration_tests::ingestor::test_config(
            &nats.url,
            &prefix,
            &sim.ws_url(),
            &sim.rest_url(),
            PAIRS,
        ))
        .await;
    // Prices flow on core NATS meanwhile, and the ingestor says it has no stream.
    eventually(WAIT, "prices published without the stream", || async {
        (!watcher.prices().is_empty()).then_some(())
    })
    .await;
    let (_, metrics) = ingestor.admin(reqwest::Method::GET, "/metrics").await;
    assert!(
        metrics.contains("ingestor_jetstream_enabled 0"),
        "{metrics}"
    );
    assert!(js.get_stream(subjects.stream_name()).await.is_err());

    js.delete_stream(&other)
        .await
        .expect("delete the conflicting stream");
    let created = std::time::Instant::now();
    let s = eventually(WAIT, "ltp's stream created by a retry", || async {
        js.get_stream(subjects.stream_name()).await.ok()
    })
    .await;
    println!(
        "created {:?} after the conflict was removed",
        created.elapsed()
    );
    until_every_pair_in(&s, &subjects).await;
    eventually(WAIT, "ingestor_jetstream_enabled 1", || async {
        let (_, metrics) = ingestor.admin(reqwest::Method::GET, "/metrics").await;
        metrics
            .contains("ingestor_jetstream_enabled 1")
            .then_some(())
    })
    .await;
}
