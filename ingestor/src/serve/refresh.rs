//! Refresh and snapshot requests on `<prefix>.refresh.kraken`, answered in the queue group
//! `ltp-ingestor` so exactly one ingestor handles each (architecture.md, "Refresh and
//! snapshot").

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, HeaderMap, Message};
use common::Pair;
use common::control::{FailureCode, PairFailure, RefreshReply, RefreshRequest};
use common::pair::PairError;
use common::subject::INGESTOR_QUEUE_GROUP;
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::feed::Feed;
use crate::kraken::fetch::Fetcher;
use crate::kraken::rest::FetchError;
use crate::metrics::Metrics;

/// Requests handled at once; more wait in the subscription's buffer. A handler keeps its
/// place while it waits for the coalesced Kraken call (up to a second, the REST budget), so
/// this bounds the refreshes one call can answer: at 64, one ingestor answered about 60 a
/// second and queued the rest (docs/benchmarks.md, "The refresh stage"). A waiting handler is
/// a small future; 1,024 covers ten seconds at 100 refreshes a second.
const CONCURRENCY: usize = 1024;

/// What a request handler needs.
pub struct Responder {
    /// Replies are published on it.
    pub client: Client,
    pub subject: String,
    pub feed: Arc<Feed>,
    /// Coalesced REST fetches within the global budget.
    pub fetcher: Arc<Fetcher>,
    pub metrics: Metrics,
    /// Put in replies.
    pub instance: Arc<str>,
    /// Time to answer: the requester stops waiting after about `nats.request_timeout`.
    pub budget: Duration,
}

impl Responder {
    /// Serves requests until `shutdown`; handlers in flight finish (they are `tracker` tasks).
    pub async fn run(self: Arc<Self>, tracker: TaskTracker, shutdown: CancellationToken) {
        let mut sub = match self
            .client
            .queue_subscribe(self.subject.clone(), INGESTOR_QUEUE_GROUP.into())
            .await
        {
            Ok(sub) => sub,
            Err(e) => {
                tracing::error!(error = %e, "cannot subscribe to refresh requests");
                return;
            }
        };
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        loop {
            let msg = tokio::select! {
                msg = sub.next() => match msg { Some(m) => m, None => return },
                () = shutdown.cancelled() => break,
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let this = self.clone();
            // A child of the requester's span when its headers carry a `traceparent`.
            let span = tracing::info_span!(
                "refresh.handle",
                otel.kind = "server",
                trace_id = tracing::field::Empty
            );
            common::otel::adopt_nats(&span, msg.headers.as_ref());
            tracker.spawn(
                async move {
                    this.handle(msg).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
        // Stop taking requests: the queue group hands new ones to the other ingestors.
        let _ = sub.unsubscribe().await;
    }

    async fn handle(&self, msg: Message) {
        let Some(reply_to) = msg.reply.clone() else {
            return;
        };
        let (kind, reply) = match parse(&msg.payload) {
            Err(e) => (
                "invalid",
                self.reply(Vec::new(), vec![failure("", FailureCode::BadRequest, e)]),
            ),
            Ok(req) if req.snapshot => ("snapshot", self.snapshot().await),
            Ok(req) => ("refresh", self.refresh(&req.pairs).await),
        };
        let result = if reply.errors.is_empty() {
            "ok"
        } else {
            "partial"
        };
        self.metrics
            .refresh_requests
            .with_label_values(&[kind, result])
            .inc();
        let Ok(body) = serde_json::to_vec(&reply) else {
            return;
        };
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", common::message::CONTENT_TYPE_JSON);
        if let Err(e) = self
            .client
            .publish_with_headers(reply_to, headers, body.into())
            .await
        {
            tracing::warn!(error = %e, "refresh reply not sent");
        }
    }

    async fn snapshot(&self) -> RefreshReply {
        let prices = self.feed.snapshot().await;
        let errors = self
            .feed
            .pairs()
            .iter()
            .filter(|p| !prices.iter().any(|m| m.pair == **p))
            .map(|p| {
                failure(
                    p.as_str(),
                    FailureCode::KrakenUnavailable,
                    "no price yet".into(),
                )
            })
            .collect();
        self.reply(prices, errors)
    }

    async fn refresh(&self, requested: &[String]) -> RefreshReply {
        let mut errors = Vec::new();
        let mut pairs: Vec<Pair> = Vec::new();
        for input in requested {
            match Pair::parse(input) {
                Ok(p) if !self.feed.serves(p) => errors.push(failure(
                    input,
                    FailureCode::PairNotServed,
                    format!("pair not served by this ingestor: {p}"),
                )),
                Ok(p) => {
                    if !pairs.contains(&p) {
                        pairs.push(p);
                    }
                }
                Err(e @ (PairError::Format(_) | PairError::Unknown(_))) => {
                    errors.push(failure(input, FailureCode::InvalidPair, e.to_string()))
                }
            }
        }
        if requested.is_empty() {
            pairs = self.feed.pairs().to_vec();
        }
        let mut prices = Vec::new();
        if !pairs.is_empty() {
            let results = tokio::time::timeout(self.budget, self.fetcher.fetch(&pairs))
                .await
                .unwrap_or_else(|_| {
                    pairs
                        .iter()
                        .map(|&p| (p, Err(FetchError::Unavailable("timed out".into()))))
                        .collect()
                });
            for (pair, result) in results {
                match result {
                    Ok(fetched) => {
                        if let Some(msg) = self.feed.on_rest_price(pair, fetched, true).await {
                            prices.push(msg);
                        }
                    }
                    Err(FetchError::Refused(m)) => {
                        errors.push(failure(pair.as_str(), FailureCode::KrakenError, m))
                    }
                    Err(FetchError::Unavailable(m)) => {
                        errors.push(failure(pair.as_str(), FailureCode::KrakenUnavailable, m))
                    }
                }
            }
        }
        self.reply(prices, errors)
    }

    fn reply(
        &self,
        mut prices: Vec<common::PriceMessage>,
        errors: Vec<PairFailure>,
    ) -> RefreshReply {
        prices.sort_by_key(|m| m.pair);
        RefreshReply {
            prices,
            errors,
            ingestor: self.instance.to_string(),
        }
    }
}

/// An empty body means "every pair", like `{}`.
fn parse(payload: &[u8]) -> Result<RefreshRequest, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(RefreshRequest::default());
    }
    serde_json::from_slice(payload).map_err(|e| format!("invalid refresh request: {e}"))
}

fn failure(pair: &str, code: FailureCode, message: String) -> PairFailure {
    PairFailure {
        pair: pair.to_owned(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_leniently_but_reject_garbage() {
        assert_eq!(parse(b""), Ok(RefreshRequest::default()));
        assert_eq!(parse(b" \n"), Ok(RefreshRequest::default()));
        assert!(parse(br#"{"snapshot":true}"#).expect("snapshot").snapshot);
        assert_eq!(
            parse(br#"{"pairs":["BTC/USD"]}"#).expect("pairs").pairs,
            ["BTC/USD"]
        );
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"pairs":"BTC/USD"}"#).is_err());
    }
}
