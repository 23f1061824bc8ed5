//! query-api against real NATS and Redis (issue 4).
