//! Trading pairs: user input parsed into the canonical `BASE/QUOTE` form of a known market.
//!
//! A [`Pair`] can only be built for a market in the built-in table, so every `Pair` in the
//! system can be mapped to every Kraken name and NATS subject. It is a `Copy` index, which keeps
//! maps keyed by pair cheap on the hot path.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::markets::{MARKETS, Market};

/// A supported trading pair, e.g. `BTC/USD`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pair(u16);

/// Why a string is not a supported pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// Not of the form `BASE/QUOTE` (no slash, several slashes, or an empty side).
    #[error("invalid pair format: {0} (expected BASE/QUOTE)")]
    Format(String),
    /// Well formed, but not a market in the built-in table.
    #[error("unknown pair: {0}")]
    Unknown(String),
}

static BY_SYMBOL: LazyLock<HashMap<&'static str, Pair>> = LazyLock::new(|| index(|m| m.symbol));
static BY_REST_NAME: LazyLock<HashMap<&'static str, Pair>> = LazyLock::new(|| {
    let mut map = index(|m| m.rest_altname);
    map.extend(index(|m| m.rest_key));
    map
});
static BY_V1_NAME: LazyLock<HashMap<&'static str, Pair>> =
    LazyLock::new(|| index(|m| m.ws_v1_name));
static BY_TOKEN: LazyLock<HashMap<&'static str, Pair>> = LazyLock::new(|| index(|m| m.token));

fn index(name: impl Fn(&Market) -> &'static str) -> HashMap<&'static str, Pair> {
    MARKETS
        .iter()
        .enumerate()
        .map(|(i, m)| (name(m), Pair(i as u16)))
        .collect()
}

impl Pair {
    /// Parses user input: surrounding whitespace is trimmed and case is ignored.
    pub fn parse(input: &str) -> Result<Pair, PairError> {
        let trimmed = input.trim();
        let (base, quote) = trimmed
            .split_once('/')
            .filter(|(b, q)| !b.is_empty() && !q.is_empty() && !q.contains('/'))
            .ok_or_else(|| PairError::Format(trimmed.to_owned()))?;
        let canonical = format!(
            "{}/{}",
            base.to_ascii_uppercase(),
            quote.to_ascii_uppercase()
        );
        Self::from_symbol(&canonical).ok_or(PairError::Unknown(canonical))
    }

    /// Looks up an exact canonical symbol (`BTC/USD`); also the Kraken WS v2 symbol.
    pub fn from_symbol(symbol: &str) -> Option<Pair> {
        BY_SYMBOL.get(symbol).copied()
    }

    /// Resolves a REST result key or altname (`XXBTZUSD`, `XBTUSD`).
    pub fn from_rest_name(name: &str) -> Option<Pair> {
        BY_REST_NAME.get(name).copied()
    }

    /// Resolves a WS v1 `wsname` (`XBT/USD`).
    pub fn from_v1_name(name: &str) -> Option<Pair> {
        BY_V1_NAME.get(name).copied()
    }

    /// Resolves any other name of a market, upper-case: Kraken's WS v1 name (`XBT/USD`), REST
    /// altname (`XBTUSD`) or result key (`XXBTZUSD`), or our subject token (`BTC-USD`). The
    /// canonical symbol itself is [`Pair::from_symbol`].
    pub fn from_alias(name: &str) -> Option<Pair> {
        Self::from_v1_name(name)
            .or_else(|| Self::from_rest_name(name))
            .or_else(|| BY_TOKEN.get(name).copied())
    }

    /// The names [`Pair::from_alias`] accepts for this pair (those that differ from the
    /// canonical symbol), in the order WS v1 name, REST altname, REST result key, token.
    pub fn aliases(self) -> Vec<&'static str> {
        let m = self.market();
        let mut names = vec![m.ws_v1_name, m.rest_altname, m.rest_key, m.token];
        names.retain(|n| *n != m.symbol);
        names.dedup();
        names
    }

    /// Every supported pair, sorted.
    pub fn all() -> impl ExactSizeIterator<Item = Pair> {
        (0..MARKETS.len()).map(|i| Pair(i as u16))
    }

    /// Canonical `BASE/QUOTE`.
    pub fn as_str(self) -> &'static str {
        self.market().symbol
    }

    /// NATS subject token `BASE-QUOTE`.
    pub fn token(self) -> &'static str {
        self.market().token
    }

    /// Kraken's names for this pair.
    pub fn market(self) -> &'static Market {
        &MARKETS[self.0 as usize]
    }

    /// Dense index in `0..Pair::all().len()`, for per-pair arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// The table is sorted by symbol, so index order is string order.
