//! query-api (work in progress).
