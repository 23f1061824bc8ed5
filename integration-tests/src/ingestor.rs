//! Starting the real ingestor in-process for a test (owned by the ingestor work).
