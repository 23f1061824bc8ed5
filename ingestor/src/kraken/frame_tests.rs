//! Frame parser tests: the real captured frames of docs/kraken-wire.md, and properties on
//! arbitrary input (never panic, never lose a digit).

use proptest::prelude::*;

use super::*;

/// Live BTC/USD tickers captured from Kraken (docs/kraken-wire.md §1.4).
const LIVE_TICKERS: [(&str, &str, &str); 3] = [
    (
        r#"{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":62703.4,"bid_qty":0.0318498,"ask":62710.3,"ask_qty":0.00191335,"last":62702.9,"volume":1947.83637005,"vwap":63392.2,"low":62476.1,"high":64196.6,"change":-239.4,"change_pct":-0.38,"timestamp":"2026-07-08T05:24:41.204829Z"}]}"#,
        "62702.9",
        "2026-07-08T05:24:41.204829Z",
    ),
    (
        r#"{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":60108.6,"bid_qty":2.84311954,"ask":60108.7,"ask_qty":0.00138853,"last":60108.7,"volume":4473.99704028,"vwap":59460.1,"low":58033,"high":61858.8,"change":-1497.7,"change_pct":-2.43,"timestamp":"2026-06-26T06:41:22.476797Z"}]}"#,
        "60108.7",
        "2026-06-26T06:41:22.476797Z",
    ),
    (
        r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":83744.2,"bid_qty":0.56251979,"ask":83744.3,"ask_qty":0.00044780,"last":83744.3,"volume":3156.84782110,"vwap":84174.6,"low":83163.6,"high":85247.4,"change":-429.3,"change_pct":-0.51,"trades":135262,"timestamp":"2026-09-25T17:48:26.844359Z"}]}"#,
        "83744.3",
        "2026-09-25T17:48:26.844359Z",
    ),
];

fn btc_usd() -> Pair {
    Pair::parse("BTC/USD").expect("known")
}

fn one_ticker(text: &str) -> (TickerKind, Pair, Price, Option<jiff::Timestamp>) {
    match parse(text).expect("parses") {
        Frame::Ticker(t) => {
            let items: Vec<_> = t.iter().collect();
            assert_eq!(items.len(), 1, "{text}");
            let item = items[0];
            (
                t.kind,
                item.pair().expect("pair"),
                item.last_price().expect("price"),
                item.exchange_time(),
            )
        }
        other => panic!("not a ticker: {other:?}"),
    }
}

#[test]
fn live_tickers_give_the_exact_last_price_and_time() {
    for (i, (text, last, ts)) in LIVE_TICKERS.iter().enumerate() {
        let (kind, pair, price, time) = one_ticker(text);
        assert_eq!(pair, btc_usd());
        assert_eq!(price.as_str(), *last);
        assert_eq!(time, Some(ts.parse().expect("ts")));
        let expected = if i == 2 {
            TickerKind::Update
        } else {
            TickerKind::Snapshot
        };
        assert_eq!(kind, expected);
    }
}

#[test]
fn integer_literals_and_trailing_zeros_survive_as_written() {
    // The second capture's `low` is the integer literal 58033, the third's `ask_qty`
    // 0.00044780: put them in `last` and they must come out unchanged.
    for (field, literal) in [("low", "58033"), ("ask_qty", "0.00044780")] {
        let (text, _, _) = LIVE_TICKERS[if field == "low" { 1 } else { 2 }];
        assert!(text.contains(&format!("\"{field}\":{literal}")));
        let moved = text.replacen("\"last\":", "\"last_was\":", 1).replacen(
            &format!("\"{field}\":{literal}"),
            &format!("\"last\":{literal}"),
            1,
        );
        let (_, _, price, _) = one_ticker(&moved);
        assert_eq!(price.as_str(), literal);
    }
}

#[test]
fn decimal_strings_are_accepted_too() {
    let text =
        r#"{"channel":"ticker","type":"update","data":[{"symbol":"ETH/USD","last":"3338.08000"}]}"#;
    let (_, pair, price, time) = one_ticker(text);
    assert_eq!(pair.as_str(), "ETH/USD");
    assert_eq!(price.as_str(), "3338.08000");
    assert_eq!(time, None, "timestamp is optional");
}

