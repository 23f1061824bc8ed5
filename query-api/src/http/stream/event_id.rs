//! The resume id of a stream (SSE `id:`, WebSocket `since`): per pair, the ordering key of the
//! last price sent, so that any replica can tell which of its prices the client has not seen.
//! Per-replica counters would mean nothing to another replica; the prices' own keys do.
//!
//! Format: `1.` then unpadded base64url of, per pair sent so far, the pair's index in the
//! market table (one byte), the event time in Unix nanoseconds (LEB128), then the receive time
//! minus the event time and the confirmation time minus the receive time (zigzag LEB128, in
//! nanoseconds). About 20 characters per pair. An id that does not decode is ignored (the
//! client gets a full snapshot: nothing lost, at worst a repeat).

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Positions remembered by a [`Memo`].
const MEMO_SLOTS: usize = 8;

/// The last few ids encoded by any of the replica's streams, with the position each encodes.
///
/// Clients in the same position (the same pairs in the same order, sent the same prices:
/// every client of a pair that keeps up) need the same id, so a change of the board is
/// encoded once for all of them instead of once per client. Without it, 1,000 streams of the
/// 50 pairs spent 35 % of query-api's CPU building ids (docs/benchmarks.md, "Streaming").
/// Clones share the memo.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    slots: Arc<Mutex<MemoSlots>>,
}

#[derive(Debug, Default)]
struct MemoSlots {
    /// (hash of the position, the position, its id); `next` is overwritten first.
    entries: Vec<(u64, Box<[Position]>, Arc<str>)>,
    next: usize,
}

/// One pair of a position: its last key sent, if any.
pub type Position = (Pair, Option<Key>);

impl Memo {
    /// The id of `position` ([`encode`] of its pairs with a key), shared with every client
    /// that asked for the same position recently.
    pub fn id(&self, position: &[Position]) -> Arc<str> {
        let hash = rustc_hash::FxBuildHasher.hash_one(position);
        {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let found = slots
                .entries
                .iter()
                .find(|(h, p, _)| *h == hash && **p == *position);
            if let Some((_, _, id)) = found {
                return id.clone();
            }
        }
        // Encoded outside the lock; two clients may both encode a new position (same result).
        let id: Arc<str> = encode(position.iter().filter_map(|(p, k)| k.map(|k| (*p, k)))).into();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = (hash, Box::<[Position]>::from(position), id.clone());
        let next = slots.next;
        if slots.entries.len() < MEMO_SLOTS {
            slots.entries.push(entry);
        } else {
            slots.entries[next] = entry;
        }
        slots.next = (next + 1) % MEMO_SLOTS;
        id
    }
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
    fn the_memo_gives_each_position_its_own_id_and_shares_equal_ones() {
        let memo = Memo::default();
        let t = 1_783_486_481_204_829_000_i128;
        let (btc, eth) = (pair("BTC/USD"), pair("ETH/USD"));
        let a = [(btc, Some([t, t, t])), (eth, None)];
        let b = [(btc, Some([t, t, t + 1])), (eth, None)];
        let id_a = memo.id(&a);
        assert_eq!(&*id_a, encode([(btc, [t, t, t])].into_iter()));
        assert!(
            Arc::ptr_eq(&id_a, &memo.id(&a)),
            "the same position is encoded once"
        );
        assert_eq!(decode(&memo.id(&b)), Some(vec![(btc, [t, t, t + 1])]));
        // Past the memo's size, old positions are encoded again, still right.
        for i in 0..2 * MEMO_SLOTS as i128 {
            let other = [(eth, Some([t + i, t + i, t + i]))];
            assert_eq!(decode(&memo.id(&other)), Some(vec![(eth, [t + i; 3])]));
        }
        assert_eq!(&*memo.id(&a), &*id_a);
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
