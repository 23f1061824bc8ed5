//! A tiny deterministic random number generator (SplitMix64).
//!
//! Implemented here rather than taken from `rand` so that a seed gives the same price script
//! forever: `rand`'s `StdRng` explicitly reserves the right to change its algorithm between
//! releases, and reproducible scripts are the point of a seed.

/// SplitMix64: fast, statistically fine for a price walk, and fully specified.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for `seed` and a `stream` name, so every pair gets an independent sequence
    /// that does not depend on how trades of different pairs interleave.
    pub fn new(seed: u64, stream: &str) -> Rng {
        // FNV-1a of the stream name, mixed with the seed.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in stream.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = Rng {
            state: seed ^ hash.rotate_left(17),
        };
        // Discard one output so that nearby seeds do not start nearby.
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n == 0`); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi as i128 - lo as i128 + 1) as u64;
        (lo as i128 + i128::from(self.below(span))) as i64
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_give_the_same_sequence() {
        let mut a = Rng::new(1, "BTC/USD");
        let mut b = Rng::new(1, "BTC/USD");
        let mut c = Rng::new(2, "BTC/USD");
        let mut d = Rng::new(1, "ETH/USD");
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        let ws: Vec<u64> = (0..8).map(|_| d.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert_ne!(xs, ws);
    }

    #[test]
    fn range_stays_inside_its_bounds() {
        let mut rng = Rng::new(9, "x");
        for _ in 0..10_000 {
            let v = rng.range(-3, 3);
            assert!((-3..=3).contains(&v));
        }
        assert_eq!(rng.range(5, 5), 5);
        assert_eq!(rng.range(5, 1), 5);
        assert_eq!(rng.below(0), 0);
    }
}
