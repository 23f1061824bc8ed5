//! Kraken's public market data, knowing nothing of NATS or of what the prices are for:
//!
//! - [`frame`]: WebSocket v2 frames, parsed without losing a digit; the subscribe and ping
//!   requests.
//! - `socket`: one WebSocket connection (connect, send, close).
//! - `backoff`: when to reconnect, within Cloudflare's connection budget.
//! - [`rest_body`]: REST `Ticker` answers.
//! - `rest`: the REST client (retries, unknown-pair isolation).
//! - `limiter`: the process-wide REST budget every request takes a slot from.
//! - `fetch`: polls and refreshes asking for the same pairs share one call.
//! - `offset`: a lower bound of Kraken's clock offset, from the stamps Kraken sends.
//!
//! `frame` and `rest_body` are public for the fuzz targets.

pub(crate) mod backoff;
pub(crate) mod fetch;
pub mod frame;
pub(crate) mod limiter;
pub(crate) mod offset;
pub(crate) mod rest;
pub mod rest_body;
pub(crate) mod socket;
