//! Per-market constants the exchange would know: a realistic price level and its precision
//! (`pair_decimals`, hence the tick size), and the legacy asset ids AssetPairs reports.
//!
//! The reference price's text fixes the precision: `"60000.0"` means BTC/USD trades in ticks
//! of 0.1, `"0.1000000"` means DOGE/USD has 7 decimals. Magnitudes are round, plausible
//! levels; nothing here pretends to be live data.

use common::markets::Market;

use crate::decimal::{self, Decimal};

/// Reference price per WS v2 symbol; its scale is the pair's `pair_decimals`.
const REFERENCE_PRICES: &[(&str, &str)] = &[
    ("AAVE/USD", "150.00"),
    ("ADA/BTC", "0.00000650"),
    ("ADA/EUR", "0.350000"),
    ("ADA/USD", "0.380000"),
    ("ALGO/USD", "0.10035"),
    ("ATOM/EUR", "4.2000"),
    ("ATOM/USD", "4.5000"),
    ("AVAX/EUR", "20.00"),
    ("AVAX/USD", "22.00"),
    ("BCH/EUR", "400.00"),
    ("BCH/USD", "430.00"),
    ("BTC/CAD", "82000.0"),
    ("BTC/CHF", "53000.0"),
    ("BTC/EUR", "55000.0"),
    ("BTC/GBP", "47000.0"),
    ("BTC/JPY", "9000000"),
    ("BTC/USD", "60000.0"),
    ("BTC/USDT", "60000.0"),
    ("DOGE/BTC", "0.00000165"),
    ("DOGE/EUR", "0.0930000"),
    ("DOGE/USD", "0.1000000"),
    ("DOT/EUR", "3.9000"),
    ("DOT/USD", "4.2000"),
    ("ETC/USD", "18.000"),
    ("ETH/BTC", "0.05000"),
    ("ETH/CAD", "4100.00"),
    ("ETH/CHF", "2650.00"),
    ("ETH/EUR", "2750.00"),
    ("ETH/GBP", "2350.00"),
    ("ETH/JPY", "450000"),
    ("ETH/USD", "3000.00"),
    ("ETH/USDT", "3000.00"),
    ("EUR/USD", "1.08000"),
    ("FIL/USD", "3.500"),
    ("GBP/USD", "1.27000"),
    ("LINK/EUR", "12.00000"),
    ("LINK/USD", "13.00000"),
    ("LTC/BTC", "0.001200"),
    ("LTC/EUR", "75.00"),
    ("LTC/USD", "80.00"),
    ("NEAR/USD", "4.000"),
    ("POL/USD", "0.2500"),
    ("SHIB/USD", "0.000015000"),
    ("SOL/BTC", "0.0025000"),
    ("SOL/EUR", "140.00"),
    ("SOL/USD", "150.00"),
    ("TRX/USD", "0.250000"),
    ("UNI/EUR", "7.000"),
    ("UNI/USD", "7.500"),
    ("USD/CAD", "1.36000"),
    ("USD/CHF", "0.88000"),
    ("USD/JPY", "150.000"),
    ("USDC/EUR", "0.9200"),
    ("USDC/USD", "1.0000"),
    ("USDT/EUR", "0.9200"),
    ("USDT/USD", "1.00000"),
    ("XLM/EUR", "0.100000"),
    ("XLM/USD", "0.110000"),
    ("XMR/EUR", "150.00"),
    ("XMR/USD", "160.00"),
    ("XRP/BTC", "0.00000900"),
    ("XRP/EUR", "0.55000"),
    ("XRP/USD", "0.60000"),
    ("XTZ/USD", "0.8000"),
    ("ZEC/USD", "40.00"),
];

/// Used for a market added to the table without a reference price here.
const FALLBACK_PRICE: Decimal = Decimal::from_parts(10_000, 0, 0, false, 4);

/// Quantities (`bid_qty`, `volume`, lot volumes) use Kraken's usual 8 `lot_decimals`.
pub const LOT_DECIMALS: u32 = 8;

/// What the simulator knows about one market beyond its names.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Reference price level; its scale is `pair_decimals`.
    pub reference: Decimal,
}

impl Profile {
    /// The profile of `market`.
    pub fn of(market: &Market) -> Profile {
        let reference = REFERENCE_PRICES
            .iter()
            .find(|(symbol, _)| *symbol == market.symbol)
            .and_then(|(_, text)| decimal::parse(text).ok())
            .unwrap_or(FALLBACK_PRICE);
        Profile { reference }
    }

