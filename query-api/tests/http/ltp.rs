//! `GET /api/v1/ltp` and `/api/v1/ltp/cached`: statuses, bodies, parsing rules.

use std::time::Duration;

use query_api::bodies::LtpResponse;
use salvo::test::TestClient;

use crate::support::{App, config, fresh, price, url};

fn app_with_all_prices() -> App {
    let app = App::new(config());
    // Published out of order: the answer must still be sorted.
    app.publish(fresh("XRP/USD", "0.5123"));
    app.publish(fresh("LTC/USD", "83.21"));
    app.publish(fresh("BTC/USD", "62702.9"));
    app.publish(fresh("ETH/USD", "0.00044780"));
    app
}

fn pairs_of(value: &serde_json::Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array: {value}"))
        .iter()
        .map(|i| i["pair"].as_str().expect("pair").to_owned())
        .collect()
}

#[tokio::test]
async fn all_pairs_are_200_sorted_by_pair_with_time_age_and_source() {
    let app = app_with_all_prices();
    let reply = app.get("/api/v1/ltp").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(
        pairs_of(&body, "ltp"),
        ["BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD"]
    );
    assert!(body.get("errors").is_none(), "no errors key on 200");
    let btc = &body["ltp"][0];
    assert_eq!(btc["price"], "62702.9");
    assert_eq!(btc["source"], "ws");
    assert!(btc["timestamp"].as_str().expect("ts").ends_with('Z'));
    assert!(btc["exchange_time"].is_string());
    let age = btc["age_ms"].as_u64().expect("age");
    assert!((100..10_000).contains(&age), "age {age}");
    assert!(reply.body.ends_with("]}\n"));
    // The typed body decodes too.
    let typed: LtpResponse = serde_json::from_str(&reply.body).expect("typed");
    assert_eq!(typed.ltp.len(), 4);
}

#[tokio::test]
async fn amounts_keep_the_exact_decimal_text() {
    let app = app_with_all_prices();
    let reply = app.get("/api/v1/ltp?pair=ETH/USD").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body
            .contains(r#""amount":0.00044780,"price":"0.00044780""#),
        "{}",
        reply.body
    );
    let typed: LtpResponse = serde_json::from_str(&reply.body).expect("typed");
    assert_eq!(typed.ltp[0].amount.get(), "0.00044780");
}

#[tokio::test]
async fn pairs_are_trimmed_case_insensitive_and_answered_once() {
    let app = app_with_all_prices();
    let reply = app
        .get("/api/v1/ltp?pair=%20eth/usd%20,,BTC/USD,btc/usd,")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(pairs_of(&reply.json(), "ltp"), ["BTC/USD", "ETH/USD"]);
}

#[tokio::test]
async fn only_the_first_pair_parameter_counts() {
    let app = app_with_all_prices();
    let reply = app.get("/api/v1/ltp?pair=LTC/USD&pair=BTC/USD").await;
    assert_eq!(pairs_of(&reply.json(), "ltp"), ["LTC/USD"]);
    // Parameter names are case-sensitive, as in the seed: `PAIR` is no `pair`.
    let reply = app.get("/api/v1/ltp?PAIR=LTC/USD").await;
    assert_eq!(pairs_of(&reply.json(), "ltp").len(), 4);
}

#[tokio::test]
async fn some_missing_is_206_with_errors_in_request_order() {
    let app = App::new(config());
    app.publish(fresh("XRP/USD", "0.5"));
    app.publish(fresh("BTC/USD", "60000"));
    let reply = app
        .get("/api/v1/ltp?pair=XRP/USD,LTC/USD,BTC/USD,ETH/USD")
        .await;
    assert_eq!(reply.status, 206, "{}", reply.body);
    let body = reply.json();
    assert_eq!(pairs_of(&body, "ltp"), ["XRP/USD", "BTC/USD"]);
    assert_eq!(pairs_of(&body, "errors"), ["LTC/USD", "ETH/USD"]);
    assert_eq!(
        body["errors"][0],
        serde_json::json!({
            "pair": "LTC/USD",
            "error": "Failed to fetch price",
            "code": "PRICE_FETCH_ERROR",
            "message": "price not available in cache for LTC/USD (cache-only mode): key not found",
            "reason": "not_found"
        })
    );
}

#[tokio::test]
async fn none_available_is_503_with_an_empty_ltp_array() {
    let app = App::new(config());
    let reply = app.get("/api/v1/ltp?pair=BTC/USD,ETH/USD").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["ltp"], serde_json::json!([]));
    assert_eq!(pairs_of(&body, "errors"), ["BTC/USD", "ETH/USD"]);
}

