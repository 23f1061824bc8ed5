//! The tasks that bring prices in and hand them to the feed: the WebSocket source (`socket`,
//! the primary) and REST polling of the pairs in fallback (`poller`).

pub mod poller;
pub mod socket;
