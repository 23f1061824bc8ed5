//! One market's simulated state and its deterministic price script.
//!
//! Every trade moves the last price by a random number of ticks (a random walk bounded to
//! half and double the reference level), then updates best bid/offer and the 24 h statistics
//! the ticker reports. The walk is driven by a per-pair [`Rng`] seeded from the simulator seed
//! and the symbol, so a pair's price sequence depends on nothing else: not on timing, not on
//! which other pairs trade.

mod profile;
mod rng;

use common::Pair;

pub use self::profile::{LOT_DECIMALS, Profile, asset_id};
pub use self::rng::Rng;
use crate::decimal::{self, Decimal};

/// The ticker fields of one market after its latest trade.
#[derive(Debug, Clone)]
pub struct MarketState {
    /// The pair.
    pub pair: Pair,
    /// Precision and reference level.
    pub profile: Profile,
    /// Best bid (pair precision).
    pub bid: Decimal,
    /// Quantity at the best bid (8 decimals).
    pub bid_qty: Decimal,
    /// Best ask (pair precision).
    pub ask: Decimal,
    /// Quantity at the best ask (8 decimals).
    pub ask_qty: Decimal,
    /// Last traded price. Normally at pair precision; a price injected by a test keeps the
    /// exact text (and scale) it was given.
    pub last: Decimal,
    /// Whether `last` was injected (written as given rather than normalised).
    pub last_injected: bool,
    /// Volume of the last trade (8 decimals).
    pub last_qty: Decimal,
    /// 24 h volume in base units (8 decimals).
    pub volume: Decimal,
    /// 24 h volume-weighted average price (pair precision).
    pub vwap: Decimal,
    /// 24 h low.
    pub low: Decimal,
    /// 24 h high.
    pub high: Decimal,
    /// Price 24 h ago (the REST `o`).
    pub open: Decimal,
    /// Trades in the last 24 h.
    pub trades: u64,
    /// Trades simulated since start; orders updates for subscribers.
    pub seq: u64,
    /// The next trade's price, set by a test.
    pub pending: Option<Decimal>,
    rng: Rng,
}

impl MarketState {
    /// The initial state of `pair` under `seed`: a price within ±5 % of the reference level
    /// and plausible 24 h statistics.
    pub fn new(pair: Pair, seed: u64) -> MarketState {
        let profile = Profile::of(pair.market());
        let mut rng = Rng::new(seed, pair.as_str());
        let scale = profile.pair_decimals();
        let reference = profile.reference_ticks();
        let jitter = |rng: &mut Rng, per_mille: i64| {
            let span = (reference / 1000 * per_mille).max(1);
            (reference + rng.range(-span, span)).max(1)
        };
        let last = jitter(&mut rng, 50);
        let open = jitter(&mut rng, 50);
        let high = last.max(open) + rng.range(0, (reference / 100).max(1));
        let low = (last.min(open) - rng.range(0, (reference / 100).max(1))).max(1);
        let vwap = rng.range(low, high);
        let notional = rng.range(1_000_000, 50_000_000);
        let trades = rng.range(1_000, 150_000) as u64;
        let mut state = MarketState {
            pair,
            profile,
            bid: Decimal::new(last, scale),
            bid_qty: Decimal::new(1, LOT_DECIMALS),
            ask: Decimal::new(last, scale),
            ask_qty: Decimal::new(1, LOT_DECIMALS),
            last: Decimal::new(last, scale),
            last_injected: false,
            last_qty: Decimal::new(1, LOT_DECIMALS),
            volume: Decimal::new(0, LOT_DECIMALS),
            vwap: Decimal::new(vwap, scale),
            low: Decimal::new(low, scale),
            high: Decimal::new(high, scale),
            open: Decimal::new(open, scale),
            trades,
            seq: 0,
            pending: None,
            rng,
        };
        state.volume = state.quantity_for(notional);
        state.last_qty = state.random_quantity();
        state.quote_around(last);
        state
    }

    /// Simulates one trade: at `price` if given, else at the pending injected price, else at
    /// the next step of the walk.
    pub fn trade(&mut self, price: Option<Decimal>) {
        let scale = self.profile.pair_decimals();
        let injected = price.or(self.pending.take());
        let walk_units = match injected {
            Some(p) => {
                self.last = p;
                self.last_injected = true;
                decimal::ticks(p, scale).unwrap_or(1).max(1)
            }
            None => {
                let units = self.step();
                self.last = Decimal::new(units, scale);
                self.last_injected = false;
                units
            }
        };
        self.last_qty = self.random_quantity();
        self.quote_around(walk_units);
        let volume = lots(self.volume).saturating_add(lots(self.last_qty));
        self.volume = Decimal::new(volume, LOT_DECIMALS);
        // A slow moving average stands in for the 24 h VWAP.
        let vwap = (i128::from(lots_at(self.vwap, scale)) * 49 + i128::from(walk_units)) / 50;
        self.vwap = Decimal::new(i64::try_from(vwap).unwrap_or(walk_units), scale);
        if self.last < self.low {
            self.low = self.last;
        }
        if self.last > self.high {
            self.high = self.last;
        }
        self.trades += 1;
        self.seq += 1;
    }

    /// 24 h change in quote units, at the precision of `last`.
    pub fn change(&self) -> Decimal {
        let scale = self.last.scale().max(self.open.scale());
        self.last
            .checked_sub(self.open)
            .unwrap_or_else(|| Decimal::new(0, scale))
    }

