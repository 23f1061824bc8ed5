//! The NATS feed: one subscription per served pair's price subject; each message is decoded by
//! its `Content-Type` and offered to the cache, which keeps it only if it is not older than the
//! price held (so the feed can never make a price go backwards).

use std::sync::Arc;

use async_nats::{Client, Message, Subscriber};
use common::Subjects;
use common::message::{REPUBLISH_HEADER, decode};
use futures::StreamExt;
use futures::stream::select_all;
use tokio_util::sync::CancellationToken;

use crate::cache::{Board, Cache, Entry, Offer};
use crate::feed::FeedStatus;
use crate::metrics::Metrics;
use crate::params::Served;

/// Subscribes to every served pair's subject (before returning, so nothing published after
/// this call is missed once connected).
pub async fn subscribe(
    client: &Client,
    subjects: &Subjects,
    served: &Served,
) -> Result<Vec<Subscriber>, async_nats::SubscribeError> {
    let mut subscribers = Vec::with_capacity(served.pairs.len());
    for pair in &served.pairs {
        subscribers.push(client.subscribe(subjects.price(*pair).clone()).await?);
    }
    Ok(subscribers)
}

/// Feeds the cache and the board, and notes each price's ingestor in `feed`, until `token` is
/// cancelled.
pub async fn run(
    subscribers: Vec<Subscriber>,
    subjects: Subjects,
    cache: Cache,
    board: Board,
    feed: FeedStatus,
    metrics: Metrics,
    token: CancellationToken,
) {
    let mut messages = select_all(subscribers);
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            message = messages.next() => match message {
                Some(message) => handle(&message, &subjects, &cache, &board, &feed, &metrics),
                None => return,
            },
        }
    }
}

/// Decodes one message and offers it to the cache.
fn handle(
    message: &Message,
    subjects: &Subjects,
    cache: &Cache,
    board: &Board,
    feed: &FeedStatus,
    metrics: &Metrics,
) {
    let Some(pair) = subjects.pair_of(&message.subject) else {
        metrics.nats_message("invalid");
        return;
    };
    let headers = message.headers.as_ref();
    let content_type = headers
        .and_then(|h| h.get("Content-Type"))
        .map(|v| v.as_str());
    let msg = match decode(content_type, &message.payload) {
        Ok(msg) if msg.pair == pair => msg,
        Ok(msg) => {
            metrics.nats_message("invalid");
            tracing::warn!(subject = %message.subject, pair = %msg.pair, "price message for another pair; ignored");
            return;
        }
        Err(err) => {
            metrics.nats_message("invalid");
            tracing::warn!(subject = %message.subject, error = %err, "undecodable price message; ignored");
            return;
        }
    };
    feed.price(&msg);
    let published_at = msg.published_at;
    let republish = headers.is_some_and(|h| h.get(REPUBLISH_HEADER).is_some());
    if offer(cache, board, metrics, msg) == Offer::Accepted && !republish {
        metrics.published_to_cache(published_at);
    }
}

/// Offers a decoded price to the board (streams) and the cache, with metrics.
pub fn offer(cache: &Cache, board: &Board, metrics: &Metrics, msg: common::PriceMessage) -> Offer {
    let entry = Arc::new(Entry::new(msg));
    board.offer(entry.clone());
    let outcome = cache.offer(entry.clone());
    // Redis writes are counted by its writer, when they happen.
    if matches!(cache, Cache::Memory(_)) {
        let result = if outcome == Offer::Accepted {
            "success"
        } else {
            "stale"
        };
        metrics.cache_set(result, 1);
    }
    match outcome {
        Offer::Accepted => {
            metrics.nats_message("stored");
            let msg = entry.message();
            metrics.set_current_price(msg.pair, msg.price.as_str());
        }
        Offer::Stale => metrics.nats_message("stale"),
    }
    outcome
}
