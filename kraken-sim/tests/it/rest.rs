//! REST over real HTTP: Ticker keys and shapes, unknown pairs, AssetPairs, SystemStatus, Time,
//! REST faults and counters.

use std::time::Duration;

use kraken_sim::decimal;
use kraken_sim::{Endpoint, RestFault, RestLimit};
use serde_json::Value;

use crate::client::{is_decimal_literal, keys, manual, start};

async fn get(sim: &kraken_sim::Simulator, path: &str) -> (u16, String) {
    let res = reqwest::get(format!("{}{path}", sim.rest_url()))
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

async fn get_json(sim: &kraken_sim::Simulator, path: &str) -> Value {
    let (status, body) = get(sim, path).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

fn assert_ticker_shape(entry: &Value) {
    assert_eq!(keys(entry), ["a", "b", "c", "h", "l", "o", "p", "t", "v"]);
    for (key, len) in [
        ("a", 3),
        ("b", 3),
        ("c", 2),
        ("v", 2),
        ("p", 2),
        ("l", 2),
        ("h", 2),
    ] {
        let items = entry[key].as_array().expect(key);
        assert_eq!(items.len(), len, "{key}");
        for item in items {
            let text = item
                .as_str()
                .unwrap_or_else(|| panic!("{key} holds strings: {entry}"));
            assert!(is_decimal_literal(text), "{key}: {text}");
        }
    }
    assert!(entry["t"][0].is_u64() && entry["t"][1].is_u64(), "{entry}");
    assert!(is_decimal_literal(
        entry["o"].as_str().expect("o is a string")
    ));
}

#[tokio::test]
async fn ticker_is_keyed_by_the_asset_pairs_key() {
    let sim = start(manual(&["BTC/CHF", "BTC/USD", "DOGE/USD", "ETH/USD"])).await;
    let body = get_json(&sim, "/0/public/Ticker?pair=XBTCHF,XDGUSD,XBTUSD,XETHZUSD").await;
    assert_eq!(body["error"], serde_json::json!([]));
    let result = &body["result"];
    assert_eq!(keys(result), ["XBTCHF", "XDGUSD", "XETHZUSD", "XXBTZUSD"]);
    for key in ["XBTCHF", "XDGUSD", "XETHZUSD", "XXBTZUSD"] {
        assert_ticker_shape(&result[key]);
    }
    // Prices are padded to at least five decimals, like Kraken's REST.
    let btc = result["XXBTZUSD"]["c"][0].as_str().expect("c0");
    assert_eq!(btc.split('.').nth(1).map(str::len), Some(5), "{btc}");
    let doge = result["XDGUSD"]["c"][0].as_str().expect("c0");
    assert_eq!(doge.split('.').nth(1).map(str::len), Some(7), "{doge}");
    // No pair means every offered pair.
    let all = get_json(&sim, "/0/public/Ticker").await;
    assert_eq!(keys(&all["result"]).len(), 4);
}

#[tokio::test]
async fn ticker_last_is_the_price_the_ws_side_reports() {
    let sim = start(manual(&["BTC/USD"])).await;
    let report = sim
        .control()
        .trade_now("BTC/USD", Some("64123.4"))
        .await
        .expect("trade");
    let body = get_json(&sim, "/0/public/Ticker?pair=XXBTZUSD").await;
    let c0 = body["result"]["XXBTZUSD"]["c"][0].as_str().expect("c0");
    assert_eq!(c0, "64123.40000");
    let ws = decimal::parse(&report.price).expect("ws price");
    let rest = decimal::parse(c0).expect("rest price");
    assert_eq!(ws.cmp(&rest), std::cmp::Ordering::Equal);
    assert_eq!(
        sim.control().last_price("BTC/USD").as_deref(),
        Some("64123.4")
    );
}

#[tokio::test]
async fn base_quote_names_are_accepted_and_echoed() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    let body = get_json(&sim, "/0/public/Ticker?pair=BTC/USD,ETHUSD").await;
    assert_eq!(keys(&body["result"]), ["BTC/USD", "XETHZUSD"]);
    let encoded = get_json(&sim, "/0/public/Ticker?pair=BTC%2FUSD").await;
    assert_eq!(keys(&encoded["result"]), ["BTC/USD"]);
}

#[tokio::test]
async fn one_unknown_pair_fails_the_whole_request_at_http_200() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    for pairs in [
        "XBTUSD,DOGEMOON",
        "NOPE",
        "XBT/USD",
        "XBTUSD,XDGUSD", // in the table, not offered here
        "xbtusd",
    ] {
        let (status, body) = get(&sim, &format!("/0/public/Ticker?pair={pairs}")).await;
        assert_eq!(status, 200, "{pairs}");
        assert_eq!(
            body, r#"{"error":["EQuery:Unknown asset pair"]}"#,
            "{pairs}"
        );
    }
}

