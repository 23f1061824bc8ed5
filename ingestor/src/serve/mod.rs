//! What the ingestor answers: `admin` serves `/health`, `/ready` and `/metrics` over HTTP;
//! `refresh` answers refresh and snapshot requests over NATS.

pub mod admin;
pub mod refresh;
