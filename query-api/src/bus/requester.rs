//! Asking an ingestor for fresh prices (refresh) or for everything it knows (snapshot), over
//! NATS request-reply on `<prefix>.refresh.kraken` (docs/architecture.md, "Refresh and
//! snapshot"). The HTTP endpoint that answers clients' refreshes is `http/handlers/refresh.rs`.

use std::fmt;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, RequestErrorKind};
use common::control::{RefreshReply, RefreshRequest};
use tracing::Instrument;

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
    /// The request could not be encoded (a bug here, not the ingestor's fault).
    #[error("the refresh request could not be encoded")]
    Encode(#[source] serde_json::Error),
    /// The reply is not a refresh reply.
    #[error("invalid reply from the ingestor")]
    BadReply(#[source] serde_json::Error),
}

impl RefreshError {
    /// The `result` label of `btc_ltp_price_refreshes_total`.
    pub fn label(&self) -> &'static str {
        match self {
            RefreshError::NoResponders => "no_ingestor",
            RefreshError::TimedOut => "timeout",
            RefreshError::Nats(_) => "nats_error",
            RefreshError::Encode(_) => "encode_error",
            RefreshError::BadReply(_) => "bad_reply",
        }
    }
}

/// A function answering refresh requests in place of an ingestor (see `bus/scripted.rs`).
#[cfg(feature = "scripted-refresher")]
pub type ScriptedFn = dyn Fn(RefreshRequest) -> Result<RefreshReply, RefreshError> + Send + Sync;

/// Where refresh requests go.
#[derive(Clone)]
pub enum Refresher {
    /// A NATS request to the ingestors' queue group.
    Nats {
        /// Shared with the consumer and the warm-up.
        client: Client,
        /// `<prefix>.refresh.kraken`.
        subject: String,
        /// How long to wait for the answer (`nats.request_timeout`).
        timeout: Duration,
    },
    /// Answers computed in process, for query-api's own HTTP tests: compiled only with the
    /// `scripted-refresher` feature, which only query-api's dev-dependency on itself enables.
    #[cfg(feature = "scripted-refresher")]
    Scripted(std::sync::Arc<ScriptedFn>),
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refresher::Nats { subject, .. } => write!(f, "Refresher::Nats({subject})"),
            #[cfg(feature = "scripted-refresher")]
            Refresher::Scripted(_) => f.write_str("Refresher::Scripted"),
        }
    }
}

impl Refresher {
    /// Sends `request` and waits for one ingestor's reply.
    pub async fn request(&self, request: &RefreshRequest) -> Result<RefreshReply, RefreshError> {
        match self {
            #[cfg(feature = "scripted-refresher")]
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
                let payload = serde_json::to_vec(request).map_err(RefreshError::Encode)?;
                // The ingestor's handling becomes a child of this span (`traceparent` header).
                let span = tracing::info_span!(
                    "nats.request",
                    otel.kind = "client",
                    subject = %subject,
                    trace_id = tracing::field::Empty
                );
                common::otel::tag(&span);
                let mut headers = async_nats::HeaderMap::new();
                common::otel::inject_nats(&span, &mut headers);
                let sent = async_nats::Request::new()
                    .payload(payload.into())
                    .headers(headers)
                    .timeout(Some(*timeout));
                let reply = client
                    .send_request(subject.clone(), sent)
                    .instrument(span)
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
