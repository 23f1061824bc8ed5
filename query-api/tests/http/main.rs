//! In-process HTTP tests of query-api: the real router and middleware with the memory cache
//! and a scripted refresher; no sockets, no sleeps.

mod board;
mod compression;
mod conditional;
mod freshness;
mod ltp;
mod middleware;
mod ops;
mod refresh;
mod registry;
mod stream;
mod support;
