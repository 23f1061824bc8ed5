//! kraken-sim (work in progress).
