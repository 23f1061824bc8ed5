//! Streams: prices pushed to clients over SSE (`sse`) and WebSocket (`ws`), read from the
//! board (`cache::Board`), never from the cache backend.
//!
//! Inside, one way: `ws` → `sse` → `cursor` → `event_id`; `sse` → `progress` → `hub`.
//!
//! * `hub` — the open streams: caps, the shutdown token, a permit per stream.
//! * `cursor` — one client's position per pair: snapshot, changes, conflation, expiry.
//! * `event_id` — the resume id (SSE `id:`, WebSocket `since`), from the prices' own keys.
//! * `progress` — whether a client takes what is written; the stall watchdog.
//! * `sse` — one SSE client's body.
//! * `ws` — one WebSocket client's session.

pub mod cursor;
pub mod event_id;
pub mod hub;
pub mod progress;
pub mod sse;
pub mod ws;
