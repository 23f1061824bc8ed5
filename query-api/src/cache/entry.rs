//! A cached price, with its REST item prepared once when the price arrives.
//!
//! Serving a price costs one copy of prepared bytes plus the age digits: nothing is formatted
//! per request except `age_ms`, the only field that changes with time.

use std::cmp::Ordering;
use std::sync::OnceLock;

use bytes::{BufMut, Bytes};
use common::message::{DecodeError, Encoding};
use common::{Pair, PriceMessage};
use jiff::Timestamp;

/// One pair's price as the cache holds it.
#[derive(Debug)]
pub struct Entry {
    msg: PriceMessage,
    published_ms: i64,
    /// `{"pair":…,"amount":…,"price":…,"timestamp":…,"age_ms":` — then the age — then the rest.
    item: Box<str>,
    age_at: usize,
    /// The message in its JSON encoding: the Redis value. Built on first use only, since the
    /// memory cache never needs it.
    json: OnceLock<Bytes>,
}

impl Entry {
    /// Prepares a price for serving.
    pub fn new(msg: PriceMessage) -> Entry {
        Self::build(msg, None)
    }

    /// Decodes a Redis value (the message's JSON encoding), keeping the bytes.
    pub fn from_json(raw: Bytes) -> Result<Entry, DecodeError> {
        let msg = Encoding::Json.decode(&raw)?;
        Ok(Self::build(msg, Some(raw)))
    }

    fn build(msg: PriceMessage, raw: Option<Bytes>) -> Entry {
        let timestamp = msg.published_at.to_string();
        let mut item = String::with_capacity(192);
        item.push_str("{\"pair\":\"");
        item.push_str(msg.pair.as_str());
        item.push_str("\",\"amount\":");
        // A validated decimal is also a JSON number: written as is, never re-rounded.
        item.push_str(msg.price.as_str());
        item.push_str(",\"price\":\"");
        item.push_str(msg.price.as_str());
        item.push_str("\",\"timestamp\":\"");
        item.push_str(&timestamp);
        item.push_str("\",\"age_ms\":");
        let age_at = item.len();
        if let Some(exchange_time) = msg.exchange_time {
            item.push_str(",\"exchange_time\":\"");
            item.push_str(&exchange_time.to_string());
            item.push('"');
        }
        item.push_str(",\"source\":\"");
        item.push_str(msg.source.as_str());
        item.push_str("\"}");
        let json = OnceLock::new();
        if let Some(raw) = raw {
            let _ = json.set(raw);
        }
        Entry {
            published_ms: msg.published_at.as_millisecond(),
            msg,
            item: item.into_boxed_str(),
            age_at,
            json,
        }
    }

    /// The message this entry was built from.
    pub fn message(&self) -> &PriceMessage {
        &self.msg
    }

    /// The pair (of the message).
    pub fn pair(&self) -> Pair {
        self.msg.pair
    }

    /// Milliseconds since the price was last confirmed (`published_at`), at `now_ms`
    /// (Unix milliseconds). A timestamp slightly in the future (clock skew) counts as age 0.
    pub fn age_ms(&self, now_ms: i64) -> u64 {
        u64::try_from(now_ms.saturating_sub(self.published_ms)).unwrap_or(0)
    }

    /// Appends the REST item with `age_ms` filled in.
    pub fn write_item(&self, out: &mut impl BufMut, age_ms: u64) {
        let (head, tail) = self.item.split_at(self.age_at);
        out.put_slice(head.as_bytes());
        crate::json::push_u64(out, age_ms);
        out.put_slice(tail.as_bytes());
    }

    /// Length of the item without the age digits, for sizing buffers.
    pub fn item_len(&self) -> usize {
        self.item.len()
    }

    /// The message in its JSON encoding (the Redis value).
    pub fn json(&self) -> &Bytes {
        self.json.get_or_init(|| Encoding::Json.encode(&self.msg))
    }

    /// Order of two prices of the same pair ([`PriceMessage::order_key`]).
    pub fn order(&self, other: &Entry) -> Ordering {
        self.msg.order_key().cmp(&other.msg.order_key())
    }

    /// Whether this entry may replace `current`: never with an older price.
    pub fn replaces(&self, current: &Entry) -> bool {
        self.order(current) != Ordering::Less
    }

    /// The ordering key as one fixed-width string, comparable byte by byte; the Redis store
    /// script derives the same string from a stored message (see `cache/store.lua`).
    pub fn order_key(&self) -> String {
        let (event, received, published) = self.msg.order_key();
        [event, received, published].map(sortable).join("|")
    }
}

