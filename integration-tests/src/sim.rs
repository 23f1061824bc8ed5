//! Starting the Kraken simulator for a test (owned by the simulator work).
