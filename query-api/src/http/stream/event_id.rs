//! The resume id of a stream (SSE `id:`, WebSocket `since`): per pair, the ordering key of the
//! last price sent, so that any replica can tell which of its prices the client has not seen.
//! Per-replica counters would mean nothing to another replica; the prices' own keys do.
//!
//! Format: `1.` then unpadded base64url of, per pair sent so far, the pair's index in the
//! market table (one byte), the event time in Unix nanoseconds (LEB128), then the receive time
//! minus the event time and the confirmation time minus the receive time (zigzag LEB128, in
//! nanoseconds). About 20 characters per pair. An id that does not decode is ignored (the
//! client gets a full snapshot: nothing lost, at worst a repeat).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::Pair;
use jiff::Timestamp;

/// A price's ordering key ([`common::PriceMessage::order_key`]) in nanoseconds:
/// event, received, published. Compares like the key.
pub type Key = [i128; 3];

/// The key of a message, as [`Key`].
pub fn key_of(msg: &common::PriceMessage) -> Key {
    let (event, received, published) = msg.order_key();
    [event, received, published].map(Timestamp::as_nanosecond)
}

const VERSION: &str = "1.";

/// Encodes the last key sent of each pair (pairs with none are left out).
pub fn encode(sent: impl Iterator<Item = (Pair, Key)>) -> String {
    let mut bytes = Vec::with_capacity(64);
    for (pair, [event, received, published]) in sent {
        // The market table has fewer than 128 pairs (`Served` asserts it).
        bytes.push(u8::try_from(pair.index()).unwrap_or(u8::MAX));
        put_varint(&mut bytes, zigzag(event));
        put_varint(&mut bytes, zigzag(received - event));
        put_varint(&mut bytes, zigzag(published - received));
    }
    let mut out = String::with_capacity(VERSION.len() + bytes.len() * 4 / 3 + 4);
    out.push_str(VERSION);
    URL_SAFE_NO_PAD.encode_string(&bytes, &mut out);
    out
}

/// The keys of an id, or `None` when it is not one of ours.
pub fn decode(id: &str) -> Option<Vec<(Pair, Key)>> {
    let body = id.trim().strip_prefix(VERSION)?;
    // Bounded: a hostile header cannot make this allocate much (the header limit applies).
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    let mut rest = bytes.as_slice();
    let mut keys = Vec::new();
    while let Some((&index, tail)) = rest.split_first() {
        rest = tail;
        let pair = Pair::all().nth(usize::from(index))?;
        let event = unzigzag(take_varint(&mut rest)?);
        let received = event.checked_add(unzigzag(take_varint(&mut rest)?))?;
        let published = received.checked_add(unzigzag(take_varint(&mut rest)?))?;
        keys.push((pair, [event, received, published]));
    }
    Some(keys)
}

fn zigzag(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)).cast_unsigned()
}

fn unzigzag(v: u128) -> i128 {
    (v >> 1).cast_signed() ^ -((v & 1).cast_signed())
}

fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Option<u128> {
    let mut v = 0u128;
    for shift in (0..128).step_by(7) {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        v |= u128::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> Pair {
        Pair::parse(name).expect("known")
    }

    #[test]
    fn round_trips_and_stays_short() {
        let t = 1_783_486_481_204_829_000_i128;
        let keys = vec![
            (pair("BTC/USD"), [t, t + 5_171_000, t + 5_271_000]),
            (pair("ETH/USD"), [t - 3, t - 3, t + 1_000_000_000]),
            // Clock skew: received before the exchange's time.
            (pair("XRP/USD"), [t, t - 20, t - 10]),
        ];
        let id = encode(keys.iter().copied());
        assert!(id.starts_with("1.") && id.len() < 3 + 3 * 24, "{id}");
        assert_eq!(decode(&id), Some(keys));
        assert_eq!(decode(&encode(std::iter::empty())), Some(vec![]));
    }

    #[test]
    fn garbage_is_not_an_id() {
        for bad in [
            "",
            "1",
            "2.AAAA",
            "1.!!!",
            "1.gICAgICAgICAgICAgICAgICAgICA",
            "1.AA",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_compare_like_the_message_order() {
        let msg = |event: &str, received: &str, published: &str| common::PriceMessage {
            v: common::message::SCHEMA_VERSION,
            pair: pair("BTC/USD"),
            price: common::Price::parse("1").expect("valid"),
            source: common::Source::Ws,
            exchange_time: Some(event.parse().expect("ts")),
            as_of: None,
            received_at: received.parse().expect("ts"),
            published_at: published.parse().expect("ts"),
            seq: 1,
            ingestor: std::sync::Arc::from("i"),
        };
        let older = msg(
            "2026-01-01T00:00:01.5Z",
            "2026-01-01T00:00:09Z",
            "2026-01-01T00:00:09Z",
        );
        let later_event = msg(
            "2026-01-01T00:00:01.500000001Z",
            "2026-01-01T00:00:02Z",
            "2026-01-01T00:00:02Z",
        );
        let confirmed = msg(
            "2026-01-01T00:00:01.5Z",
            "2026-01-01T00:00:09Z",
            "2026-01-01T00:00:10Z",
        );
        for (a, b) in [(&older, &later_event), (&older, &confirmed)] {
            assert!(a.order_key() < b.order_key());
            assert!(key_of(a) < key_of(b));
        }
    }
}
