//! NATS subject builders: the one place where the subject grammar of docs/architecture.md lives.
//!
//! | subject                           | what                                   |
//! |-----------------------------------|----------------------------------------|
//! | `<prefix>.prices.kraken.BTC-USD`  | one message per price update           |
//! | `<prefix>.refresh.kraken`         | refresh / snapshot requests            |
//! | `<prefix>.status.kraken`          | feed state changes                     |

use crate::pair::Pair;

/// Queue group the ingestors answer refresh requests in: one ingestor handles each request.
pub const INGESTOR_QUEUE_GROUP: &str = "ltp-ingestor";

/// The exchange token in every subject.
const EXCHANGE: &str = "kraken";

/// Why a subject prefix was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid NATS subject prefix {0:?}: use dot-separated tokens of letters, digits, '-' and '_' \
     (not starting with '$')"
)]
pub struct PrefixError(pub String);

/// Subject names for one prefix (default `ltp`).
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
    /// `price` subject of every supported pair, by [`Pair::index`]: built once, not per message.
    prices: Vec<async_nats::Subject>,
}

impl Subjects {
    /// Validates the prefix and builds every subject.
    pub fn new(prefix: &str) -> Result<Subjects, PrefixError> {
        let valid = !prefix.is_empty()
            && !prefix.starts_with('$')
            && prefix.split('.').all(|token| {
                !token.is_empty()
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(PrefixError(prefix.to_owned()));
        }
        let prices = Pair::all()
            .map(|p| format!("{prefix}.prices.{EXCHANGE}.{}", p.token()).into())
            .collect();
        Ok(Subjects {
            prefix: prefix.to_owned(),
            prices,
        })
    }

    /// The prefix as configured (`ltp`), the first token(s) of every subject.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.prices.kraken.BASE-QUOTE`.
    pub fn price(&self, pair: Pair) -> &async_nats::Subject {
        &self.prices[pair.index()]
    }

    /// `<prefix>.prices.kraken.*`: every pair of this exchange.
    pub fn prices_wildcard(&self) -> String {
        format!("{}.prices.{EXCHANGE}.*", self.prefix)
    }

    /// `<prefix>.prices.>`: every price subject, the subjects of the last-value stream.
    pub fn prices_all(&self) -> String {
        format!("{}.prices.>", self.prefix)
    }

    /// `<prefix>.refresh.kraken`.
    pub fn refresh(&self) -> String {
        format!("{}.refresh.{EXCHANGE}", self.prefix)
    }

    /// `<prefix>.status.kraken`.
    pub fn status(&self) -> String {
        format!("{}.status.{EXCHANGE}", self.prefix)
    }

    /// Name of the JetStream last-value stream, `<PREFIX>_PRICES` (`LTP_PRICES` by default).
    /// Stream names may not contain `.`, so dots become `_`.
    pub fn stream_name(&self) -> String {
        format!(
            "{}_PRICES",
            self.prefix.replace('.', "_").to_ascii_uppercase()
        )
    }

    /// The pair a price subject is about, if it is one of ours.
    pub fn pair_of(&self, subject: &str) -> Option<Pair> {
        let token = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".prices.")?
            .strip_prefix(EXCHANGE)?
            .strip_prefix('.')?;
        let (base, quote) = token.split_once('-')?;
        Pair::from_symbol(&format!("{base}/{quote}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_contract() {
        let s = Subjects::new("ltp").expect("valid");
        let btc = Pair::parse("BTC/USD").expect("known");
        assert_eq!(s.price(btc).as_str(), "ltp.prices.kraken.BTC-USD");
        assert_eq!(s.prices_wildcard(), "ltp.prices.kraken.*");
        assert_eq!(s.prices_all(), "ltp.prices.>");
        assert_eq!(s.refresh(), "ltp.refresh.kraken");
        assert_eq!(s.status(), "ltp.status.kraken");
        assert_eq!(s.stream_name(), "LTP_PRICES");
        // Control subjects stay outside the price wildcard.
        assert!(!s.refresh().starts_with("ltp.prices."));
        assert!(!s.status().starts_with("ltp.prices."));
    }

    #[test]
    fn custom_prefixes_namespace_everything() {
        let s = Subjects::new("test.a1-b_2").expect("valid");
        let doge = Pair::parse("doge/usd").expect("known");
        assert_eq!(s.price(doge).as_str(), "test.a1-b_2.prices.kraken.DOGE-USD");
        assert_eq!(s.stream_name(), "TEST_A1-B_2_PRICES");
        assert_eq!(s.pair_of("test.a1-b_2.prices.kraken.DOGE-USD"), Some(doge));
        assert_eq!(s.pair_of("ltp.prices.kraken.DOGE-USD"), None);
        assert_eq!(s.pair_of("test.a1-b_2.prices.kraken.FAKE-COIN"), None);
    }

    #[test]
    fn bad_prefixes_are_rejected() {
        for bad in ["", ".", "a..b", "a.", "$SYS", "a b", "a.*", "a.>", "ltp/x"] {
            assert!(Subjects::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_pair_has_a_subject_that_maps_back() {
        let s = Subjects::new("ltp").expect("valid");
        for pair in Pair::all() {
            assert_eq!(s.pair_of(s.price(pair).as_str()), Some(pair));
        }
    }
}