#[tokio::test]
async fn asset_pairs_lists_every_name_and_the_precision() {
    let sim = start(manual(&["BTC/CHF", "BTC/USD", "DOGE/USD", "SOL/USD"])).await;
    let body = get_json(&sim, "/0/public/AssetPairs").await;
    let result = &body["result"];
    assert_eq!(keys(result), ["SOLUSD", "XBTCHF", "XDGUSD", "XXBTZUSD"]);
    let btc = &result["XXBTZUSD"];
    assert_eq!(btc["altname"], "XBTUSD");
    assert_eq!(btc["wsname"], "XBT/USD");
    assert_eq!(btc["base"], "XXBT");
    assert_eq!(btc["quote"], "ZUSD");
    assert_eq!(btc["pair_decimals"], 1);
    assert_eq!(btc["tick_size"], "0.1");
    assert_eq!(btc["lot_decimals"], 8);
    let doge = &result["XDGUSD"];
    assert_eq!(
        (
            &doge["altname"],
            &doge["wsname"],
            &doge["base"],
            &doge["quote"]
        ),
        (
            &"XDGUSD".into(),
            &"XDG/USD".into(),
            &"XXDG".into(),
            &"ZUSD".into()
        )
    );
    assert_eq!(doge["pair_decimals"], 7);
    assert_eq!(doge["cost_decimals"], 9);
    assert_eq!(doge["tick_size"], "0.0000001");
    assert_eq!(doge["ordermin"], "50");
    assert_eq!(result["XBTCHF"]["quote"], "CHF");
    assert_eq!(result["SOLUSD"]["base"], "SOL");
    assert_eq!(result["SOLUSD"]["status"], "online");
    let filtered = get_json(&sim, "/0/public/AssetPairs?pair=XBTUSD,BTC/CHF").await;
    assert_eq!(keys(&filtered["result"]), ["XBTCHF", "XXBTZUSD"]);
    let (_, unknown) = get(&sim, "/0/public/AssetPairs?pair=XBTUSD,FOO").await;
    assert_eq!(unknown, r#"{"error":["EQuery:Unknown asset pair"]}"#);
}

#[tokio::test]
async fn system_status_and_time_have_krakens_shapes() {
    let sim = start(manual(&["BTC/USD"])).await;
    let status = get_json(&sim, "/0/public/SystemStatus").await;
    assert_eq!(status["error"], serde_json::json!([]));
    assert_eq!(status["result"]["status"], "online");
    let ts = status["result"]["timestamp"].as_str().expect("timestamp");
    assert_eq!(ts.len(), 20, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    let (_, raw) = get(&sim, "/0/public/Time").await;
    assert!(
        raw.starts_with(r#"{"error":[],"result":{"unixtime":"#),
        "{raw}"
    );
    let time = get_json(&sim, "/0/public/Time").await;
    let unix = time["result"]["unixtime"].as_i64().expect("unixtime");
    assert!(unix > 1_700_000_000);
    let rfc = time["result"]["rfc1123"].as_str().expect("rfc1123");
    assert!(rfc.ends_with(" +0000") && rfc.len() == 29, "{rfc}");
    let (status, body) = get(&sim, "/0/public/Nope").await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":["EGeneral:Unknown method"]}"#)
    );
}

#[tokio::test]
async fn rest_faults_answer_like_kraken_and_its_edge() {
    let sim = start(manual(&["BTC/USD"])).await;
    let control = sim.control();
    let path = "/0/public/Ticker?pair=XBTUSD";
    control.set_rest_fault(Some(RestFault::TooManyRequests));
    assert_eq!(
        get(&sim, path).await,
        (
            200,
            r#"{"error":["EGeneral:Too many requests"]}"#.to_owned()
        )
    );
    control.set_rest_fault(Some(RestFault::Unavailable));
    assert_eq!(
        get(&sim, "/0/public/Time").await,
        (200, r#"{"error":["EService:Unavailable"]}"#.to_owned())
    );
    control.set_rest_fault(Some(RestFault::Error("EService:Busy".into())));
    assert_eq!(
        get(&sim, path).await,
        (200, r#"{"error":["EService:Busy"]}"#.to_owned())
    );
    for code in [429, 502, 503, 520] {
        control.set_rest_fault(Some(RestFault::Http(code)));
        let (status, body) = get(&sim, path).await;
        assert_eq!(status, code);
        assert!(
            serde_json::from_str::<Value>(&body).is_err(),
            "edge bodies are not Kraken JSON"
        );
    }
    control.set_rest_fault(None);
    assert_eq!(get(&sim, path).await.0, 200);
    assert!(get_json(&sim, path).await["result"]["XXBTZUSD"].is_object());
}

#[tokio::test]
async fn the_rest_limit_throttles_bursts() {
    let sim = start(manual(&["BTC/USD"])).await;
    sim.control().set_rest_limit(Some(RestLimit {
        burst: 3,
        refill: Duration::from_secs(60),
    }));
    for _ in 0..3 {
        assert!(get_json(&sim, "/0/public/Ticker?pair=XBTUSD").await["result"].is_object());
    }
    assert_eq!(
        get(&sim, "/0/public/Ticker?pair=XBTUSD").await,
        (
            200,
            r#"{"error":["EGeneral:Too many requests"]}"#.to_owned()
        )
    );
    sim.control().set_rest_limit(None);
    assert!(get_json(&sim, "/0/public/Ticker?pair=XBTUSD").await["result"].is_object());
}

#[tokio::test]
async fn rest_requests_are_counted_with_arrival_times() {
    let sim = start(manual(&["BTC/USD"])).await;
    let before = std::time::Instant::now();
    get(&sim, "/0/public/Ticker?pair=XBTUSD").await;
    get(&sim, "/0/public/Ticker?pair=NOPE").await;
    get(&sim, "/0/public/Time").await;
    let control = sim.control();
    assert_eq!(control.rest_requests(), 3);
    assert_eq!(control.rest_requests_for(Endpoint::Ticker), 2);
    assert_eq!(control.rest_requests_for(Endpoint::Time), 1);
    let times = control.rest_request_times(Some(Endpoint::Ticker));
    assert_eq!(times.len(), 2);
    assert!(times[0] >= before && times[0] <= times[1]);
    assert_eq!(control.rest_request_times(None).len(), 3);
    let stats = control.stats();
    assert_eq!(stats.rest_requests_by_endpoint.get("Ticker"), Some(&2));
}
