//! The running exchange: the state every task shares (`state`: markets, fault switches,
//! counters, the channel that carries ticker updates to the sockets), the trade engine
//! (`engine`), and [`Control`], the in-process handle for faults, price scripting and counters.

mod control;
pub(crate) mod engine;
pub(crate) mod state;

pub use control::{Control, ControlError, TradeReport};
