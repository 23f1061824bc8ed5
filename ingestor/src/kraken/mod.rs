//! Kraken's public market data: WebSocket v2 frames and connection, REST `Ticker`.

pub mod backoff;
pub mod frame;
pub mod rest;
pub mod rest_body;
pub mod ws;
