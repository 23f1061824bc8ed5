//! ingestor (work in progress).
