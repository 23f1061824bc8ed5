//! Price messages for the tests of every crate (feature `test-support`), built in one place so
//! a change to [`PriceMessage`] touches one fixture.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::message::SCHEMA_VERSION;
use crate::{Pair, Price, PriceMessage, Source};

/// A WebSocket price of `pair` at `price`, published `age` ago (see [`price_message_at`]).
pub fn price_message(pair: &str, price: &str, age: Duration) -> PriceMessage {
    price_message_at(pair, price, Timestamp::now() - age)
}

/// A WebSocket price of `pair` at `price` as an ingestor publishes it at `published_at`: Kraken
/// stamped the trade 5 ms and the ingestor received it 1 ms before; `seq` 1 of ingestor
/// `test-ingestor`. Panics on a pair outside the table or a malformed price.
pub fn price_message_at(pair: &str, price: &str, published_at: Timestamp) -> PriceMessage {
    PriceMessage {
        v: SCHEMA_VERSION,
        pair: Pair::parse(pair).expect("a pair of the table"),
        price: Price::parse(price).expect("a valid price"),
        source: Source::Ws,
        exchange_time: Some(published_at - Duration::from_millis(5)),
        as_of: Some(published_at - Duration::from_millis(5)),
        received_at: published_at - Duration::from_millis(1),
        published_at,
        seq: 1,
        ingestor: Arc::from("test-ingestor"),
    }
}
