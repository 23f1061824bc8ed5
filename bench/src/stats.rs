//! Percentiles of latency samples (nearest rank, in microseconds).

use serde_json::{Value, json};

/// Sorts `samples` and returns p50, p90, p99, p99.9 and max as a JSON object with `prefix`ed
/// keys (`p50_us`, …).
pub fn summary(samples: &mut [u64]) -> Value {
    samples.sort_unstable();
    json!({
        "n": samples.len(),
        "p50_us": percentile(samples, 50.0),
        "p90_us": percentile(samples, 90.0),
        "p99_us": percentile(samples, 99.0),
        "p999_us": percentile(samples, 99.9),
        "max_us": samples.last().copied().unwrap_or(0),
    })
}

/// The nearest-rank percentile of sorted samples (0 when there are none).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 99.9), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 99.0), 0);
    }
}
