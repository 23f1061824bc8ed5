//! The REST API: the router, the handlers, the middleware, and the one place that decides
//! statuses ([`status`]). Reads prices from the cache and sends refreshes through the bus.
//!
//! Inside, one way too: `router` → `handlers`, `middleware`, `openapi` → `ltp_body`, `etag`,
//! `status` → `bodies`, `state`, `request_id`.

pub mod bodies;
mod etag;
mod feed_body;
mod handlers;
mod ltp_body;
mod middleware;
mod openapi;
mod request_id;
mod router;
mod state;
mod status;
mod stream;

pub use self::middleware::read_buffer;
pub use self::router::router;
pub use self::state::{AppState, State};
pub use self::status::ApiError;
