//! Scenario 10: SIGTERM under load, to the real binaries. Every request that was in flight
//! when the signal was sent completes successfully, and the process exits with status 0.
//!
//! - query-api: concurrent readers and refreshes over HTTP.
//! - ingestor: concurrent refresh requests over NATS while prices stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use integration_tests::ingestor::start_ingestor;
use integration_tests::process::{Process, ingestor_env, query_api_env};
use integration_tests::{TestNats, eventually, unique_id};
use tokio::task::JoinHandle;

use super::{WAIT, figure, ingestor_config, manual_sim, ms, trade_streamed, trading_sim};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "XRP/USD"];

/// One request of the load: when it started and ended, and its status (or error).
#[derive(Debug, Clone)]
struct Outcome {
    what: &'static str,
    started: Instant,
    ended: Instant,
    result: Result<u16, String>,
}

/// Counters shared with the load tasks.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    done: AtomicUsize,
    in_flight: AtomicUsize,
}

/// A task sending `request` back to back until told to stop.
fn worker<F, Fut>(load: Arc<Load>, what: &'static str, request: F) -> JoinHandle<Vec<Outcome>>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<u16, String>> + Send,
{
    tokio::spawn(async move {
        let mut outcomes = Vec::new();
        while !load.stop.load(Ordering::Acquire) {
            load.in_flight.fetch_add(1, Ordering::AcqRel);
            let started = Instant::now();
            let result = request().await;
            let ended = Instant::now();
            load.in_flight.fetch_sub(1, Ordering::AcqRel);
            load.done.fetch_add(1, Ordering::AcqRel);
            let failed = result.is_err();
            outcomes.push(Outcome {
                what,
                started,
                ended,
                result,
            });
            if failed {
                // Refused connections after the shutdown: do not spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        outcomes
    })
}

/// Sorts the outcomes around `signal_at` and prints the figures; returns those that started
/// before it and did not succeed, and how many were in flight at the signal.
fn report(name: &str, outcomes: &[Outcome], signal_at: Instant, ok: u16) -> (Vec<Outcome>, usize) {
    let before: Vec<&Outcome> = outcomes.iter().filter(|o| o.started < signal_at).collect();
    let failed: Vec<Outcome> = before
        .iter()
        .filter(|o| o.result != Ok(ok))
        .map(|o| (*o).clone())
        .collect();
    let in_flight: Vec<&&Outcome> = before.iter().filter(|o| o.ended > signal_at).collect();
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started >= signal_at).collect();
    let kinds = |list: &[&&Outcome]| {
        let mut kinds: Vec<&str> = list.iter().map(|o| o.what).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
            .iter()
            .map(|k| format!("{k} {}", list.iter().filter(|o| o.what == *k).count()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    figure(
        &format!("scenario 10 {name} requests before SIGTERM"),
        before.len(),
    );
    figure(
        &format!("scenario 10 {name} in flight at SIGTERM"),
        format!("{} ({})", in_flight.len(), kinds(&in_flight)),
    );
    figure(
        &format!("scenario 10 {name} failed in-flight requests"),
        failed.len(),
    );
    figure(
        &format!("scenario 10 {name} requests started after SIGTERM: ok / refused"),
        format!(
            "{} / {}",
            after.iter().filter(|o| o.result == Ok(ok)).count(),
            after.iter().filter(|o| o.result != Ok(ok)).count()
        ),
    );
    (failed, in_flight.len())
}

#[tokio::test]
async fn query_api_on_sigterm_under_load_completes_every_in_flight_request_and_exits_0() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(30);
    let _ingestor = start_ingestor(ingestor_config(&nats, &prefix, &sim, PAIRS, ttl)).await;
    let mut api = Process::start("query-api", |port| {
        query_api_env(port, &nats.url, &prefix, PAIRS, ttl)
    })
    .await;
    for pair in PAIRS {
        trade_streamed(&sim, pair, "100.5", 1).await;
    }
    let http = reqwest::Client::new();
    eventually(WAIT, "query-api ready with every pair", || async {
        let ready = http.get(api.url("/ready")).send().await.ok()?;
        let all = http.get(api.url("/api/v1/ltp")).send().await.ok()?;
        (ready.status() == 200 && all.status() == 200).then_some(())
    })
    .await;

    // Eight readers and two refreshers (each refresh waits for the ingestor's REST slot, so
    // refreshes are in flight most of the time), every one on its own keep-alive connection.
    let load = Arc::new(Load::default());
    let mut workers = Vec::new();
    for i in 0..10 {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        let (what, url, post) = if i < 8 {
            ("read", api.url("/api/v1/ltp"), false)
        } else {
            (
                "refresh",
                api.url("/api/v1/ltp/refresh?pairs=BTC/USD,ETH/USD"),
                true,
            )
        };
        workers.push(worker(load.clone(), what, move || {
            let request = if post {
                client.post(&url)
            } else {
                client.get(&url)
            };
            async move {
                let res = request.send().await.map_err(|e| format!("{e:?}"))?;
                let status = res.status().as_u16();
                res.bytes().await.map_err(|e| format!("body: {e:?}"))?;
                Ok(status)
            }
        }));
    }
    eventually(
        WAIT,
        "the load running, with requests in flight",
        || async {
            (load.done.load(Ordering::Acquire) >= 300
                && load.in_flight.load(Ordering::Acquire) >= 5)
                .then_some(())
        },
    )
    .await;

    let signal_at = Instant::now();
    api.signal("TERM");
    let status = api.wait(Duration::from_secs(30)).await;
    let stopped_after = signal_at.elapsed();
    load.stop.store(true, Ordering::Release);
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.expect("load task"));
    }
    figure("scenario 10 query-api SIGTERM → exit", ms(stopped_after));
    let (failed, in_flight) = report("query-api", &outcomes, signal_at, 200);
    let status = status.unwrap_or_else(|| {
        panic!(
            "query-api still running 30 s after SIGTERM:\n{}",
            api.log_text()
        )
    });
    assert!(
        failed.is_empty(),
        "{} in-flight requests failed: {:?}\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        api.log_text()
    );
    assert!(in_flight > 0, "requests were in flight at SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status:\n{}", api.log_text());
    // And it no longer listens.
    assert!(tokio::net::TcpStream::connect(api.addr).await.is_err());
}

#[tokio::test]
async fn ingestor_on_sigterm_under_load_answers_every_refresh_in_flight_and_exits_0() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    // Prices stream all the while.
    let sim = trading_sim(PAIRS, Duration::from_millis(20)).await;
    let ttl = Duration::from_secs(30);
    let mut ingestor = Process::start("ingestor", |port| {
        ingestor_env(port, &nats.url, &prefix, &sim, PAIRS, ttl)
    })
    .await;
    let client = nats.client().await;
    let mut prices = client
        .subscribe(format!("{prefix}.prices.kraken.*"))
        .await
        .expect("subscribe");
    tokio::time::timeout(WAIT, prices.next())
        .await
        .expect("prices stream")
        .expect("a price");
    // Three requesters back to back; each refresh waits for the ingestor's REST slot (one
    // request a second), so several are always queued in the ingestor.
    let load = Arc::new(Load::default());
    let mut workers = Vec::new();
    for _ in 0..3 {
        let client = client.clone();
        let subject = format!("{prefix}.refresh.kraken");
        workers.push(worker(load.clone(), "refresh", move || {
            let (client, subject) = (client.clone(), subject.clone());
            async move {
                let reply = tokio::time::timeout(
                    Duration::from_secs(20),
                    client.request(subject, r#"{"pairs":["BTC/USD"]}"#.into()),
                )
                .await
                .map_err(|_| "no reply within 20 s".to_owned())?
                .map_err(|e| format!("{e:?}"))?;
                let body: serde_json::Value =
                    serde_json::from_slice(&reply.payload).map_err(|e| e.to_string())?;
                let ok = body["prices"].as_array().is_some_and(|p| p.len() == 1)
                    && body["errors"].as_array().is_some_and(Vec::is_empty);
                // 200 stands for a reply with the price, as query-api would turn it.
                if ok {
                    Ok(200)
                } else {
                    Err(format!("failure reply: {body}"))
                }
            }
        }));
    }
    eventually(WAIT, "refreshes answered and in flight", || async {
        (load.done.load(Ordering::Acquire) >= 3 && load.in_flight.load(Ordering::Acquire) >= 3)
            .then_some(())
    })
    .await;

    let signal_at = Instant::now();
    ingestor.signal("TERM");
    let status = ingestor.wait(Duration::from_secs(30)).await;
    let stopped_after = signal_at.elapsed();
    load.stop.store(true, Ordering::Release);
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.expect("load task"));
    }
    figure("scenario 10 ingestor SIGTERM → exit", ms(stopped_after));
    let (failed, in_flight) = report("ingestor", &outcomes, signal_at, 200);
    let status = status.unwrap_or_else(|| {
        panic!(
            "ingestor still running 30 s after SIGTERM:\n{}",
            ingestor.log_text()
        )
    });
    assert!(
        failed.is_empty(),
        "{} in-flight refreshes failed: {failed:?}\n{}",
        failed.len(),
        ingestor.log_text()
    );
    assert!(in_flight > 0, "refreshes were in flight at SIGTERM");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status:\n{}",
        ingestor.log_text()
    );
}
