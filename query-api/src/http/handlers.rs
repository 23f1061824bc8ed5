//! The endpoints. Each handler is a small struct holding the shared state, so a request pays
//! no per-request state lookup.

mod board;
mod ltp;
mod ops;
mod pairs;
mod query;
mod refresh;
mod status;
mod stream;
mod ws;

pub use self::board::{BoardAsset, BoardPage};
pub use self::ltp::{GetCached, GetLtp};
pub use self::ops::{GetMetrics, Health, Ready};
pub use self::pairs::GetPairs;
pub use self::refresh::PostRefresh;
pub use self::status::GetStatus;
pub use self::stream::GetStream;
pub use self::ws::GetWs;