    /// AssetPairs `pair_decimals`: digits of a price.
    pub fn pair_decimals(self) -> u32 {
        self.reference.scale()
    }

    /// The reference level in ticks of the pair's precision.
    pub fn reference_ticks(self) -> i64 {
        i64::try_from(self.reference.mantissa()).unwrap_or(1)
    }

    /// Price digits in REST bodies: Kraken pads REST prices to at least 5 decimals
    /// (`"62702.90000"` for a 1-decimal pair).
    pub fn rest_decimals(self) -> u32 {
        self.pair_decimals().max(5)
    }

    /// AssetPairs `cost_decimals` (5 for most pairs, 9 for `XDGUSD` in the 2026 capture).
    pub fn cost_decimals(self) -> u32 {
        (self.pair_decimals() + 2).max(5)
    }

    /// AssetPairs `tick_size`: one unit of the last price digit.
    pub fn tick_size(self) -> Decimal {
        Decimal::new(1, self.pair_decimals())
    }

    /// AssetPairs `ordermin`: about five quote units of base, one significant digit.
    pub fn ordermin(self) -> Decimal {
        let price = i128::from(self.reference_ticks().max(1));
        let mut units = 5 * 10i128.pow(LOT_DECIMALS + self.pair_decimals()) / price;
        let mut magnitude = 1i128;
        while units >= 10 {
            units /= 10;
            magnitude *= 10;
        }
        let units = i64::try_from(units.max(1) * magnitude).unwrap_or(i64::MAX);
        Decimal::new(units, LOT_DECIMALS).normalize()
    }
}

/// Kraken's asset id for an ISO-style code: the older assets keep their `X`/`Z` prefix
/// (`XXBT`, `ZUSD`, `XXDG`), newer ones are the code itself (`SOL`, `CHF`, `USDT`).
pub fn asset_id(code: &str) -> String {
    match code {
        "BTC" => "XXBT".into(),
        "DOGE" => "XXDG".into(),
        "ETH" | "LTC" | "XRP" | "XLM" | "XMR" | "ETC" | "ZEC" => format!("X{code}"),
        "USD" | "EUR" | "GBP" | "JPY" | "CAD" => format!("Z{code}"),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::markets::MARKETS;

    #[test]
    fn every_market_has_a_reference_price_that_parses() {
        for m in MARKETS {
            let (_, text) = REFERENCE_PRICES
                .iter()
                .find(|(s, _)| *s == m.symbol)
                .unwrap_or_else(|| panic!("no reference price for {}", m.symbol));
            let d = decimal::parse(text).expect(text);
            assert!(d > Decimal::ZERO, "{}", m.symbol);
        }
        assert_eq!(REFERENCE_PRICES.len(), MARKETS.len());
    }

    #[test]
    fn precision_matches_the_captured_asset_pairs_rows() {
        let find = |s: &str| Profile::of(MARKETS.iter().find(|m| m.symbol == s).expect(s));
        let btc = find("BTC/USD");
        assert_eq!(btc.pair_decimals(), 1);
        assert_eq!(btc.tick_size().to_string(), "0.1");
        assert_eq!(btc.ordermin().to_string(), "0.00008");
        let doge = find("DOGE/USD");
        assert_eq!(doge.pair_decimals(), 7);
        assert_eq!(doge.tick_size().to_string(), "0.0000001");
        assert_eq!(doge.cost_decimals(), 9);
        assert_eq!(doge.ordermin().to_string(), "50");
        let sol = find("SOL/USD");
        assert_eq!((sol.pair_decimals(), sol.cost_decimals()), (2, 5));
        assert_eq!(sol.tick_size().to_string(), "0.01");
    }

    #[test]
    fn asset_ids_follow_the_legacy_prefix_rule() {
        assert_eq!(asset_id("BTC"), "XXBT");
        assert_eq!(asset_id("DOGE"), "XXDG");
        assert_eq!(asset_id("ETH"), "XETH");
        assert_eq!(asset_id("USD"), "ZUSD");
        assert_eq!(asset_id("CHF"), "CHF");
        assert_eq!(asset_id("SOL"), "SOL");
        // The ids joined give the key for the legacy pairs of the table.
        for m in MARKETS {
            let ids = format!("{}{}", asset_id(m.base), asset_id(m.quote));
            assert!(m.rest_key == ids || m.rest_key == m.rest_altname, "{m:?}");
        }
    }
}
