//! The exact WS v2 frames the simulator sends, shaped like the captures in
//! `docs/kraken-wire.md` §1.
//!
//! Ticker messages are written by hand: their numbers must be raw decimal text (trailing zeros,
//! integer literals) and they are the hot path. Acks and pongs go through serde; their keys are
//! declared alphabetically because that is the order Kraken sends them in.

use serde::Serialize;

use super::clock::Stamp;
use crate::decimal;
use crate::faults::SystemStatus;
use crate::market::MarketState;

/// `{"channel":"heartbeat"}`.
pub const HEARTBEAT: &str = r#"{"channel":"heartbeat"}"#;

/// Version string of the simulated WebSocket service (the 2026 captures say `2.0.10`).
pub const WS_VERSION: &str = "2.0.10";

/// Ticker `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickerKind {
    /// Sent once after a subscription with `snapshot:true`.
    Snapshot,
    /// Sent on each trade.
    Update,
}

/// Appends one ticker message for the current state of `m`.
pub fn write_ticker(
    out: &mut Vec<u8>,
    kind: TickerKind,
    m: &MarketState,
    at: Stamp,
    trades_field: bool,
) {
    out.extend_from_slice(br#"{"channel":"ticker","type":""#);
    out.extend_from_slice(match kind {
        TickerKind::Snapshot => b"snapshot",
        TickerKind::Update => b"update",
    });
    out.extend_from_slice(br#"","data":[{"symbol":""#);
    // Table symbols are plain ASCII (`BTC/USD`): nothing to escape.
    out.extend_from_slice(m.pair.as_str().as_bytes());
    out.extend_from_slice(br#"","bid":"#);
    decimal::write_normalized(out, m.bid);
    out.extend_from_slice(br#","bid_qty":"#);
    decimal::write(out, m.bid_qty);
    out.extend_from_slice(br#","ask":"#);
    decimal::write_normalized(out, m.ask);
    out.extend_from_slice(br#","ask_qty":"#);
    decimal::write(out, m.ask_qty);
    out.extend_from_slice(br#","last":"#);
    if m.last_injected {
        decimal::write(out, m.last);
    } else {
        decimal::write_normalized(out, m.last);
    }
    out.extend_from_slice(br#","volume":"#);
    decimal::write(out, m.volume);
    out.extend_from_slice(br#","vwap":"#);
    decimal::write_normalized(out, m.vwap);
    out.extend_from_slice(br#","low":"#);
    decimal::write_normalized(out, m.low);
    out.extend_from_slice(br#","high":"#);
    decimal::write_normalized(out, m.high);
    out.extend_from_slice(br#","change":"#);
    decimal::write_normalized(out, m.change());
    out.extend_from_slice(br#","change_pct":"#);
    decimal::write_normalized(out, m.change_pct());
    if trades_field {
        out.extend_from_slice(br#","trades":"#);
        out.extend_from_slice(m.trades.to_string().as_bytes());
    }
    out.extend_from_slice(br#","timestamp":""#);
    at.write_micros(out);
    out.extend_from_slice(br#""}]}"#);
}

/// The `status` message sent on connect and on every engine status change.
pub fn status(system: SystemStatus, connection_id: u64) -> String {
    format!(
        r#"{{"channel":"status","type":"update","data":[{{"api_version":"v2","connection_id":{connection_id},"system":"{}","version":"{WS_VERSION}"}}]}}"#,
        system.as_str()
    )
}

/// `result` of a successful subscribe/unsubscribe ack.
#[derive(Debug, Serialize)]
pub struct AckResult<'a> {
    /// Always `ticker` here.
    pub channel: &'a str,
    /// `trades` or `bbo`.
    pub event_trigger: &'a str,
    /// Present on subscribe acks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<bool>,
    /// The symbol this ack is about.
    pub symbol: &'a str,
}

/// A reply to a request: subscribe/unsubscribe acks (one per symbol), errors and pongs.
/// Fields are in Kraken's (alphabetical) order; absent ones are omitted.
#[derive(Debug, Serialize)]
pub struct Reply<'a> {
    /// Error text (a string, not an array) when `success` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// `subscribe`, `unsubscribe` or `pong`; absent when the request had no usable method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    /// The request's `req_id`, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub req_id: Option<&'a serde_json::Number>,
    /// Success details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<AckResult<'a>>,
    /// Absent on pongs, which carry no `success` in the captures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Top-level symbol echo on per-symbol errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<&'a str>,
    /// When the request was received.
    pub time_in: &'a str,
    /// When this reply was written.
    pub time_out: &'a str,
}

impl Reply<'_> {
    /// The JSON text.
    pub fn to_text(&self) -> String {
        // Serialising a struct of strings, bools and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Pair;

    #[test]
    fn ticker_numbers_are_raw_decimal_text() {
        let mut m = MarketState::new(Pair::parse("BTC/USD").expect("pair"), 1);
        m.trade(Some(crate::decimal::parse("58033.0").expect("p")));
        m.last_injected = false;
        m.low = crate::decimal::parse("58033.0").expect("low");
        m.bid_qty = crate::decimal::parse("0.00044780").expect("qty");
        let mut out = Vec::new();
        write_ticker(&mut out, TickerKind::Update, &m, Stamp::now(), true);
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.starts_with(
                r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":"#
            ),
            "{text}"
        );
        assert!(text.contains(r#""last":58033,"#), "{text}");
        assert!(text.contains(r#""low":58033,"#), "{text}");
        assert!(text.contains(r#""bid_qty":0.00044780,"#), "{text}");
        assert!(text.contains(r#","trades":"#), "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["data"][0]["symbol"], "BTC/USD");
        assert!(value["data"][0]["timestamp"].is_string());
    }

    #[test]
    fn status_has_the_captured_shape_with_a_u64_connection_id() {
        let text = status(SystemStatus::Online, 13_834_774_380_200_032_777);
        assert_eq!(
            text,
            r#"{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":13834774380200032777,"system":"online","version":"2.0.10"}]}"#
        );
    }

    #[test]
    fn replies_use_alphabetical_keys_and_omit_absent_fields() {
        let req_id = serde_json::Number::from(69u64);
        let ok = Reply {
            error: None,
            method: Some("subscribe"),
            req_id: Some(&req_id),
            result: Some(AckResult {
                channel: "ticker",
                event_trigger: "trades",
                snapshot: Some(true),
                symbol: "BTC/USD",
            }),
            success: Some(true),
            symbol: None,
            time_in: "2025-04-27T15:38:26.540456Z",
            time_out: "2025-04-27T15:38:26.540489Z",
        };
        assert_eq!(
            ok.to_text(),
            r#"{"method":"subscribe","req_id":69,"result":{"channel":"ticker","event_trigger":"trades","snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2025-04-27T15:38:26.540456Z","time_out":"2025-04-27T15:38:26.540489Z"}"#
        );
        let err = Reply {
            error: Some("Currency pair not supported XBT/USD"),
            method: Some("subscribe"),
            req_id: None,
            result: None,
            success: Some(false),
            symbol: Some("XBT/USD"),
            time_in: "2026-09-25T17:48:54.701041Z",
            time_out: "2026-09-25T17:48:54.701062Z",
        };
        assert_eq!(
            err.to_text(),
            r#"{"error":"Currency pair not supported XBT/USD","method":"subscribe","success":false,"symbol":"XBT/USD","time_in":"2026-09-25T17:48:54.701041Z","time_out":"2026-09-25T17:48:54.701062Z"}"#
        );
    }
}