#[tokio::test]
async fn expired_prices_are_reported_never_served() {
    let app = App::new(config());
    app.publish(price("BTC/USD", "60000", Duration::from_secs(31)));
    app.publish(price("ETH/USD", "3000", Duration::from_secs(29)));
    let reply = app.get("/api/v1/ltp?pair=BTC/USD,ETH/USD").await;
    assert_eq!(reply.status, 206, "{}", reply.body);
    let body = reply.json();
    assert_eq!(pairs_of(&body, "ltp"), ["ETH/USD"]);
    assert!(body["ltp"][0]["age_ms"].as_u64().expect("age") <= 30_000);
    assert_eq!(body["errors"][0]["reason"], "expired");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .ends_with("key expired")
    );
    assert!(!reply.body.contains("60000"), "stale price leaked");
}

#[tokio::test]
async fn an_older_price_never_replaces_a_newer_one() {
    let app = App::new(config());
    app.publish(price("BTC/USD", "2", Duration::from_secs(1)));
    app.publish(price("BTC/USD", "1", Duration::from_secs(5)));
    let reply = app.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(reply.json()["ltp"][0]["price"], "2");
}

#[tokio::test]
async fn invalid_pairs_are_400_with_the_seed_messages() {
    let app = app_with_all_prices();
    let cases = [
        (
            "/api/v1/ltp?pair=BTCUSD",
            "invalid pair format: BTCUSD (expected BASE/QUOTE)",
        ),
        (
            "/api/v1/ltp?pair=BTC/USD,doge/usd",
            "unsupported pair: DOGE/USD (supported pairs: XRP/USD,BTC/USD,ETH/USD,LTC/USD)",
        ),
        (
            "/api/v1/ltp?pair=BTC/EUR",
            "unsupported pair: BTC/EUR (supported pairs: XRP/USD,BTC/USD,ETH/USD,LTC/USD)",
        ),
        ("/api/v1/ltp?pair=,%20,", "no valid pairs provided"),
        (
            "/api/v1/ltp?pair=%3Cscript%3E",
            "invalid pair format: <script> (expected BASE/QUOTE)",
        ),
        (
            "/api/v1/ltp?pair=%ff",
            "invalid encoding in query parameter pair",
        ),
    ];
    for (path, message) in cases {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert_eq!(
            reply.json(),
            serde_json::json!({"error": "INVALID_PARAMETER", "message": message}),
            "{path}"
        );
    }
    // User input is echoed escaped, never as markup.
    let reply = app.get("/api/v1/ltp?pair=%3Cscript%3E").await;
    assert!(
        reply.body.contains("\\u003cscript\\u003e"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn ten_thousand_pairs_are_refused_quickly() {
    let app = app_with_all_prices();
    // Short elements, so the URL stays within what an HTTP client can send (64 KiB).
    let list = vec!["X/Y"; 10_000].join(",");
    let mut config = config();
    config.limits.max_url_bytes = query_api::MAX_URL_BYTES;
    config.limits.max_header_bytes = 1 << 20;
    let big = App::new(config);
    let reply = big.get(&format!("/api/v1/ltp?pair={list}")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["message"],
        "too many pairs: 10000 (maximum 100)"
    );
    // With the default URL limit the same request is a 414.
    assert_eq!(
        app.get(&format!("/api/v1/ltp?pair={list}")).await.status,
        414
    );
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = app_with_all_prices();
    let reply = app.send(TestClient::head(url("/api/v1/ltp"))).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn cached_lists_every_fresh_price_sorted() {
    let app = App::new(config());
    let empty = app.get("/api/v1/ltp/cached?pair=ignored").await;
    assert_eq!((empty.status, empty.body.as_str()), (200, "{\"ltp\":[]}\n"));
    app.publish(fresh("XRP/USD", "0.5"));
    app.publish(fresh("BTC/USD", "60000"));
    app.publish(price("ETH/USD", "3000", Duration::from_secs(60)));
    let reply = app.get("/api/v1/ltp/cached").await;
    assert_eq!(reply.status, 200);
    assert_eq!(pairs_of(&reply.json(), "ltp"), ["BTC/USD", "XRP/USD"]);
    let head = app.send(TestClient::head(url("/api/v1/ltp/cached"))).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[tokio::test]
async fn the_configured_pair_limit_applies_to_reads_and_refreshes() {
    let mut c = config();
    c.limits.max_pairs = 2;
    let app = App::new(c);
    app.publish(fresh("BTC/USD", "60000"));
    app.publish(fresh("ETH/USD", "3000"));
    let two = app.get("/api/v1/ltp?pair=BTC/USD,ETH/USD").await;
    assert_eq!(two.status, 200, "{}", two.body);
    let three = app.get("/api/v1/ltp?pair=BTC/USD,ETH/USD,XRP/USD").await;
    assert_eq!(three.status, 400, "{}", three.body);
    assert_eq!(three.json()["message"], "too many pairs: 3 (maximum 2)");
    let refresh = app
        .send(TestClient::post(url(
            "/api/v1/ltp/refresh?pairs=BTC/USD,ETH/USD,XRP/USD",
        )))
        .await;
    assert_eq!(refresh.status, 400, "{}", refresh.body);
}
