//! The built-in table of supported pairs and their names on Kraken.
//!
//! Kraken names one market four ways (see `docs/kraken-wire.md` §4): the WS v2 symbol
//! (ISO codes, equal to our canonical pair), the REST `altname` we send, the REST result key
//! (the AssetPairs key, which is what comes back and often differs from what was sent), and the
//! WS v1 `wsname` (legacy `XBT`/`XDG` codes). Keeping all four in one static table means a pair
//! that is configured is a pair that can be mapped everywhere.

/// Kraken's names for one market.
#[derive(Debug, PartialEq, Eq)]
pub struct Market {
    /// Canonical `BASE/QUOTE`; also the Kraken WS v2 symbol.
    pub symbol: &'static str,
    /// NATS subject token `BASE-QUOTE`.
    pub token: &'static str,
    /// Base asset (ISO style, e.g. `BTC`).
    pub base: &'static str,
    /// Quote asset (ISO style, e.g. `USD`).
    pub quote: &'static str,
    /// REST result key (AssetPairs key), e.g. `XXBTZUSD`.
    pub rest_key: &'static str,
    /// REST `altname`, the name we send in `Ticker?pair=`, e.g. `XBTUSD`.
    pub rest_altname: &'static str,
    /// WS v1 `wsname`, e.g. `XBT/USD`.
    pub ws_v1_name: &'static str,
}

macro_rules! market {
    ($base:literal / $quote:literal, key $key:literal, alt $alt:literal, v1 $v1:literal) => {
        Market {
            symbol: concat!($base, "/", $quote),
            token: concat!($base, "-", $quote),
            base: $base,
            quote: $quote,
            rest_key: $key,
            rest_altname: $alt,
            ws_v1_name: $v1,
        }
    };
}