#[test]
fn doc_and_fixture_tickers_parse() {
    let doc = r#"{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}"#;
    let (_, pair, price, _) = one_ticker(doc);
    assert_eq!((pair.as_str(), price.as_str()), ("ALGO/USD", "0.10035"));
    let fixture = r#"{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":105944.20,"bid_qty":2.5,"ask":105944.30,"ask_qty":3.2,"last":105899.40,"volume":163.28908096,"vwap":105904.39279,"low":104711.00,"high":106613.10,"change":250.00,"change_pct":0.24,"timestamp":"2022-12-25T09:30:59.123456Z"}]}"#;
    assert_eq!(one_ticker(fixture).2.as_str(), "105899.40");
}

#[test]
fn status_frames_keep_connection_ids_above_i64_max() {
    let live = r#"{"channel":"status","type":"update","data":[{"version":"2.0.10","system":"online","api_version":"v2","connection_id":18125794168470749634,"upcoming_maintenance":[],"emergency":[]}]}"#;
    let doc = r#"{"channel":"status","data":[{"api_version":"v2","connection_id":13834774380200032777,"system":"online","version":"2.0.0"}],"type":"update"}"#;
    let other = r#"{"channel":"status","type":"update","data":[{"version":"2.0.10","system":"online","api_version":"v2","connection_id":7974620515126709019}]}"#;
    for (text, id, version) in [
        (live, 18125794168470749634u64, "2.0.10"),
        (doc, 13834774380200032777, "2.0.0"),
        (other, 7974620515126709019, "2.0.10"),
    ] {
        let Frame::Status(s) = parse(text).expect("parses") else {
            panic!("not a status: {text}");
        };
        assert!(s.is_online());
        assert_eq!(s.connection_id, Some(id));
        assert_eq!(s.version.as_deref(), Some(version));
    }
    let maintenance = r#"{"channel":"status","type":"update","data":[{"system":"maintenance"}]}"#;
    let Frame::Status(s) = parse(maintenance).expect("parses") else {
        panic!("status");
    };
    assert!(!s.is_online());
    assert_eq!(s.connection_id, None);
}

#[test]
fn acks_report_symbol_success_and_errors() {
    let cases = [
        // doc example, no event_trigger
        (
            r#"{"method":"subscribe","result":{"channel":"ticker","snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#,
            true,
            Some("ALGO/USD"),
            None,
            None,
        ),
        // live, with event_trigger and req_id
        (
            r#"{"method":"subscribe","req_id":69,"result":{"channel":"ticker","event_trigger":"trades","snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2025-04-27T15:38:26.540456Z","time_out":"2025-04-27T15:38:26.540489Z"}"#,
            true,
            Some("BTC/USD"),
            None,
            Some(69),
        ),
        // error acks: no result, top-level symbol echo, error is a string
        (
            r#"{"error":"Currency pair not supported xxx/USD","method":"subscribe","req_id":69,"success":false,"symbol":"xxx/USD","time_in":"2025-04-27T15:37:48.652299Z","time_out":"2025-04-27T15:37:48.652337Z"}"#,
            false,
            Some("xxx/USD"),
            Some("Currency pair not supported xxx/USD"),
            Some(69),
        ),
        (
            r#"{"error":"Currency pair not supported XBT/USD","method":"subscribe","success":false,"symbol":"XBT/USD","time_in":"2026-09-25T17:48:54.701041Z","time_out":"2026-09-25T17:48:54.701062Z"}"#,
            false,
            Some("XBT/USD"),
            Some("Currency pair not supported XBT/USD"),
            None,
        ),
        (
            r#"{"error":"Already subscribed","method":"subscribe","req_id":2,"success":false,"symbol":"BTC/USD","time_in":"2025-12-20T07:39:28.809188Z","time_out":"2025-12-20T07:39:28.809200Z"}"#,
            false,
            Some("BTC/USD"),
            Some("Already subscribed"),
            Some(2),
        ),
        // no symbol at all
        (
            r#"{"error":"Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com","method":"subscribe","success":false,"time_in":"2026-09-25T17:58:01.484193Z","time_out":"2026-09-25T17:58:01.484212Z"}"#,
            false,
            None,
            Some(
                "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com",
            ),
            None,
        ),
        // unsubscribe ack
        (
            r#"{"method":"unsubscribe","result":{"channel":"ticker","event_trigger":"trades","symbol":"ALGO/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#,
            true,
            Some("ALGO/USD"),
            None,
            None,
        ),
    ];
    for (text, success, symbol, error, req_id) in cases {
        let Frame::Ack(ack) = parse(text).expect("parses") else {
            panic!("not an ack: {text}");
        };
        assert_eq!(ack.success, success, "{text}");
        assert_eq!(ack.symbol.as_deref(), symbol, "{text}");
        assert_eq!(ack.error.as_deref(), error, "{text}");
        assert_eq!(ack.req_id, req_id, "{text}");
        assert!(
            ack.time_out.is_some(),
            "every captured ack has time_out: {text}"
        );
    }
}

