//! Asking an ingestor for fresh prices (refresh) or for everything it knows (snapshot), over
//! NATS request-reply on `<prefix>.refresh.kraken` (architecture.md, "Refresh and snapshot").

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, RequestErrorKind};
use common::control::{RefreshReply, RefreshRequest};

/// Why no reply came back.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// NATS answered "no responders": no ingestor is running.
    #[error("no ingestor is running")]
    NoResponders,
    /// An ingestor is subscribed but did not answer within `nats.request_timeout`.
    #[error("the ingestor did not answer in time")]
    TimedOut,
    /// Not connected to NATS, or the request could not be sent.
    #[error("nats unavailable")]
    Nats(#[source] Option<async_nats::RequestError>),
    /// The reply is not a refresh reply.
    #[error("invalid reply from the ingestor")]
    BadReply(#[source] serde_json::Error),
}

/// A function answering refresh requests in place of NATS.
pub type ScriptedFn = dyn Fn(RefreshRequest) -> Result<RefreshReply, RefreshError> + Send + Sync;

/// Where refresh requests go.
#[derive(Clone)]
pub enum Refresher {
    /// A NATS request to the ingestors' queue group.
    Nats {
        /// The connection.
        client: Client,
        /// `<prefix>.refresh.kraken`.
        subject: String,
        /// How long to wait for the answer.
        timeout: Duration,
    },
    /// Answers computed in process: for handler tests and embedding without NATS.
    Scripted(Arc<ScriptedFn>),
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refresher::Nats { subject, .. } => write!(f, "Refresher::Nats({subject})"),
            Refresher::Scripted(_) => f.write_str("Refresher::Scripted"),
        }
    }
}

impl Refresher {
    /// Answers every request with `answer`.
    pub fn scripted(
        answer: impl Fn(RefreshRequest) -> Result<RefreshReply, RefreshError> + Send + Sync + 'static,
    ) -> Refresher {
        Refresher::Scripted(Arc::new(answer))
    }

    /// The request timeout (for messages).
    pub fn timeout(&self) -> Duration {
        match self {
            Refresher::Nats { timeout, .. } => *timeout,
            Refresher::Scripted(_) => Duration::ZERO,
        }
    }

    /// Sends `request` and waits for one ingestor's reply.
    pub async fn request(&self, request: &RefreshRequest) -> Result<RefreshReply, RefreshError> {
        match self {
            Refresher::Scripted(answer) => answer(request.clone()),
            Refresher::Nats {
                client,
                subject,
                timeout,
            } => {
                // While disconnected a request would sit in the client's buffer until the
                // timeout; say at once that NATS is the problem instead.
                if client.connection_state() != State::Connected {
                    return Err(RefreshError::Nats(None));
                }
                let payload = serde_json::to_vec(request).map_err(RefreshError::BadReply)?;
                let sent = async_nats::Request::new()
                    .payload(payload.into())
                    .timeout(Some(*timeout));
                let reply = client
                    .send_request(subject.clone(), sent)
                    .await
                    .map_err(|err| match err.kind() {
                        RequestErrorKind::NoResponders => RefreshError::NoResponders,
                        RequestErrorKind::TimedOut => RefreshError::TimedOut,
                        _ => RefreshError::Nats(Some(err)),
                    })?;
                serde_json::from_slice(&reply.payload).map_err(RefreshError::BadReply)
            }
        }
    }
}
