//! Conditional reads of `GET /api/v1/ltp`: a weak `ETag` over what an answer states, and
//! `If-None-Match`.
//!
//! The tag covers, for each pair answered in order, either its price item apart from `age_ms`
//! (pair, amount, price, timestamp, exchange_time, source: [`Entry::digest`]) or why it has
//! none (the `reason`, again without an age). So it changes exactly when a returned price or
//! its availability changes, and not every millisecond as `age_ms` does; it is weak because two
//! bodies with the same tag can differ in `age_ms`. The parameters are part of the URL, which
//! every cache keys on, so they need not be in the tag.
//!
//! `Cache-Control: no-cache` goes with it: a cache may keep a copy but must ask again before
//! every use, and the service only confirms (`304`) prices that are still within the TTL and
//! the request's `max_age` — so no cache serves an older price. A copy confirmed that way keeps
//! the `age_ms` of when it was first sent; `timestamp` gives the exact age.

use salvo::Request;
use salvo::http::HeaderValue;
use salvo::http::header::IF_NONE_MATCH;

use crate::cache::{Entry, Lookup, Miss};

/// `Cache-Control` of every price answer.
pub const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The weak tag of an answer: `W/"<16 hex digits>"`.
pub fn of(found: &[Lookup]) -> HeaderValue {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for lookup in found {
        let part = match lookup {
            Ok(entry) => Entry::digest(entry),
            Err(miss) => miss_code(*miss),
        };
        // FxHash's step: order-sensitive and cheap; the parts are already well mixed.
        hash = (hash.rotate_left(5) ^ part).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    let mut text = *b"W/\"0000000000000000\"";
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in text[3..19].iter_mut().enumerate() {
        *byte = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
    }
    // Only ASCII hex digits and quotes: always a valid header value.
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("W/\"0\""))
}

/// A distinct value per reason (not per age: a stale price stays the same statement as it
/// ages), with the top bit set so it cannot collide with small digests by accident.
fn miss_code(miss: Miss) -> u64 {
    let code = match miss {
        Miss::NotFound => 1,
        Miss::Expired => 2,
        Miss::Stale { .. } => 3,
        Miss::Unavailable => 4,
        Miss::Invalid => 5,
    };
    (1 << 63) | code
}

/// Whether the request's `If-None-Match` matches `tag` (weak comparison, as RFC 9110 says:
/// `W/` is ignored on both sides; `*` matches any current answer).
pub fn matches(req: &Request, tag: &HeaderValue) -> bool {
    let ours = opaque(tag.as_bytes());
    req.headers().get_all(IF_NONE_MATCH).iter().any(|value| {
        value
            .as_bytes()
            .split(|b| *b == b',')
            .map(|t| t.trim_ascii())
            .any(|t| t == b"*" || opaque(t) == ours)
    })
}

fn opaque(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use salvo::test::TestClient;

    use super::*;

    fn request(if_none_match: &str) -> Request {
        TestClient::get("http://127.0.0.1/api/v1/ltp")
            .add_header(IF_NONE_MATCH, if_none_match, true)
            .build()
    }

    #[test]
    fn weak_comparison_lists_and_star() {
        let tag = of(&[Err(Miss::NotFound)]);
        let text = tag.to_str().expect("ascii").to_owned();
        assert!(text.starts_with("W/\"") && text.len() == 20, "{text}");
        assert!(matches(&request(&text), &tag));
        assert!(matches(&request(&text[2..]), &tag), "strong form");
        assert!(matches(&request(&format!("\"x\", {text}")), &tag));
        assert!(matches(&request("*"), &tag));
        assert!(!matches(&request("W/\"0000000000000000\""), &tag));
        assert!(!matches(
            &TestClient::get("http://127.0.0.1/").build(),
            &tag
        ));
    }

    #[test]
    fn reasons_count_but_a_stale_price_aging_does_not() {
        let stale = |age_ms| of(&[Err(Miss::Stale { age_ms })]);
        assert_eq!(stale(10), stale(20));
        assert_ne!(stale(10), of(&[Err(Miss::Expired)]));
        assert_ne!(
            of(&[Err(Miss::NotFound), Err(Miss::Expired)]),
            of(&[Err(Miss::Expired), Err(Miss::NotFound)])
        );
    }
}
