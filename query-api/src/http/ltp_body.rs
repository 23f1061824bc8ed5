//! The body of `GET /api/v1/ltp` and `/api/v1/ltp/cached`, the hot path, written by hand: the
//! `{"ltp":[…]}` envelope around items the cache prepared when each price arrived
//! ([`Entry::write_item`], equal to [`LtpItem`](super::bodies::LtpItem) by test). A pair without
//! a price is rarer and goes through its serde type ([`PairError`]).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use common::Pair;
use salvo::http::StatusCode;

use super::bodies::PairError;
use super::status::Answer;
use crate::cache::{Entry, Lookup, Miss};
use crate::json;
use crate::metrics::{Hits, Metrics};
use crate::params::Rejected;

/// Error text of a pair missing from a read.
const FETCH_ERROR: &str = "Failed to fetch price";

/// How much of a read can be answered: `found` for the valid pairs, and the elements
/// `rejected` with `skip_invalid=true` (asked for, never answered).
pub fn answer(found: &[Lookup], rejected: &[Rejected]) -> Answer {
    Answer::Prices {
        fresh: found.iter().filter(|f| f.is_ok()).count(),
        asked: found.len() + rejected.len(),
    }
}

/// The body of `GET /api/v1/ltp` for the distinct `pairs` asked and what the cache `found` for
/// each, and its status: every pair fresh gives the items sorted by pair; otherwise the fresh
/// ones in request order, then `errors` for the rest, then for the `rejected` elements. Served
/// and missed pairs are counted.
pub fn ltp(
    pairs: &[Pair],
    found: &[Lookup],
    rejected: &[Rejected],
    now_ms: i64,
    metrics: &Metrics,
) -> (StatusCode, Bytes) {
    let status = answer(found, rejected).status();
    let mut out = BytesMut::with_capacity(estimate(found) + 256 * rejected.len());
    out.put_slice(b"{\"ltp\":[");
    let mut hits = metrics.hits();
    if status == StatusCode::OK {
        write_items(&mut out, sorted(found), now_ms, Some(&mut hits));
        out.put_slice(b"]}\n");
        return (status, out.freeze());
    }
    write_items(
        &mut out,
        found.iter().filter_map(|f| f.as_ref().ok()),
        now_ms,
        Some(&mut hits),
    );
    out.put_slice(b"],\"errors\":[");
    let misses = pairs
        .iter()
        .zip(found)
        .filter_map(|(p, f)| f.as_ref().err().map(|m| (*p, *m)));
    let mut first = true;
    for (pair, miss) in misses {
        metrics.price_miss(pair);
        let error = PairError {
            pair: pair.as_str().to_owned(),
            error: FETCH_ERROR.to_owned(),
            code: "PRICE_FETCH_ERROR".to_owned(),
            message: format!(
                "price not available in cache for {pair} (cache-only mode): {}",
                miss.reason()
            ),
            reason: Some(miss.label().to_owned()),
            age_ms: match miss {
                Miss::Stale { age_ms } => Some(age_ms),
                _ => None,
            },
        };
        write_error(&mut out, &mut first, &error);
    }
    for refused in rejected {
        let error = PairError {
            pair: refused.element.clone(),
            error: "Invalid pair".to_owned(),
            code: "INVALID_PARAMETER".to_owned(),
            message: refused.error.to_string(),
            reason: Some("invalid_pair".to_owned()),
            age_ms: None,
        };
        write_error(&mut out, &mut first, &error);
    }
    out.put_slice(b"]}\n");
    (status, out.freeze())
}

fn write_error(out: &mut BytesMut, first: &mut bool, error: &PairError) {
    if !std::mem::take(first) {
        out.put_u8(b',');
    }
    // Into memory, from strings and integers only: cannot fail.
    let _ = json::write((&mut *out).writer(), error);
}

/// `{"ltp":[…]}` with the fresh entries among `found`, sorted (for `/api/v1/ltp/cached`,
/// which counts no hits).
pub fn cached(found: &[Lookup], now_ms: i64) -> Bytes {
    let mut out = BytesMut::with_capacity(estimate(found));
    out.put_slice(b"{\"ltp\":[");
    write_items(&mut out, sorted(found), now_ms, None);
    out.put_slice(b"]}\n");
    out.freeze()
}

/// The fresh entries, sorted by pair (usually already sorted: then one pass).
fn sorted(found: &[Lookup]) -> impl Iterator<Item = &Arc<Entry>> {
    let mut items: Vec<&Arc<Entry>> = found.iter().filter_map(|f| f.as_ref().ok()).collect();
    items.sort_by_key(|e| e.pair());
    items.into_iter()
}

/// Appends comma-separated items, counting each in `hits` when given.
fn write_items<'a>(
    out: &mut BytesMut,
    items: impl Iterator<Item = &'a Arc<Entry>>,
    now_ms: i64,
    mut hits: Option<&mut Hits<'_>>,
) {
    for (i, entry) in items.enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        let age = entry.age_ms(now_ms);
        if let Some(hits) = hits.as_deref_mut() {
            hits.add(entry.pair(), age);
        }
        entry.write_item(out, age);
    }
}

/// Bytes to reserve for a body, so it is written without growing.
fn estimate(found: &[Lookup]) -> usize {
    found
        .iter()
        .map(|f| f.as_ref().map_or(160, |e| e.item_len() + 24))
        .sum::<usize>()
        + 32
}