/// `2026-07-08T05:24:41.2101Z` → `2026-07-08T05:24:41210100000`: seconds, then nanoseconds
/// padded to nine digits.
fn sortable(ts: Timestamp) -> String {
    let text = ts.to_string();
    let body = text.strip_suffix('Z').unwrap_or(&text);
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    let frac = &frac[..frac.len().min(9)];
    format!("{secs}{frac:0<9}")
}

#[cfg(test)]
mod tests {
    use common::Source;
    use common::test_support::price_message_at;

    use super::*;

    /// A WebSocket price of BTC/USD published at `published` (Kraken's stamp 5 ms before).
    fn msg(price: &str, published: &str) -> PriceMessage {
        price_message_at("BTC/USD", price, published.parse().expect("ts"))
    }

    fn item(entry: &Entry, age: u64) -> String {
        let mut out = Vec::new();
        entry.write_item(&mut out, age);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn item_keeps_the_exact_decimal_and_fills_the_age() {
        let entry = Entry::new(msg("0.00044780", "2026-07-08T05:24:41.2101Z"));
        assert_eq!(
            item(&entry, 1234),
            r#"{"pair":"BTC/USD","amount":0.00044780,"price":"0.00044780","timestamp":"2026-07-08T05:24:41.2101Z","age_ms":1234,"exchange_time":"2026-07-08T05:24:41.2051Z","source":"ws"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&item(&entry, 0)).expect("json");
        assert_eq!(value["age_ms"], 0);
    }

    #[test]
    fn rest_prices_have_no_exchange_time() {
        let mut m = msg("58033", "2026-07-08T05:24:41Z");
        m.exchange_time = None;
        m.source = Source::Rest;
        let text = item(&Entry::new(m), 7);
        assert!(!text.contains("exchange_time"), "{text}");
        assert!(text.ends_with(r#""age_ms":7,"source":"rest"}"#), "{text}");
    }

    #[test]
    fn age_is_clamped_at_zero() {
        let entry = Entry::new(msg("1", "2026-07-08T05:24:41Z"));
        let published = entry.message().published_at.as_millisecond();
        assert_eq!(entry.age_ms(published + 1500), 1500);
        assert_eq!(entry.age_ms(published - 10), 0);
    }

    #[test]
    fn json_round_trips_and_keeps_the_raw_bytes() {
        let entry = Entry::new(msg("62702.9", "2026-07-08T05:24:41.2101Z"));
        let back = Entry::from_json(entry.json().clone()).expect("decodes");
        assert_eq!(back.message(), entry.message());
        assert_eq!(back.json(), entry.json());
    }

    #[test]
    fn as_of_on_kraken_clock_decides_before_our_clocks() {
        let ws = Entry::new(msg("1", "2026-07-08T05:24:41.21Z"));
        let mut rest = msg("2", "2026-07-08T05:24:45Z");
        (rest.source, rest.exchange_time) = (Source::Rest, None);
        rest.received_at = "2026-07-08T05:24:44Z".parse().expect("ts");
        // Sent 3 s later by our clock, but before the trade on Kraken's.
        rest.as_of = Some("2026-07-08T05:24:41.1Z".parse().expect("ts"));
        let rest = Entry::new(rest);
        assert!(!rest.replaces(&ws) && ws.replaces(&rest));
        assert!(rest.order_key() < ws.order_key());
        assert!(
            rest.order_key()
                .starts_with("2026-07-08T05:24:41100000000|")
        );
    }

    #[test]
    fn order_key_sorts_like_the_timestamps() {
        let a = Entry::new(msg("1", "2026-07-08T05:24:41.21Z"));
        let b = Entry::new(msg("1", "2026-07-08T05:24:41.2101Z"));
        let c = Entry::new(msg("1", "2026-07-08T05:24:42Z"));
        assert_eq!(a.order(&b), Ordering::Less);
        assert!(a.order_key() < b.order_key() && b.order_key() < c.order_key());
        assert!(b.replaces(&a) && !a.replaces(&b) && a.replaces(&a));
        assert_eq!(
            sortable("2026-07-08T05:24:41.2101Z".parse().expect("ts")),
            "2026-07-08T05:24:41210100000"
        );
        assert_eq!(
            sortable("2026-07-08T05:24:41Z".parse().expect("ts")),
            "2026-07-08T05:24:41000000000"
        );
    }
}
