//! Kraken's public REST endpoints (`/0/public/Ticker`, `AssetPairs`, `SystemStatus`, `Time`)
//! with the shapes of `docs/kraken-wire.md` §3, and the REST faults.
//!
//! Application errors come back as HTTP 200 with an `error` array and no `result`, as Kraken
//! does; only "edge" faults use other HTTP statuses.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use common::Pair;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::response::{json_response, text_response};
use crate::decimal::Decimal;
use crate::exchange::state::{Shared, lock};
use crate::faults::RestFault;
use crate::market::{LOT_DECIMALS, MarketState, Profile, asset_id};
use crate::stats::Endpoint;

pub const UNKNOWN_PAIR: &str = "EQuery:Unknown asset pair";

/// Answers one request under `/0/`.
pub(crate) fn handle(path: &str, query: Option<&str>, shared: &Shared) -> Response<Full<Bytes>> {
    let endpoint = Endpoint::from_path(path);
    shared.counters.rest_request(endpoint);
    let fault = lock(&shared.rest_fault).clone();
    match fault {
        Some(RestFault::Http(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            return text_response(status, format!("error code: {code}\n"));
        }
        Some(fault) => return errors(fault.error_text().unwrap_or("EGeneral:Internal error")),
        None => {}
    }
    if let Some(bucket) = lock(&shared.rest_limit).as_mut()
        && !bucket.take(Instant::now())
    {
        return errors("EGeneral:Too many requests");
    }
    let pairs = query
        .map(|q| form_urlencoded::parse(q.as_bytes()))
        .and_then(|mut params| {
            params
                .find(|(k, _)| k == "pair")
                .map(|(_, v)| v.into_owned())
        });
    match endpoint {
        Endpoint::Ticker => match resolve(pairs.as_deref(), shared, true) {
            Ok(list) => {
                let result: BTreeMap<String, Ticker> = list
                    .into_iter()
                    .map(|(key, pair)| (key, ticker(&lock(&shared.markets[pair.index()]))))
                    .collect();
                ok(&result)
            }
            Err(text) => errors(text),
        },
        Endpoint::AssetPairs => match resolve(pairs.as_deref(), shared, false) {
            Ok(list) => {
                let result: BTreeMap<String, AssetPair> = list
                    .into_iter()
                    .map(|(key, pair)| (key, asset_pair(pair)))
                    .collect();
                ok(&result)
            }
            Err(text) => errors(text),
        },
        Endpoint::SystemStatus => {
            #[derive(Serialize)]
            struct Status {
                status: &'static str,
                timestamp: String,
            }
            let system = shared.faults.borrow().system;
            ok(&Status {
                status: system.as_str(),
                timestamp: shared.clock.now().seconds(),
            })
        }
        Endpoint::Time => {
            #[derive(Serialize)]
            struct Time {
                unixtime: i64,
                rfc1123: String,
            }
            let now = shared.clock.now();
            ok(&Time {
                unixtime: now.unix_seconds(),
                rfc1123: now.rfc1123(),
            })
        }
        Endpoint::Other => {
            let body = json!({ "error": ["EGeneral:Unknown method"] });
            json_response(StatusCode::NOT_FOUND, &body)
        }
    }
}

/// Resolves a `pair=` list to (result key, pair). Accepted names: the AssetPairs key
/// (`XXBTZUSD`), the altname (`XBTUSD`), and the `BASE/QUOTE` symbol (`BTC/USD`). Results
/// are keyed by the AssetPairs key, except that a `BASE/QUOTE` name is echoed as sent when
/// `echo_symbols` (what newer Kraken captures show for Ticker). One unknown name fails the
/// whole request. No `pair` (or an empty one) means every offered pair.
fn resolve(
    list: Option<&str>,
    shared: &Shared,
    echo_symbols: bool,
) -> Result<BTreeMap<String, Pair>, &'static str> {
    let list = list.map(str::trim).unwrap_or("");
    if list.is_empty() {
        return Ok(shared
            .offered_pairs()
            .map(|p| (p.market().rest_key.to_owned(), p))
            .collect());
    }
    list.split(',')
        .map(str::trim)
        .map(|name| {
            let (pair, key) = if name.contains('/') {
                let pair = Pair::from_symbol(name).ok_or(UNKNOWN_PAIR)?;
                let key = if echo_symbols {
                    name
                } else {
                    pair.market().rest_key
                };
                (pair, key)
            } else {
                let pair = Pair::from_rest_name(name).ok_or(UNKNOWN_PAIR)?;
                (pair, pair.market().rest_key)
            };
            if shared.offered[pair.index()] {
                Ok((key.to_owned(), pair))
            } else {
                Err(UNKNOWN_PAIR)
            }
        })
        .collect()
}