impl Ord for Pair {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::str::FromStr for Pair {
    type Err = PairError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pair::parse(s)
    }
}

impl Serialize for Pair {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Pair::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Every supported pair as `BASE/QUOTE`, comma separated: the list error messages show.
pub fn supported_list() -> String {
    Pair::all().map(Pair::as_str).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_trims_and_ignores_case() {
        for input in ["BTC/USD", " btc/usd ", "\tBtC/uSd\n"] {
            assert_eq!(
                Pair::parse(input).map(Pair::as_str),
                Ok("BTC/USD"),
                "{input:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_bad_format() {
        for input in [
            "",
            " ",
            "BTCUSD",
            "/",
            "BTC/",
            "/USD",
            " / ",
            "BTC/USD/EUR",
            "BTC//USD",
        ] {
            assert!(
                matches!(Pair::parse(input), Err(PairError::Format(_))),
                "{input:?} gave {:?}",
                Pair::parse(input)
            );
        }
    }

    #[test]
    fn parse_rejects_unknown_pairs_in_canonical_form() {
        assert_eq!(
            Pair::parse("doge/moon"),
            Err(PairError::Unknown("DOGE/MOON".into()))
        );
        assert_eq!(
            Pair::parse("btc / usd"),
            Err(PairError::Unknown("BTC / USD".into()))
        );
        // Kraken's legacy codes are not our canonical names.
        assert_eq!(
            Pair::parse("XBT/USD"),
            Err(PairError::Unknown("XBT/USD".into()))
        );
    }

    #[test]
    fn every_pair_round_trips_through_all_of_its_names() {
        for pair in Pair::all() {
            let m = pair.market();
            assert_eq!(Pair::parse(m.symbol), Ok(pair));
            assert_eq!(Pair::parse(&m.symbol.to_lowercase()), Ok(pair));
            assert_eq!(Pair::from_rest_name(m.rest_key), Some(pair));
            assert_eq!(Pair::from_rest_name(m.rest_altname), Some(pair));
            assert_eq!(Pair::from_v1_name(m.ws_v1_name), Some(pair));
            assert_eq!(pair.token(), m.symbol.replace('/', "-"));
            assert_eq!(pair.to_string(), m.symbol);
        }
    }

    #[test]
    fn every_alias_names_exactly_one_pair() {
        let mut seen = HashMap::new();
        for pair in Pair::all() {
            assert!(!pair.aliases().is_empty(), "{pair}");
            for alias in pair.aliases() {
                assert_eq!(Pair::from_alias(alias), Some(pair), "{alias}");
                assert_eq!(
                    Pair::from_symbol(alias),
                    None,
                    "{alias} is another pair's symbol"
                );
                if let Some(other) = seen.insert(alias, pair) {
                    assert_eq!(other, pair, "{alias} names two pairs");
                }
            }
        }
        let btc = Pair::parse("BTC/USD").expect("known");
        assert_eq!(btc.aliases(), ["XBT/USD", "XBTUSD", "XXBTZUSD", "BTC-USD"]);
        let sol = Pair::parse("SOL/USD").expect("known");
        assert_eq!(sol.aliases(), ["SOLUSD", "SOL-USD"]);
    }

    #[test]
    fn order_is_string_order() {
        let mut pairs: Vec<Pair> = ["XRP/USD", "BTC/USD", "ETH/USD", "BTC/EUR"]
            .iter()
            .map(|s| Pair::parse(s).expect("known"))
            .collect();
        pairs.sort();
        let names: Vec<_> = pairs.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["BTC/EUR", "BTC/USD", "ETH/USD", "XRP/USD"]);
    }

    #[test]
    fn serde_uses_the_canonical_string_and_validates() {
        let pair = Pair::parse("eth/btc").expect("known");
        assert_eq!(serde_json::to_string(&pair).expect("ser"), "\"ETH/BTC\"");
        let back: Pair = serde_json::from_str("\" eth/btc \"").expect("de");
        assert_eq!(back, pair);
        assert!(serde_json::from_str::<Pair>("\"FAKE/COIN\"").is_err());
    }
}
