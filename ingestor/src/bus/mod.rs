//! NATS as the ingestor uses it, knowing nothing of Kraken: price messages go out through the
//! [`Publisher`] while the [`Gate`] is open; [`watch`] opens the gate after every (re)connect
//! (once the last-value stream is ensured) and closes it on a disconnect; status events are
//! queued by a [`StatusSender`] and published by [`status::run`].
//!
//! - `publisher`: the gate and one publish per price message, held while NATS is away.
//! - `stream`: the JetStream last-value stream.
//! - `watch`: the connection watcher.
//! - `status`: the status-event queue and its publishing task.

mod publisher;
pub mod status;
mod stream;
mod watch;

pub use publisher::{Gate, Publisher, Sent};
pub use status::StatusSender;
pub use watch::watch;
