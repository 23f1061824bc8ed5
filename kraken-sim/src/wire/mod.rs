//! What Kraken writes, byte for byte: the WS v2 frames (`frames`) and the timestamp formats
//! of both APIs ([`Stamp`]). REST bodies are serialised where they are answered (`serve::rest`).

mod clock;
mod frames;

pub use clock::{Clock, OffsetError, Stamp};
pub use frames::{AckResult, HEARTBEAT, Reply, TickerKind, status, write_ticker};
