//! The endpoints. Each handler is a small struct holding the shared state, so a request pays
//! no per-request state lookup.

mod health;
mod ltp;
mod refresh;

pub use self::health::{GetMetrics, Health, Ready};
pub use self::ltp::{GetCached, GetLtp};
pub use self::refresh::PostRefresh;
