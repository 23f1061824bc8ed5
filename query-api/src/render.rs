//! Price bodies, written by hand from the prepared items (see `api.rs` for their types).
//!
//! Bodies end with a newline, as the seed's (Go) encoder wrote them.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use common::Pair;
use salvo::http::StatusCode;

use crate::cache::{Entry, Lookup};
use crate::json;
use crate::metrics::Metrics;

/// Error text of a pair missing from a read.
const FETCH_ERROR: &str = "Failed to fetch price";

/// The body of `GET /api/v1/ltp` and its status: 200 when every pair has a fresh price (sorted
/// by pair), 206 when some do (request order, with `errors`), 503 when none does.
pub fn ltp(
    pairs: &[Pair],
    found: &[Lookup],
    now_ms: i64,
    metrics: &Metrics,
) -> (StatusCode, Bytes) {
    let hits = found.iter().filter(|f| f.is_ok()).count();
    let mut out = BytesMut::with_capacity(estimate(found));
    out.put_slice(b"{\"ltp\":[");
    if hits == pairs.len() {
        let mut items: Vec<&Arc<Entry>> = found.iter().filter_map(|f| f.as_ref().ok()).collect();
        // Usually already sorted (all pairs); sorting a sorted slice is one pass.
        items.sort_by_key(|e| e.pair());
        write_items(&mut out, items.into_iter(), now_ms, metrics);
        out.put_slice(b"]}\n");
        return (StatusCode::OK, out.freeze());
    }
    write_items(
        &mut out,
        found.iter().filter_map(|f| f.as_ref().ok()),
        now_ms,
        metrics,
    );
    out.put_slice(b"],\"errors\":[");
    let mut first = true;
    for (pair, miss) in pairs
        .iter()
        .zip(found)
        .filter_map(|(p, f)| f.as_ref().err().map(|m| (*p, *m)))
    {
        metrics.price_miss(pair);
        if !first {
            out.put_u8(b',');
        }
        first = false;
        let message = format!(
            "price not available in cache for {pair} (cache-only mode): {}",
            miss.reason()
        );
        pair_error(
            &mut out,
            pair.as_str(),
            FETCH_ERROR,
            "PRICE_FETCH_ERROR",
            &message,
            Some(miss.label()),
        );
    }
    out.put_slice(b"]}\n");
    let status = if hits == 0 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::PARTIAL_CONTENT
    };
    (status, out.freeze())
}

/// `{"ltp":[…]}` with the fresh entries among `found`, sorted (for `/api/v1/ltp/cached`).
pub fn cached(found: &[Lookup], now_ms: i64) -> Bytes {
    let mut items: Vec<&Arc<Entry>> = found.iter().filter_map(|f| f.as_ref().ok()).collect();
    items.sort_by_key(|e| e.pair());
    let mut out = BytesMut::with_capacity(estimate(found));
    out.put_slice(b"{\"ltp\":[");
    for (i, entry) in items.into_iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        entry.write_item(&mut out, entry.age_ms(now_ms));
    }
    out.put_slice(b"]}\n");
    out.freeze()
}

/// Appends comma-separated items, counting each as a hit.
pub fn write_items<'a>(
    out: &mut BytesMut,
    items: impl Iterator<Item = &'a Arc<Entry>>,
    now_ms: i64,
    metrics: &Metrics,
) {
    let mut hits = metrics.hits();
    for (i, entry) in items.enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        let age = entry.age_ms(now_ms);
        hits.add(entry.pair(), age);
        entry.write_item(out, age);
    }
}

/// Appends one per-pair error object.
pub fn pair_error(
    out: &mut impl BufMut,
    pair: &str,
    error: &str,
    code: &str,
    message: &str,
    reason: Option<&str>,
) {
    out.put_slice(b"{\"pair\":");
    json::push_str(out, pair);
    out.put_slice(b",\"error\":");
    json::push_str(out, error);
    out.put_slice(b",\"code\":");
    json::push_str(out, code);
    out.put_slice(b",\"message\":");
    json::push_str(out, message);
    if let Some(reason) = reason {
        out.put_slice(b",\"reason\":");
        json::push_str(out, reason);
    }
    out.put_u8(b'}');
}

fn estimate(found: &[Lookup]) -> usize {
    found
        .iter()
        .map(|f| f.as_ref().map_or(160, |e| e.item_len() + 24))
        .sum::<usize>()
        + 32
}
