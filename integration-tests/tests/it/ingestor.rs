//! The ingestor against the Kraken simulator and a real NATS server (issue 3).
