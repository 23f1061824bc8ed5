//! A refresher that answers in process, for query-api's in-process HTTP tests (no NATS there).
//! Compiled only with the `scripted-refresher` feature: query-api's dev-dependency on itself
//! turns it on for its tests, so no release build carries it.

use std::sync::Arc;

use common::control::{RefreshReply, RefreshRequest};

use super::requester::{RefreshError, Refresher};

impl Refresher {
    /// Answers every request with `answer`.
    pub fn scripted(
        answer: impl Fn(RefreshRequest) -> Result<RefreshReply, RefreshError> + Send + Sync + 'static,
    ) -> Refresher {
        Refresher::Scripted(Arc::new(answer))
    }
}
