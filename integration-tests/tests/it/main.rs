//! End-to-end tests, compiled as one binary (one link, shared fixtures).

mod board;
mod docs;
mod fixtures;
mod ingestor;
mod query_api;
mod scenarios;
mod security;
mod stream_settings;
