//! Kraken REST `Ticker` client: one multi-pair call per request, retries within a budget,
//! unknown pairs isolated, throttling and outages backed off through the shared [`Limiter`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Pair;
use common::message::Price;
use jiff::Timestamp;
use tokio::time::Instant;

use super::limiter::Limiter;
use super::rest_body::{KrakenErrorKind, TickerBody, parse_ticker, parse_time};
use crate::clock::Clock;
use crate::config::KrakenConfig;
use crate::metrics::Metrics;

/// A pair Kraken does not know is asked about again, alone, after this long.
const BAD_PAIR_RETRY: Duration = Duration::from_secs(300);
/// Backoff between attempts after transport errors and timeouts (full jitter below it).
const RETRY_BASE: Duration = Duration::from_millis(250);
/// Longest backoff between attempts of one call.
const RETRY_MAX: Duration = Duration::from_secs(4);

/// A price from REST, stamped with the time its request was **sent**: a slow answer never
/// looks newer than a WebSocket update that arrived meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The last traded price, exact.
    pub price: Price,
    /// When the request that returned it was sent (our clock).
    pub sent_at: Timestamp,
}

/// Why a pair could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Kraken refused the pair itself (unknown pair, bad entry).
    #[error("kraken refused the pair: {0}")]
    Refused(String),
    /// Kraken could not be reached, throttled us, failed, or the budget ran out.
    #[error("kraken unavailable: {0}")]
    Unavailable(String),
}

/// Results of one fetch, per requested pair.
pub type Outcome = HashMap<Pair, Result<Fetched, FetchError>>;

/// What one group request ended with.
enum GroupResult {
    Done(Vec<(Pair, Result<Fetched, FetchError>)>),
    UnknownPair,
    Failed(FetchError),
}

/// The REST client of one ingestor.
pub struct RestClient {
    http: reqwest::Client,
    ticker_url: String,
    time_url: String,
    clock: Clock,
    request_timeout: Duration,
    timeout: Duration,
    max_attempts: u32,
    limiter: Arc<Limiter>,
    metrics: Metrics,
    /// What we learnt about names Kraken refuses.
    names: Mutex<Names>,
}

/// Pairs Kraken called unknown, and pairs that were in a request it refused.
#[derive(Default)]
struct Names {
    /// Refused alone: asked about again (alone) at the given time.
    bad: HashMap<Pair, Instant>,
    /// In a refused multi-pair request, not yet proven good.
    suspects: HashSet<Pair>,
}

fn unknown_pair() -> FetchError {
    FetchError::Refused("EQuery:Unknown asset pair".into())
}

impl RestClient {
    /// A client for `config`'s REST base, sharing `limiter` with every other REST caller.
    pub fn new(
        config: &KrakenConfig,
        limiter: Arc<Limiter>,
        metrics: Metrics,
        clock: Clock,
    ) -> reqwest::Result<RestClient> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("ltp-ingestor/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.request_timeout)
            .pool_max_idle_per_host(2)
            .build()?;
        Ok(RestClient {
            http,
            ticker_url: format!("{}/0/public/Ticker", config.rest_base()),
            time_url: format!("{}/0/public/Time", config.rest_base()),
            clock,
            request_timeout: config.request_timeout,
            timeout: config.timeout,
            max_attempts: config.max_retries.max(1),
            limiter,
            metrics,
            names: Mutex::default(),
        })
    }

