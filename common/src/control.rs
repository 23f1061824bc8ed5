//! Control messages (always JSON): refresh requests and replies on `<prefix>.refresh.kraken`,
//! feed status events on `<prefix>.status.kraken`.

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::message::PriceMessage;
use crate::pair::Pair;

/// A request to the ingestors, answered by exactly one of them (queue group).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshRequest {
    /// Pairs to fetch from Kraken right now (`BASE/QUOTE`); empty means every pair served.
    #[serde(default)]
    pub pairs: Vec<String>,
    /// When true, fetch nothing: reply with the latest known price of every pair (warm-up of a
    /// replica when the server has no JetStream).
    #[serde(default)]
    pub snapshot: bool,
}

/// The answer to a [`RefreshRequest`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshReply {
    /// The prices obtained (also published on their price subjects).
    #[serde(default)]
    pub prices: Vec<PriceMessage>,
    /// Pairs that could not be refreshed, and why.
    #[serde(default)]
    pub errors: Vec<PairFailure>,
    /// Id of the ingestor that answered.
    #[serde(default)]
    pub ingestor: String,
}

/// Why one pair of a refresh failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairFailure {
    /// The pair as requested.
    pub pair: String,
    /// Machine-readable, for a client to branch on.
    pub code: FailureCode,
    /// Human-readable detail.
    pub message: String,
}

/// Closed set of refresh failure kinds; the query-api maps them to HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureCode {
    /// Not `BASE/QUOTE`, or not a pair the table knows.
    InvalidPair,
    /// A valid pair that this ingestor is not configured to serve.
    PairNotServed,
    /// Kraken answered with an error for this pair (e.g. `EQuery:Unknown asset pair`).
    KrakenError,
    /// Kraken could not be reached, throttled us, or is in maintenance.
    KrakenUnavailable,
    /// The request was malformed.
    BadRequest,
}

/// A change in the ingestor's feed, published on the status subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// Schema version (1).
    pub v: u8,
    /// Id of the ingestor instance.
    pub ingestor: Arc<str>,
    /// When the ingestor noticed the change.
    pub at: Timestamp,
    /// The kind of change.
    pub event: FeedEvent,
    /// The pair concerned, for per-pair events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<Pair>,
    /// Detail (an error text, a close reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Kinds of [`StatusEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedEvent {
    /// The WebSocket connected and the subscription was sent.
    Connected,
    /// The WebSocket was lost or declared stalled.
    Disconnected,
    /// A pair is now polled over REST.
    FallbackOn,
    /// A pair is back on the WebSocket; REST polling stopped for it.
    FallbackOff,
    /// Kraken rejected the subscription of a pair.
    SubscriptionRejected,
    /// No source can confirm the pair's price: it is no longer re-published and will expire.
    Unavailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_request_defaults_and_wire_form() {
        let req: RefreshRequest = serde_json::from_str("{}").expect("empty object");
        assert_eq!(req, RefreshRequest::default());
        let req: RefreshRequest =
            serde_json::from_str(r#"{"pairs":["BTC/USD","eth/usd"]}"#).expect("pairs");
        assert_eq!(req.pairs, ["BTC/USD", "eth/usd"]);
        let failure = PairFailure {
            pair: "DOGE/MOON".into(),
            code: FailureCode::InvalidPair,
            message: "unknown pair".into(),
        };
        assert_eq!(
            serde_json::to_string(&failure).expect("json"),
            r#"{"pair":"DOGE/MOON","code":"INVALID_PAIR","message":"unknown pair"}"#
        );
    }

    #[test]
    fn status_event_wire_form() {
        let event = StatusEvent {
            v: 1,
            ingestor: Arc::from("i-1"),
            at: "2026-01-01T00:00:00Z".parse().expect("ts"),
            event: FeedEvent::FallbackOn,
            pair: Pair::parse("BTC/USD").ok(),
            reason: Some("socket stalled".into()),
        };
        assert_eq!(
            serde_json::to_string(&event).expect("json"),
            r#"{"v":1,"ingestor":"i-1","at":"2026-01-01T00:00:00Z","event":"fallback_on","pair":"BTC/USD","reason":"socket stalled"}"#
        );
    }
}
