//! The Kraken simulator (in progress).
