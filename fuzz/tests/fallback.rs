//! The proptest fallback for machines without nightly Rust or cargo-fuzz: each target gets
//! `LTP_FUZZ_CASES` generated inputs (default 1,000,000) or, with `LTP_FUZZ_SECONDS`, as many
//! as fit in that time. Inputs are arbitrary bytes or mutated seeds (`fuzz/seeds/<target>/`
//! and `fuzz/regressions/<target>/`), which reach far deeper than random bytes alone.
//!
//! Every seed and regression file is also replayed as is, so a crash once found stays fixed.
//! A failure prints the shrunk input in hex and writes it to `.local/fuzz/failures/`, ready to
//! be committed under `fuzz/regressions/<target>/`.
//!
//! `scripts/fuzz --proptest` runs this; it prints one `fuzz-summary` line per target.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};

/// Cases per batch: one proptest run; batches repeat until the budget is spent.
const BATCH: u32 = 50_000;

fn budget() -> (u64, Option<Duration>) {
    let cases = std::env::var("LTP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seconds = std::env::var("LTP_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs);
    (cases, seconds)
}

fn inputs(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), 0..512);
    if seeds.is_empty() {
        return raw.boxed();
    }
    let ops = proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 0..12);
    let mutated =
        (proptest::sample::select(seeds), ops).prop_map(|(seed, ops)| ltp_fuzz::mutate(&seed, &ops));
    prop_oneof![1 => raw, 4 => mutated].boxed()
}

fn run(name: &str) {
    let target = ltp_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("known target");
    let seeds = ltp_fuzz::seeds(name);
    for seed in &seeds {
        target(seed);
    }
    let strategy = inputs(seeds);
    let (cases, seconds) = budget();
    let started = Instant::now();
    let mut executed: u64 = 0;
    loop {
        let done = match seconds {
            Some(limit) => started.elapsed() >= limit,
            None => executed >= cases,
        };
        if done {
            break;
        }
        let batch = match seconds {
            Some(_) => BATCH,
            None => u32::try_from((cases - executed).min(u64::from(BATCH))).unwrap_or(BATCH),
        };
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            // Shrinking a crash is worth a while; a hang is caught by the test harness.
            max_shrink_iters: 100_000,
            ..Config::default()
        });
        if let Err(err) = runner.run(&strategy, |input| {
            target(&input);
            Ok(())
        }) {
            let input = match &err {
                TestError::Fail(_, input) => input.clone(),
                TestError::Abort(_) => Vec::new(),
            };
            let path = save_failure(name, &input);
            panic!(
                "{name}: {err}\ninput (hex): {}\nsaved to {path}; commit it under fuzz/regressions/{name}/ with the fix",
                hex(&input)
            );
        }
        executed += u64::from(batch);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz-summary mode=proptest target={name} executions={executed} seconds={secs:.0} crashes=0"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn save_failure(name: &str, input: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/fuzz/failures");
    let path = dir.join(format!("{name}-{}", &hex(input).chars().take(16).collect::<String>()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, input);
    path.display().to_string()
}

#[test]
fn ws_frame() {
    run("ws_frame");
}

#[test]
fn rest_body() {
    run("rest_body");
}

#[test]
fn query_params() {
    run("query_params");
}

#[test]
fn price_decode() {
    run("price_decode");
}
