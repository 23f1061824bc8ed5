//! The ingestors' status events (`<prefix>.status.kraken`, JSON), kept in [`FeedStatus`] for
//! `GET /api/v1/status` and the board.

use async_nats::{Client, Subscriber};
use common::control::StatusEvent;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::feed::FeedStatus;

/// Subscribes to `subject` (before returning, like the price subscriptions).
pub async fn subscribe(
    client: &Client,
    subject: String,
) -> Result<Subscriber, async_nats::SubscribeError> {
    client.subscribe(subject).await
}

/// Applies every event to `feed` until `token` is cancelled.
pub async fn run(mut subscriber: Subscriber, feed: FeedStatus, token: CancellationToken) {
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            message = subscriber.next() => match message {
                Some(message) => match serde_json::from_slice::<StatusEvent>(&message.payload) {
                    Ok(event) => feed.event(&event),
                    Err(err) => tracing::warn!(subject = %message.subject, error = %err, "undecodable status event; ignored"),
                },
                None => return,
            },
        }
    }
}