    /// Fetches `pairs`: one request for all of them, plus the work of finding a pair Kraken
    /// does not know (one such pair fails a whole request). With `first_slot_taken` the caller
    /// already holds a limiter slot for the first request. Every requested pair has an entry
    /// in the result.
    ///
    /// Isolation survives across calls: after an `Unknown asset pair`, every pair of that
    /// request is a suspect until a request containing it succeeds; suspects are requested
    /// apart from the known-good pairs, bisected, and a suspect refused alone is bad (asked
    /// about again, alone, every [`BAD_PAIR_RETRY`]). So the good pairs keep being served
    /// even while the call's time budget cuts the search short.
    pub async fn ticker(&self, pairs: &[Pair], first_slot_taken: bool) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let mut out = Outcome::new();
        // A stack: the last pushed goes first.
        let mut groups: Vec<Vec<Pair>> = Vec::new();
        {
            let now = Instant::now();
            let names = self.names();
            let (mut good, mut suspects) = (Vec::new(), Vec::new());
            for &pair in pairs {
                match names.bad.get(&pair) {
                    Some(&retry) if retry > now => {
                        out.insert(pair, Err(unknown_pair()));
                    }
                    Some(_) => groups.push(vec![pair]),
                    None if names.suspects.contains(&pair) => suspects.push(pair),
                    None => good.push(pair),
                }
            }
            if !suspects.is_empty() {
                groups.push(suspects);
            }
            if !good.is_empty() {
                groups.push(good);
            }
        }
        let mut slot_taken = first_slot_taken;
        while let Some(group) = groups.pop() {
            match self.group(&group, deadline, &mut slot_taken).await {
                GroupResult::Done(results) => {
                    let mut names = self.names();
                    for p in &group {
                        names.suspects.remove(p);
                    }
                    out.extend(results);
                }
                GroupResult::UnknownPair if group.len() == 1 => {
                    tracing::warn!(pair = %group[0], "kraken does not know this pair");
                    let mut names = self.names();
                    names.suspects.remove(&group[0]);
                    names.bad.insert(group[0], Instant::now() + BAD_PAIR_RETRY);
                    out.insert(group[0], Err(unknown_pair()));
                }
                GroupResult::UnknownPair => {
                    self.names().suspects.extend(group.iter().copied());
                    let (a, b) = group.split_at(group.len() / 2);
                    groups.push(b.to_vec());
                    groups.push(a.to_vec());
                }
                GroupResult::Failed(err) => {
                    out.extend(group.iter().map(|&p| (p, Err(err.clone()))));
                }
            }
        }
        out
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One group of pairs: up to `max_retries` attempts within the call's deadline.
    async fn group(&self, pairs: &[Pair], deadline: Instant, slot_taken: &mut bool) -> GroupResult {
        let names: Vec<&str> = pairs.iter().map(|p| p.market().rest_altname).collect();
        let url = format!("{}?pair={}", self.ticker_url, names.join(","));
        let mut last_error = String::from("no attempt within the time budget");
        for attempt in 1..=self.max_attempts {
            if !std::mem::take(slot_taken)
                && tokio::time::timeout_at(deadline, self.limiter.acquire())
                    .await
                    .is_err()
            {
                break;
            }
            let budget = deadline.saturating_duration_since(Instant::now());
            if budget.is_zero() {
                break;
            }
            let (outcome, retry) = match self.attempt(&url, pairs, budget).await {
                Attempt::Final(result) => return result,
                Attempt::Again {
                    outcome,
                    retry,
                    error,
                } => {
                    last_error = error;
                    (outcome, retry)
                }
            };
            self.count(outcome);
            tracing::debug!(attempt, error = %last_error, "kraken rest attempt failed");
            match retry {
                // Throttling and edge errors slow every REST caller down, not only this one.
                Retry::Throttled => {
                    self.limiter.throttled();
                }
                Retry::Soon if attempt < self.max_attempts => {
                    let ceiling = RETRY_BASE
                        .saturating_mul(1 << (attempt - 1).min(8))
                        .min(RETRY_MAX);
                    let delay = ceiling.mul_f64(rand::random::<f64>());
                    if Instant::now() + delay >= deadline {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                }
                Retry::Soon => {}
            }
        }
        tracing::warn!(pairs = ?pairs, error = %last_error, "kraken rest call failed");
        GroupResult::Failed(FetchError::Unavailable(last_error))
    }

    /// One request of a group, timed, and what its answer means.
    async fn attempt(&self, url: &str, pairs: &[Pair], budget: Duration) -> Attempt {
        let sent_at = self.clock.now();
        let started = Instant::now();
        let answer = tokio::time::timeout(self.request_timeout.min(budget), self.get(url)).await;
        self.metrics
            .rest_duration
            .observe(started.elapsed().as_secs_f64());
        match answer {
            Err(_) => Attempt::again("timeout", Retry::Soon, "request timed out".into()),
            Ok(Err(e)) => Attempt::again("transport", Retry::Soon, format!("request failed: {e}")),
            Ok(Ok((status, _))) if status == 429 || status >= 500 => {
                Attempt::again("http_error", Retry::Throttled, format!("HTTP {status}"))
            }
            Ok(Ok((status, _))) if status != 200 => {
                self.count("http_error");
                let error = FetchError::Unavailable(format!("HTTP {status}"));
                Attempt::Final(GroupResult::Failed(error))
            }
            Ok(Ok((_, body))) => self.judge(&body, pairs, sent_at),
        }
    }

    /// What an HTTP 200 body says: prices, or one of Kraken's errors (inside the body).
    fn judge(&self, body: &[u8], pairs: &[Pair], sent_at: Timestamp) -> Attempt {
        let parsed = match parse_ticker(body, pairs) {
            Ok(parsed) => parsed,
            Err(e) => return Attempt::again("invalid", Retry::Soon, e.to_string()),
        };
        let kind = match parsed.error_kind() {
            None => {
                self.count("ok");
                self.limiter.succeeded();
                return Attempt::Final(GroupResult::Done(results(pairs, parsed, sent_at)));
            }
            Some(KrakenErrorKind::UnknownPair) => {
                self.count("unknown_pair");
                self.limiter.succeeded();
                return Attempt::Final(GroupResult::UnknownPair);
            }
            Some(KrakenErrorKind::Other) => {
                self.count("kraken_error");
                let error = FetchError::Refused(parsed.errors.join(", "));
                return Attempt::Final(GroupResult::Failed(error));
            }
            Some(kind) => kind,
        };
        let outcome = if kind == KrakenErrorKind::Throttled {
            "throttled"
        } else {
            "unavailable"
        };
        Attempt::again(outcome, Retry::Throttled, parsed.errors.join(", "))
    }

    /// Kraken's `Time` (whole seconds on its clock) and when we received it (our clock): one
    /// attempt, no retries; the caller holds a limiter slot.
    pub async fn time(&self) -> Option<(i64, Timestamp)> {
        let answer = tokio::time::timeout(self.request_timeout, self.get(&self.time_url)).await;
        let received = self.clock.now();
        match answer {
            Ok(Ok((200, body))) => parse_time(&body).map(|unixtime| (unixtime, received)),
            Ok(Ok((status, _))) => {
                tracing::debug!(status, "kraken Time refused");
                None
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "kraken Time failed");
                None
            }
            Err(_) => None,
        }
    }