/// One `Ticker` entry, fields in Kraken's order; every number is a string except `t`.
#[derive(Serialize)]
struct Ticker {
    a: [String; 3],
    b: [String; 3],
    c: [String; 2],
    v: [String; 2],
    p: [String; 2],
    t: [u64; 2],
    l: [String; 2],
    h: [String; 2],
    o: String,
}

/// One `Ticker` entry with prices padded to the REST precision.
fn ticker(m: &MarketState) -> Ticker {
    let places = m.profile.rest_decimals();
    let price = |d: Decimal| pad(d, places);
    let qty = |d: Decimal| d.to_string();
    let (today_volume, today_trades) = (
        Decimal::from_i128_with_scale(m.volume.mantissa() / 4 * 3, LOT_DECIMALS),
        m.trades / 4 * 3,
    );
    Ticker {
        a: [price(m.ask), whole_lot(m.ask_qty), lot(m.ask_qty)],
        b: [price(m.bid), whole_lot(m.bid_qty), lot(m.bid_qty)],
        c: [price(m.last), qty(m.last_qty)],
        v: [qty(today_volume), qty(m.volume)],
        p: [price(m.vwap), price(m.vwap)],
        t: [today_trades, m.trades],
        l: [price(m.low), price(m.low)],
        h: [price(m.high), price(m.high)],
        o: price(m.open),
    }
}

/// `d` with at least `places` decimals (more if it was injected with more).
fn pad(d: Decimal, places: u32) -> String {
    let mut padded = d;
    padded.rescale(places.max(d.scale()));
    padded.to_string()
}

/// Whole-lot volume of a book level: the integer part, at least 1 (`"1"`, `"246"`).
fn whole_lot(qty: Decimal) -> String {
    qty.trunc().max(Decimal::ONE).to_string()
}

/// Lot volume with three decimals, as in the captures (`"1.000"`, `"246.000"`).
fn lot(qty: Decimal) -> String {
    let mut lot = qty.trunc().max(Decimal::ONE);
    lot.rescale(3);
    lot.to_string()
}

/// An AssetPairs row in the key order of the 2026 capture.
#[derive(Serialize)]
struct AssetPair {
    altname: &'static str,
    wsname: &'static str,
    aclass_base: &'static str,
    base: String,
    aclass_quote: &'static str,
    quote: String,
    lot: &'static str,
    cost_decimals: u32,
    pair_decimals: u32,
    lot_decimals: u32,
    lot_multiplier: u8,
    leverage_buy: [u8; 0],
    leverage_sell: [u8; 0],
    fees: [u8; 0],
    fees_maker: [u8; 0],
    fee_volume_currency: &'static str,
    margin_call: u8,
    margin_stop: u8,
    ordermin: String,
    costmin: &'static str,
    tick_size: String,
    status: &'static str,
    execution_venue: &'static str,
}

fn asset_pair(pair: Pair) -> AssetPair {
    let market = pair.market();
    let profile = Profile::of(market);
    AssetPair {
        altname: market.rest_altname,
        wsname: market.ws_v1_name,
        aclass_base: "currency",
        base: asset_id(market.base),
        aclass_quote: "currency",
        quote: asset_id(market.quote),
        lot: "unit",
        cost_decimals: profile.cost_decimals(),
        pair_decimals: profile.pair_decimals(),
        lot_decimals: LOT_DECIMALS,
        lot_multiplier: 1,
        leverage_buy: [],
        leverage_sell: [],
        fees: [],
        fees_maker: [],
        fee_volume_currency: "ZUSD",
        margin_call: 80,
        margin_stop: 40,
        ordermin: profile.ordermin().to_string(),
        costmin: "0.5",
        tick_size: profile.tick_size().to_string(),
        status: "online",
        execution_venue: "international",
    }
}

/// `{"error":[],"result":…}` at HTTP 200.
fn ok<T: Serialize>(result: &T) -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        error: [u8; 0],
        result: &'a T,
    }
    json_response(StatusCode::OK, &Envelope { error: [], result })
}

fn errors(text: &str) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, &json!({ "error": [text] }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_numbers_are_padded_strings() {
        assert_eq!(pad(Decimal::new(627029, 1), 5), "62702.90000");
        assert_eq!(pad(Decimal::new(1, 7), 7), "0.0000001");
        assert_eq!(
            pad(crate::decimal::parse("1.123456789").expect("d"), 5),
            "1.123456789"
        );
        assert_eq!(whole_lot(Decimal::new(24_600_000_000, 8)), "246");
        assert_eq!(lot(Decimal::new(24_600_000_000, 8)), "246.000");
        assert_eq!(whole_lot(Decimal::new(4_478, 8)), "1");
        assert_eq!(lot(Decimal::new(4_478, 8)), "1.000");
    }
}
