//! The pair registry (`GET /api/v1/pairs`), Kraken's names as aliases, and `skip_invalid`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::control::{RefreshReply, RefreshRequest};
use query_api::Refresher;
use query_api::bodies::PairsResponse;
use salvo::test::TestClient;

use crate::support::{App, config, fresh, price, url};

#[tokio::test]
async fn the_registry_lists_every_market_with_its_names_and_state() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    app.publish(price("ETH/USD", "3000", Duration::from_secs(40)));
    let reply = app.get("/api/v1/pairs").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: PairsResponse = serde_json::from_str(&reply.body).expect("typed");
    assert_eq!(body.pairs.len(), common::Pair::all().len());
    let names: Vec<&str> = body.pairs.iter().map(|p| p.pair.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    let json = reply.json();
    let find = |pair: &str| {
        json["pairs"]
            .as_array()
            .expect("array")
            .iter()
            .find(|p| p["pair"] == pair)
            .cloned()
            .unwrap_or_else(|| panic!("{pair} missing"))
    };
    assert_eq!(
        find("BTC/USD"),
        serde_json::json!({
            "pair": "BTC/USD", "ws_symbol": "BTC/USD", "rest_altname": "XBTUSD",
            "rest_key": "XXBTZUSD", "aliases": ["XBT/USD", "XBTUSD", "XXBTZUSD", "BTC-USD"],
            "configured": true, "available": true, "source": "ws"
        })
    );
    let eth = find("ETH/USD");
    assert_eq!(
        (eth["available"].clone(), eth["reason"].clone()),
        (false.into(), "expired".into())
    );
    assert_eq!(find("LTC/USD")["reason"], "not_found");
    let unserved = find("SOL/USD");
    assert_eq!(unserved["configured"], false);
    assert!(unserved.get("available").is_none(), "{unserved}");
}

#[tokio::test]
async fn krakens_names_are_accepted_and_answered_canonically() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    app.publish(fresh("ETH/USD", "3000"));
    for alias in [
        "XBT/USD",
        "XBTUSD",
        "XXBTZUSD",
        "btc-usd",
        "xbt/usd",
        "%20XBTUSD%20",
    ] {
        let reply = app.get(&format!("/api/v1/ltp?pair={alias}")).await;
        assert_eq!(reply.status, 200, "{alias}: {}", reply.body);
        assert_eq!(reply.json()["ltp"][0]["pair"], "BTC/USD", "{alias}");
    }
    let reply = app.get("/api/v1/ltp?pair=XBTUSD,BTC/USD,XETHZUSD").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["ltp"].as_array().map(Vec::len),
        Some(2),
        "answered once"
    );
    // Known to Kraken but not served: unsupported, with the name upper-cased.
    let reply = app.get("/api/v1/ltp?pair=solusd").await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["message"]
            .as_str()
            .expect("message")
            .starts_with("unsupported pair: SOLUSD"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn refresh_accepts_krakens_names_too() {
    let seen = Arc::new(Mutex::new(Vec::<RefreshRequest>::new()));
    let log = seen.clone();
    let refresher = Refresher::scripted(move |req: RefreshRequest| {
        log.lock().expect("lock").push(req.clone());
        Ok(RefreshReply {
            ingestor: "test".into(),
            prices: req.pairs.iter().map(|p| fresh(p, "1")).collect(),
            ..RefreshReply::default()
        })
    });
    let app = App::with_refresher(config(), refresher);
    let reply = app
        .send(TestClient::post(url(
            "/api/v1/ltp/refresh?pairs=XXBTZUSD,eth-usd,XBT/USD",
        )))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["pairs"],
        serde_json::json!(["BTC/USD", "ETH/USD"])
    );
    assert_eq!(seen.lock().expect("lock")[0].pairs, ["BTC/USD", "ETH/USD"]);
}

#[tokio::test]
async fn skip_invalid_answers_the_valid_pairs_and_lists_the_rest() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    let reply = app
        .get("/api/v1/ltp?pair=nope,BTC/USD,DOGE/USD,LTC/USD&skip_invalid=true")
        .await;
    assert_eq!(reply.status, 206, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["ltp"][0]["pair"], "BTC/USD");
    let errors = body["errors"].as_array().expect("errors");
    let pairs: Vec<&str> = errors
        .iter()
        .map(|e| e["pair"].as_str().expect("pair"))
        .collect();
    assert_eq!(pairs, ["LTC/USD", "nope", "DOGE/USD"]);
    assert_eq!(errors[0]["reason"], "not_found");
    assert_eq!(
        errors[1],
        serde_json::json!({
            "pair": "nope", "error": "Invalid pair", "code": "INVALID_PARAMETER",
            "message": "invalid pair format: nope (expected BASE/QUOTE)", "reason": "invalid_pair"
        })
    );
    assert!(
        errors[2]["message"]
            .as_str()
            .expect("message")
            .starts_with("unsupported pair: DOGE/USD")
    );
    // Every valid pair priced, one invalid: still 206, since not everything was answered.
    let reply = app
        .get("/api/v1/ltp?pair=BTC/USD,x&skip_invalid=true")
        .await;
    assert_eq!(reply.status, 206, "{}", reply.body);
}

#[tokio::test]
async fn without_skip_invalid_the_first_bad_pair_is_still_400() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    for query in ["pair=BTC/USD,nope", "pair=BTC/USD,nope&skip_invalid=false"] {
        let reply = app.get(&format!("/api/v1/ltp?{query}")).await;
        assert_eq!(reply.status, 400, "{query}");
    }
    // Nothing valid at all is a 400 even when skipping.
    let reply = app
        .get("/api/v1/ltp?pair=nope,DOGE/USD&skip_invalid=true")
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["message"],
        "invalid pair format: nope (expected BASE/QUOTE)"
    );
}

#[tokio::test]
async fn bad_skip_invalid_values_are_400() {
    let app = App::new(config());
    for bad in ["yes", "1", "TRUE", ""] {
        let reply = app.get(&format!("/api/v1/ltp?skip_invalid={bad}")).await;
        assert_eq!(reply.status, 400, "{bad:?}: {}", reply.body);
        assert_eq!(
            reply.json(),
            serde_json::json!({
                "error": "INVALID_PARAMETER",
                "message": format!("invalid skip_invalid: {bad} (expected true or false)")
            })
        );
    }
}