    async fn get(&self, url: &str) -> reqwest::Result<(u16, bytes::Bytes)> {
        let response = self.http.get(url).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?))
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .rest_requests
            .with_label_values(&[outcome])
            .inc();
    }
}

/// What one attempt of a group request came to.
enum Attempt {
    /// The group's result: no further attempt.
    Final(GroupResult),
    /// Worth another attempt: counted under `outcome`, retried as `retry` says.
    Again {
        outcome: &'static str,
        retry: Retry,
        error: String,
    },
}

impl Attempt {
    fn again(outcome: &'static str, retry: Retry, error: String) -> Attempt {
        Attempt::Again {
            outcome,
            retry,
            error,
        }
    }
}

#[derive(Clone, Copy)]
enum Retry {
    /// Transport trouble: retry this call after a short jittered pause.
    Soon,
    /// Kraken or its edge pushed back: penalise every caller through the limiter.
    Throttled,
}

fn results(
    pairs: &[Pair],
    parsed: TickerBody,
    sent_at: Timestamp,
) -> Vec<(Pair, Result<Fetched, FetchError>)> {
    let mut out: Vec<_> = parsed
        .prices
        .into_iter()
        .map(|(p, price)| (p, Ok(Fetched { price, sent_at })))
        .collect();
    out.extend(
        parsed
            .bad_entries
            .into_iter()
            .map(|(p, why)| (p, Err(FetchError::Refused(why)))),
    );
    for &p in pairs {
        if !out.iter().any(|(q, _)| *q == p) {
            out.push((
                p,
                Err(FetchError::Refused("missing from Kraken's answer".into())),
            ));
        }
    }
    out
}