    /// 24 h change in percentage points, two decimals.
    pub fn change_pct(&self) -> Decimal {
        let change = self.change();
        let open = decimal::ticks(self.open, change.scale()).unwrap_or(0);
        if open == 0 {
            return Decimal::new(0, 2);
        }
        // Truncated, not rounded, as an integer division of ticks.
        let pct = change.mantissa() * 10_000 / i128::from(open);
        Decimal::new(i64::try_from(pct).unwrap_or(0), 2)
    }

    /// The next walk price in pair units: a uniform step of up to ~2 basis points (at least one
    /// tick), reflected back inside `[reference/2, reference*2]`.
    fn step(&mut self) -> i64 {
        let scale = self.profile.pair_decimals();
        let current = decimal::ticks(self.last, scale).unwrap_or(1).max(1);
        let max_step = (current / 5000).max(1);
        let mut next = current + self.rng.range(-max_step, max_step);
        let reference = self.profile.reference_ticks();
        let (floor, ceiling) = ((reference / 2).max(1), reference.saturating_mul(2));
        if next < floor {
            next = floor + (floor - next);
        }
        if next > ceiling {
            next = ceiling - (next - ceiling);
        }
        next.max(1)
    }

    /// Best bid/offer around a trade at `units`: the trade hit one side, the other side is one
    /// to three ticks away.
    fn quote_around(&mut self, units: i64) {
        let scale = self.profile.pair_decimals();
        let spread = self.rng.range(1, 3);
        let (bid, ask) = if self.rng.chance(1, 2) {
            (units, units + spread)
        } else {
            ((units - spread).max(1), units)
        };
        self.bid = Decimal::new(bid, scale);
        self.ask = Decimal::new(ask.max(bid), scale);
        self.bid_qty = self.random_quantity();
        self.ask_qty = self.random_quantity();
    }

    /// A trade-sized quantity: 10 to 20 000 quote units worth of base.
    fn random_quantity(&mut self) -> Decimal {
        let notional = self.rng.range(10, 20_000);
        self.quantity_for(notional)
    }

    /// `notional` quote units expressed in base units at the current level, 8 decimals.
    fn quantity_for(&self, notional: i64) -> Decimal {
        let scale = self.profile.pair_decimals();
        let price = i128::from(decimal::ticks(self.last, scale).unwrap_or(1).max(1));
        let numerator = i128::from(notional) * 10i128.pow(LOT_DECIMALS + scale);
        // Tiny prices (SHIB) would overflow 64 bits; cap far above anything plausible.
        let units = (numerator / price).clamp(1, i128::from(i64::MAX / 1024));
        Decimal::new(i64::try_from(units).unwrap_or(1), LOT_DECIMALS)
    }
}

/// A quantity in lots of `10^-LOT_DECIMALS` (its scale is always [`LOT_DECIMALS`]).
fn lots(qty: Decimal) -> i64 {
    lots_at(qty, LOT_DECIMALS)
}

/// `d` in ticks of `10^-scale`, 0 when out of range.
fn lots_at(d: Decimal, scale: u32) -> i64 {
    decimal::ticks(d, scale).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(s: &str) -> Pair {
        Pair::parse(s).expect(s)
    }

    #[test]
    fn the_script_is_a_function_of_seed_and_pair() {
        let run = |seed| {
            let mut m = MarketState::new(pair("BTC/USD"), seed);
            (0..100)
                .map(|_| {
                    m.trade(None);
                    m.last.to_string()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn prices_stay_positive_on_the_tick_grid_and_inside_the_book() {
        for p in Pair::all() {
            let mut m = MarketState::new(p, 3);
            let scale = m.profile.pair_decimals();
            for _ in 0..2_000 {
                m.trade(None);
                assert!(m.last > Decimal::ZERO, "{p}");
                assert_eq!(m.last.scale(), scale, "{p}");
                assert!(m.bid <= m.last, "{p}");
                assert!(m.ask >= m.last, "{p}");
                assert!(m.low <= m.last, "{p}");
                assert!(m.high >= m.last, "{p}");
                assert!(m.bid_qty > Decimal::ZERO && m.volume > Decimal::ZERO, "{p}");
            }
        }
    }

    #[test]
    fn magnitudes_are_realistic() {
        let btc = MarketState::new(pair("BTC/USD"), 1);
        let units = btc.last.mantissa();
        assert!((570_000..=630_000).contains(&units), "{}", btc.last);
        let doge = MarketState::new(pair("DOGE/USD"), 1);
        assert_eq!(doge.last.scale(), 7);
        assert!(
            doge.last.to_string().starts_with("0.0") || doge.last.to_string().starts_with("0.1")
        );
    }

    #[test]
    fn an_injected_price_is_kept_verbatim_and_the_walk_continues_from_it() {
        let mut m = MarketState::new(pair("BTC/USD"), 1);
        m.pending = Some(decimal::parse("65000.10").expect("price"));
        m.trade(None);
        assert_eq!(m.last.to_string(), "65000.10");
        assert!(m.last_injected);
        m.trade(None);
        assert!(!m.last_injected);
        let diff = (m.last.mantissa() - 650_001).abs();
        assert!(diff <= 650_001 / 5000 + 1, "walked from {}", m.last);
        assert!(m.pending.is_none());
    }

    #[test]
    fn change_and_percentage_follow_last_and_open() {
        let mut m = MarketState::new(pair("ETH/USD"), 1);
        m.open = decimal::parse("3000.00").expect("open");
        m.trade(Some(decimal::parse("2970.00").expect("last")));
        assert_eq!(m.change().normalize().to_string(), "-30");
        assert_eq!(m.change_pct().normalize().to_string(), "-1");
        m.trade(Some(decimal::parse("3001.5").expect("last")));
        assert_eq!(m.change().to_string(), "1.50");
        assert_eq!(m.change_pct().to_string(), "0.05");
    }
}