#[test]
fn ack_success_must_be_the_literal_true() {
    for success in [r#""true""#, "1", "null"] {
        let text = format!(r#"{{"method":"subscribe","success":{success},"symbol":"BTC/USD"}}"#);
        let Frame::Ack(ack) = parse(&text).expect("parses") else {
            panic!("ack");
        };
        assert!(!ack.success, "{text}");
    }
    let Frame::Ack(ack) = parse(r#"{"method":"subscribe","symbol":"BTC/USD"}"#).expect("parses")
    else {
        panic!("ack");
    };
    assert!(!ack.success, "absent success is a failure");
}

#[test]
fn ack_error_kinds() {
    let ack = |e: &str| Ack {
        method: "subscribe".into(),
        success: false,
        symbol: None,
        error: Some(e.to_owned().into()),
        req_id: None,
        time_out: None,
    };
    assert!(ack("Already subscribed").already_subscribed());
    assert!(ack("Exceeded msg rate").rate_limited());
    assert!(!ack("Currency pair not supported XBT/USD").rate_limited());
}

#[test]
fn heartbeat_and_pongs() {
    assert!(matches!(
        parse(r#"{"channel":"heartbeat"}"#),
        Ok(Frame::Heartbeat)
    ));
    for (text, id, out) in [
        (
            r#"{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}"#,
            Some(101),
            Some("2023-09-24T14:10:23.799703Z"),
        ),
        (
            r#"{"method":"pong","req_id":42,"time_in":"2023-09-25T09:05:00.123456Z","time_out":"2023-09-25T09:05:00.123500Z"}"#,
            Some(42),
            Some("2023-09-25T09:05:00.1235Z"),
        ),
        (r#"{"method":"pong"}"#, None, None),
        (r#"{"method":"pong","time_out":12}"#, None, None),
    ] {
        match parse(text) {
            Ok(Frame::Pong { req_id, time_out }) => {
                assert_eq!(req_id, id);
                assert_eq!(time_out.map(|t| t.to_string()).as_deref(), out);
            }
            other => panic!("not a pong: {other:?}"),
        }
    }
}

#[test]
fn unknown_channels_methods_and_shapes_are_other() {
    for text in [
        r#"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":1}]}"#,
        r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[]}}"#,
        r#"{"channel":"ticker","type":"delta","data":[]}"#,
        r#"{"channel":"ticker"}"#,
        r#"{"method":"edit_order","success":true}"#,
        r#"{}"#,
        r#"[0,{"c":["5525.10000","0.00398963"]},"ticker","XBT/USD"]"#,
        r#""just a string""#,
        "42",
        "null",
        r#"{"event":"heartbeat"}"#,
    ] {
        assert!(
            matches!(parse(text), Ok(Frame::Other)),
            "{text}: {:?}",
            parse(text)
        );
    }
}

#[test]
fn malformed_text_is_an_error_not_a_panic() {
    for text in [
        "",
        "{",
        "not json",
        r#"{"channel":"ticker","type":"update","data":[{"symbol":1}]}"#,
        r#"{"channel":"ticker","type":"update","data":{"symbol":"BTC/USD"}}"#,
        r#"{"channel":"status","channel":"status"}"#,
        r#"{"channel":5}"#,
    ] {
        assert!(parse(text).is_err(), "{text}: {:?}", parse(text));
    }
}

#[test]
fn ticker_items_without_a_usable_price_say_why() {
    let text = r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD"},{"symbol":"XBT/USD","last":1},{"symbol":"ETH/USD","last":-1},{"symbol":"ETH/USD","last":0},{"symbol":"ETH/USD","last":"abc"},{"symbol":"ETH/USD","last":[1]}]}"#;
    let Ok(Frame::Ticker(t)) = parse(text) else {
        panic!("ticker");
    };
    let items: Vec<_> = t.iter().collect();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0].last_price(), Err(TickerError::NoLast));
    assert!(matches!(
        items[1].pair(),
        Err(TickerError::UnknownSymbol(_))
    ));
    assert!(matches!(
        items[2].last_price(),
        Err(TickerError::BadPrice(PriceError::Malformed(_)))
    ));
    assert_eq!(
        items[3].last_price(),
        Err(TickerError::BadPrice(PriceError::Zero))
    );
    assert!(items[4].last_price().is_err());
    assert!(items[5].last_price().is_err());
}

#[test]
fn escaped_strings_are_decoded() {
    let text = r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC\/USD","last":"1.5","timestamp":"2026-01-01T00:00:00Z"}]}"#;
    let (_, pair, price, time) = one_ticker(text);
    assert_eq!((pair, price.as_str()), (btc_usd(), "1.5"));
    assert!(time.is_some());
}

#[test]
fn subscribe_and_ping_requests() {
    let symbols = ["BTC/USD", "ETH/USD"];
    assert_eq!(
        Subscribe::ticker(&symbols, "trades", 7).to_json(),
        r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"],"event_trigger":"trades","snapshot":true},"req_id":7}"#
    );
    assert_eq!(ping(3), r#"{"method":"ping","req_id":3}"#);
}

/// A JSON number literal as Kraken could write it: integer or fraction, trailing zeros kept.
fn decimal_literal() -> impl Strategy<Value = String> {
    ("[1-9][0-9]{0,12}|0", proptest::option::of("[0-9]{1,12}")).prop_filter_map(
        "non-zero",
        |(int, frac)| {
            let text = match frac {
                Some(f) => format!("{int}.{f}"),
                None => int,
            };
            text.bytes()
                .any(|b| (b'1'..=b'9').contains(&b))
                .then_some(text)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn never_panics_on_arbitrary_text(text in ".{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_json_like_text(text in r#"[{}\[\]":,a-z0-9._/ -]{0,200}"#) {
        if let Ok(Frame::Ticker(t)) = parse(&text) {
            for item in t.iter() {
                let _ = (item.pair(), item.last_price(), item.exchange_time());
            }
        }
    }

    #[test]
    fn never_panics_on_damaged_real_frames(
        which in 0usize..3,
        cut in 0usize..400,
        pos in 0usize..400,
        byte in proptest::char::range(' ', '~'),
    ) {
        let original = LIVE_TICKERS[which].0;
        let mut text: String = original.chars().take(cut.max(1)).collect();
        if pos < text.len() && text.is_char_boundary(pos) && text.is_char_boundary(pos + 1) {
            text.replace_range(pos..pos + 1, &byte.to_string());
        }
        if let Ok(Frame::Ticker(t)) = parse(&text) {
            for item in t.iter() {
                let _ = (item.pair(), item.last_price(), item.exchange_time());
            }
        }
    }

    #[test]
    fn last_price_keeps_every_digit(
        last in decimal_literal(),
        as_string in any::<bool>(),
        with_time in any::<bool>(),
        extra in "[a-z_]{1,10}",
        extra_value in decimal_literal(),
    ) {
        let token = if as_string { format!("\"{last}\"") } else { last.clone() };
        let time = if with_time { r#","timestamp":"2026-09-25T17:48:26.844359Z""# } else { "" };
        let text = format!(
            r#"{{"channel":"ticker","type":"update","data":[{{"symbol":"BTC/USD","{extra}x":{extra_value},"last":{token}{time}}}]}}"#
        );
        let (_, pair, price, ts) = one_ticker(&text);
        prop_assert_eq!(pair, btc_usd());
        prop_assert_eq!(price.as_str(), last.as_str());
        prop_assert_eq!(ts.is_some(), with_time);
    }

    #[test]
    fn connection_ids_keep_every_digit(id in any::<u64>()) {
        let text = format!(r#"{{"channel":"status","type":"update","data":[{{"system":"online","connection_id":{id}}}]}}"#);
        let Ok(Frame::Status(s)) = parse(&text) else { panic!("status") };
        prop_assert_eq!(s.connection_id, Some(id));
    }
}