/// Every supported market, sorted by symbol (binary search relies on it; a test checks it).
pub static MARKETS: &[Market] = &[
    market!("AAVE" / "USD", key "AAVEUSD", alt "AAVEUSD", v1 "AAVE/USD"),
    market!("ADA" / "BTC", key "ADAXBT", alt "ADAXBT", v1 "ADA/XBT"),
    market!("ADA" / "EUR", key "ADAEUR", alt "ADAEUR", v1 "ADA/EUR"),
    market!("ADA" / "USD", key "ADAUSD", alt "ADAUSD", v1 "ADA/USD"),
    market!("ALGO" / "USD", key "ALGOUSD", alt "ALGOUSD", v1 "ALGO/USD"),
    market!("ATOM" / "EUR", key "ATOMEUR", alt "ATOMEUR", v1 "ATOM/EUR"),
    market!("ATOM" / "USD", key "ATOMUSD", alt "ATOMUSD", v1 "ATOM/USD"),
    market!("AVAX" / "EUR", key "AVAXEUR", alt "AVAXEUR", v1 "AVAX/EUR"),
    market!("AVAX" / "USD", key "AVAXUSD", alt "AVAXUSD", v1 "AVAX/USD"),
    market!("BCH" / "EUR", key "BCHEUR", alt "BCHEUR", v1 "BCH/EUR"),
    market!("BCH" / "USD", key "BCHUSD", alt "BCHUSD", v1 "BCH/USD"),
    market!("BTC" / "CAD", key "XXBTZCAD", alt "XBTCAD", v1 "XBT/CAD"),
    market!("BTC" / "CHF", key "XBTCHF", alt "XBTCHF", v1 "XBT/CHF"),
    market!("BTC" / "EUR", key "XXBTZEUR", alt "XBTEUR", v1 "XBT/EUR"),
    market!("BTC" / "GBP", key "XXBTZGBP", alt "XBTGBP", v1 "XBT/GBP"),
    market!("BTC" / "JPY", key "XXBTZJPY", alt "XBTJPY", v1 "XBT/JPY"),
    market!("BTC" / "USD", key "XXBTZUSD", alt "XBTUSD", v1 "XBT/USD"),
    market!("BTC" / "USDT", key "XBTUSDT", alt "XBTUSDT", v1 "XBT/USDT"),
    market!("DOGE" / "BTC", key "XDGXBT", alt "XDGXBT", v1 "XDG/XBT"),
    market!("DOGE" / "EUR", key "XDGEUR", alt "XDGEUR", v1 "XDG/EUR"),
    market!("DOGE" / "USD", key "XDGUSD", alt "XDGUSD", v1 "XDG/USD"),
    market!("DOT" / "EUR", key "DOTEUR", alt "DOTEUR", v1 "DOT/EUR"),
    market!("DOT" / "USD", key "DOTUSD", alt "DOTUSD", v1 "DOT/USD"),
    market!("ETC" / "USD", key "XETCZUSD", alt "ETCUSD", v1 "ETC/USD"),
    market!("ETH" / "BTC", key "XETHXXBT", alt "ETHXBT", v1 "ETH/XBT"),
    market!("ETH" / "CAD", key "XETHZCAD", alt "ETHCAD", v1 "ETH/CAD"),
    market!("ETH" / "CHF", key "ETHCHF", alt "ETHCHF", v1 "ETH/CHF"),
    market!("ETH" / "EUR", key "XETHZEUR", alt "ETHEUR", v1 "ETH/EUR"),
    market!("ETH" / "GBP", key "XETHZGBP", alt "ETHGBP", v1 "ETH/GBP"),
    market!("ETH" / "JPY", key "XETHZJPY", alt "ETHJPY", v1 "ETH/JPY"),
    market!("ETH" / "USD", key "XETHZUSD", alt "ETHUSD", v1 "ETH/USD"),
    market!("ETH" / "USDT", key "ETHUSDT", alt "ETHUSDT", v1 "ETH/USDT"),
    market!("EUR" / "USD", key "ZEURZUSD", alt "EURUSD", v1 "EUR/USD"),
    market!("FIL" / "USD", key "FILUSD", alt "FILUSD", v1 "FIL/USD"),
    market!("GBP" / "USD", key "ZGBPZUSD", alt "GBPUSD", v1 "GBP/USD"),
    market!("LINK" / "EUR", key "LINKEUR", alt "LINKEUR", v1 "LINK/EUR"),
    market!("LINK" / "USD", key "LINKUSD", alt "LINKUSD", v1 "LINK/USD"),
    market!("LTC" / "BTC", key "XLTCXXBT", alt "LTCXBT", v1 "LTC/XBT"),
    market!("LTC" / "EUR", key "XLTCZEUR", alt "LTCEUR", v1 "LTC/EUR"),
    market!("LTC" / "USD", key "XLTCZUSD", alt "LTCUSD", v1 "LTC/USD"),
    market!("NEAR" / "USD", key "NEARUSD", alt "NEARUSD", v1 "NEAR/USD"),
    market!("POL" / "USD", key "POLUSD", alt "POLUSD", v1 "POL/USD"),
    market!("SHIB" / "USD", key "SHIBUSD", alt "SHIBUSD", v1 "SHIB/USD"),
    market!("SOL" / "BTC", key "SOLXBT", alt "SOLXBT", v1 "SOL/XBT"),
    market!("SOL" / "EUR", key "SOLEUR", alt "SOLEUR", v1 "SOL/EUR"),
    market!("SOL" / "USD", key "SOLUSD", alt "SOLUSD", v1 "SOL/USD"),
    market!("TRX" / "USD", key "TRXUSD", alt "TRXUSD", v1 "TRX/USD"),
    market!("UNI" / "EUR", key "UNIEUR", alt "UNIEUR", v1 "UNI/EUR"),
    market!("UNI" / "USD", key "UNIUSD", alt "UNIUSD", v1 "UNI/USD"),
    market!("USD" / "CAD", key "ZUSDZCAD", alt "USDCAD", v1 "USD/CAD"),
    market!("USD" / "CHF", key "USDCHF", alt "USDCHF", v1 "USD/CHF"),
    market!("USD" / "JPY", key "ZUSDZJPY", alt "USDJPY", v1 "USD/JPY"),
    market!("USDC" / "EUR", key "USDCEUR", alt "USDCEUR", v1 "USDC/EUR"),
    market!("USDC" / "USD", key "USDCUSD", alt "USDCUSD", v1 "USDC/USD"),
    market!("USDT" / "EUR", key "USDTEUR", alt "USDTEUR", v1 "USDT/EUR"),
    market!("USDT" / "USD", key "USDTZUSD", alt "USDTUSD", v1 "USDT/USD"),
    market!("XLM" / "EUR", key "XXLMZEUR", alt "XLMEUR", v1 "XLM/EUR"),
    market!("XLM" / "USD", key "XXLMZUSD", alt "XLMUSD", v1 "XLM/USD"),
    market!("XMR" / "EUR", key "XXMRZEUR", alt "XMREUR", v1 "XMR/EUR"),
    market!("XMR" / "USD", key "XXMRZUSD", alt "XMRUSD", v1 "XMR/USD"),
    market!("XRP" / "BTC", key "XXRPXXBT", alt "XRPXBT", v1 "XRP/XBT"),
    market!("XRP" / "EUR", key "XXRPZEUR", alt "XRPEUR", v1 "XRP/EUR"),
    market!("XRP" / "USD", key "XXRPZUSD", alt "XRPUSD", v1 "XRP/USD"),
    market!("XTZ" / "USD", key "XTZUSD", alt "XTZUSD", v1 "XTZ/USD"),
    market!("ZEC" / "USD", key "XZECZUSD", alt "ZECUSD", v1 "ZEC/USD"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Kraken's legacy asset ids for the assets that still carry an `X`/`Z` prefix.
    fn legacy_id(asset: &str) -> Option<&'static str> {
        Some(match asset {
            "BTC" => "XXBT",
            "ETH" => "XETH",
            "LTC" => "XLTC",
            "XRP" => "XXRP",
            "XLM" => "XXLM",
            "XMR" => "XXMR",
            "ETC" => "XETC",
            "ZEC" => "XZEC",
            "USD" => "ZUSD",
            "EUR" => "ZEUR",
            "GBP" => "ZGBP",
            "JPY" => "ZJPY",
            "CAD" => "ZCAD",
            _ => return None,
        })
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(MARKETS.windows(2).all(|w| w[0].symbol < w[1].symbol));
        for pick in [
            |m: &Market| m.rest_key,
            |m: &Market| m.rest_altname,
            |m: &Market| m.ws_v1_name,
            |m: &Market| m.token,
        ] {
            let names: HashSet<_> = MARKETS.iter().map(pick).collect();
            assert_eq!(names.len(), MARKETS.len());
        }
    }

    #[test]
    fn table_covers_at_least_fifty_pairs_including_the_required_ones() {
        assert!(MARKETS.len() >= 50, "{} markets", MARKETS.len());
        for required in [
            "BTC/USD", "BTC/EUR", "BTC/CHF", "BTC/GBP", "ETH/USD", "ETH/EUR", "ETH/BTC", "LTC/USD",
            "XRP/USD", "SOL/USD", "DOGE/USD", "ADA/USD", "DOT/USD", "LINK/USD",
        ] {
            assert!(MARKETS.iter().any(|m| m.symbol == required), "{required}");
        }
    }

    /// Every entry: the v1 name is the v2 symbol with legacy codes, the altname is the v1 name
    /// without its slash, and the key is either the altname or the two asset ids joined
    /// (`XXBT`+`ZUSD`, `USDT`+`ZUSD`).
    #[test]
    fn every_entry_is_consistent_with_krakens_naming_rules() {
        for m in MARKETS {
            assert_eq!(m.symbol, format!("{}/{}", m.base, m.quote));
            assert_eq!(m.token, format!("{}-{}", m.base, m.quote));
            let v1 = |a: &str| match a {
                "BTC" => "XBT".to_owned(),
                "DOGE" => "XDG".to_owned(),
                other => other.to_owned(),
            };
            assert_eq!(
                m.ws_v1_name,
                format!("{}/{}", v1(m.base), v1(m.quote)),
                "{m:?}"
            );
            assert_eq!(m.rest_altname, m.ws_v1_name.replace('/', ""), "{m:?}");
            let ids = format!(
                "{}{}",
                legacy_id(m.base).unwrap_or(m.base),
                legacy_id(m.quote).unwrap_or(m.quote)
            );
            assert!(
                m.rest_key == m.rest_altname || m.rest_key == ids,
                "{m:?}: key is neither the altname nor {ids}"
            );
        }
    }

    /// The rows of `docs/kraken-wire.md` §4, taken from live captures.
    #[test]
    fn captured_names_match() {
        let rows = [
            ("BTC/USD", "XBT/USD", "XXBTZUSD", "XBTUSD"),
            ("BTC/EUR", "XBT/EUR", "XXBTZEUR", "XBTEUR"),
            ("BTC/CHF", "XBT/CHF", "XBTCHF", "XBTCHF"),
            ("ETH/USD", "ETH/USD", "XETHZUSD", "ETHUSD"),
            ("LTC/USD", "LTC/USD", "XLTCZUSD", "LTCUSD"),
            ("XRP/USD", "XRP/USD", "XXRPZUSD", "XRPUSD"),
            ("SOL/USD", "SOL/USD", "SOLUSD", "SOLUSD"),
            ("DOGE/USD", "XDG/USD", "XDGUSD", "XDGUSD"),
            ("BTC/USDT", "XBT/USDT", "XBTUSDT", "XBTUSDT"),
        ];
        for (symbol, v1, key, alt) in rows {
            let m = MARKETS.iter().find(|m| m.symbol == symbol).expect(symbol);
            assert_eq!((m.ws_v1_name, m.rest_key, m.rest_altname), (v1, key, alt));
        }
    }
}
