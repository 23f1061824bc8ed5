//! End-to-end tests, compiled as one binary (one link, shared fixtures).

mod fixtures;
