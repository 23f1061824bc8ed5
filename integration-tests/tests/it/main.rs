//! End-to-end tests, compiled as one binary (one link, shared fixtures).

mod fixtures;
mod ingestor;
mod query_api;
