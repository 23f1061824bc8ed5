//! Starting the real query-api in-process for a test (owned by the query-api work).
