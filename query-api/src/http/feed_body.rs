//! The body of `GET /api/v1/status`: the feed as this replica last heard of it, built from
//! [`FeedStatus`](crate::feed::FeedStatus).

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use salvo::oapi::ToSchema;
use serde::{Deserialize, Serialize};

use crate::feed::{Ingestor, Socket};

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "StatusBody"))]
pub struct StatusBody {
    /// Server time (RFC 3339).
    #[salvo(schema(format = DateTime))]
    pub timestamp: String,
    /// The pairs this deployment serves (`business.supported_pairs`), sorted.
    pub pairs: Vec<String>,
    /// `cache.ttl` in milliseconds: a price older than this is never served.
    pub ttl_ms: u64,
    /// Whether this replica is connected to NATS.
    pub nats_connected: bool,
    /// Whether an ingestor was heard of (a status event or a price) within the TTL.
    pub ingestor_present: bool,
    /// When an ingestor was last heard of; absent when never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[salvo(schema(format = DateTime))]
    pub ingestor_last_seen: Option<String>,
    /// `connected` when a present ingestor's socket is connected, else `disconnected`, or
    /// `unknown` when nothing says either.
    #[salvo(schema(example = "connected"))]
    pub socket: String,
    /// Pairs a present ingestor polls over REST, sorted.
    pub fallback_pairs: Vec<String>,
    /// Pairs a present ingestor reported unavailable (no source confirms them), sorted.
    pub unavailable_pairs: Vec<String>,
    /// Every ingestor heard of recently, most recently seen first.
    pub ingestors: Vec<IngestorStatus>,
}

/// One ingestor as `GET /api/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "IngestorStatus"))]
pub struct IngestorStatus {
    /// Its instance id.
    pub id: String,
    /// Heard of within the TTL.
    pub present: bool,
    /// When it was last heard of.
    #[salvo(schema(format = DateTime))]
    pub last_seen: String,
    /// Milliseconds since then.
    pub age_ms: u64,
    /// `connected`, `disconnected` or `unknown`.
    pub socket: String,
    /// Why the socket is down, when it is and the ingestor said why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_reason: Option<String>,
    /// Pairs it polls over REST.
    pub fallback_pairs: Vec<String>,
    /// Pairs whose subscription Kraken rejected.
    pub rejected_pairs: Vec<String>,
    /// Pairs no source confirms.
    pub unavailable_pairs: Vec<String>,
    /// The last status event it published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<LastEvent>,
}

/// A status event as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[salvo(schema(name = "LastEvent"))]
pub struct LastEvent {
    /// `connected`, `disconnected`, `fallback_on`, `fallback_off`, `subscription_rejected` or
    /// `unavailable`.
    pub event: String,
    /// When the ingestor noticed it.
    #[salvo(schema(format = DateTime))]
    pub at: String,
    /// Its detail, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the status body is made from.
pub struct FeedView<'a> {
    /// Server time.
    pub now: Timestamp,
    /// `cache.ttl`.
    pub ttl: SignedDuration,
    /// The served pairs.
    pub pairs: &'a [common::Pair],
    /// NATS connection.
    pub nats_connected: bool,
    /// [`FeedStatus::snapshot`](crate::feed::FeedStatus::snapshot).
    pub ingestors: Vec<(Arc<str>, Ingestor)>,
}

impl StatusBody {
    /// The body for `view`.
    pub fn new(view: FeedView<'_>) -> StatusBody {
        let ingestors: Vec<IngestorStatus> = view
            .ingestors
            .iter()
            .map(|(id, i)| IngestorStatus::new(id, i, view.now, view.ttl))
            .collect();
        let present: Vec<&IngestorStatus> = ingestors.iter().filter(|i| i.present).collect();
        let socket = if present.iter().any(|i| i.socket == "connected") {
            Socket::Connected
        } else if present.iter().any(|i| i.socket == "disconnected") {
            Socket::Disconnected
        } else {
            Socket::Unknown
        };
        let union = |pick: fn(&IngestorStatus) -> &Vec<String>| {
            let mut all: Vec<String> = present.iter().flat_map(|i| pick(i).clone()).collect();
            all.sort();
            all.dedup();
            all
        };
        let mut pairs: Vec<String> = view.pairs.iter().map(|p| p.as_str().to_owned()).collect();
        pairs.sort();
        StatusBody {
            timestamp: view.now.to_string(),
            pairs,
            ttl_ms: u64::try_from(view.ttl.as_millis()).unwrap_or(u64::MAX),
            nats_connected: view.nats_connected,
            ingestor_present: !present.is_empty(),
            ingestor_last_seen: ingestors.first().map(|i| i.last_seen.clone()),
            socket: socket.as_str().to_owned(),
            fallback_pairs: union(|i| &i.fallback_pairs),
            unavailable_pairs: union(|i| &i.unavailable_pairs),
            ingestors,
        }
    }
}

impl IngestorStatus {
    fn new(id: &str, i: &Ingestor, now: Timestamp, ttl: SignedDuration) -> IngestorStatus {
        let age = now.duration_since(i.last_seen);
        let names = |set: &std::collections::BTreeSet<common::Pair>| {
            set.iter().map(|p| p.as_str().to_owned()).collect()
        };
        IngestorStatus {
            id: id.to_owned(),
            present: age <= ttl,
            last_seen: i.last_seen.to_string(),
            age_ms: u64::try_from(age.as_millis()).unwrap_or(0),
            socket: i.socket.as_str().to_owned(),
            socket_reason: i.socket_reason.clone(),
            fallback_pairs: names(&i.fallback),
            rejected_pairs: names(&i.rejected),
            unavailable_pairs: names(&i.unavailable),
            last_event: i.last_event.as_ref().map(|(event, at, reason)| LastEvent {
                event: serde_json::to_value(event)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                at: at.to_string(),
                reason: reason.clone(),
            }),
        }
    }
}
