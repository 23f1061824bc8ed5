//! `POST /api/v1/ltp/refresh`: every outcome has its own status; never 200 for a failure.

use std::sync::{Arc, Mutex};

use common::control::{FailureCode, PairFailure, RefreshReply, RefreshRequest};
use query_api::{RefreshError, Refresher};
use salvo::test::TestClient;

use crate::support::{App, config, fresh, url};

/// An ingestor that prices every requested pair at `price`, except those in `failing`;
/// requests are recorded.
fn ingestor(
    price: &'static str,
    failing: &'static [&'static str],
) -> (Refresher, Arc<Mutex<Vec<RefreshRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let refresher = Refresher::scripted(move |req: RefreshRequest| {
        log.lock().expect("lock").push(req.clone());
        let mut reply = RefreshReply {
            ingestor: "test".into(),
            ..RefreshReply::default()
        };
        for pair in &req.pairs {
            if failing.contains(&pair.as_str()) {
                reply.errors.push(PairFailure {
                    pair: pair.clone(),
                    code: FailureCode::KrakenUnavailable,
                    message: "GET https://api.kraken.com/0/public/Ticker: 503 internal detail"
                        .into(),
                });
            } else {
                reply.prices.push(fresh(pair, price));
            }
        }
        Ok(reply)
    });
    (refresher, seen)
}

async fn post(app: &App, path: &str) -> crate::support::Reply {
    app.send(TestClient::post(url(path)).raw_json("{\"ignored\":true}"))
        .await
}

#[tokio::test]
async fn success_is_200_with_the_new_prices_and_updates_the_cache() {
    let (refresher, seen) = ingestor("70000.5", &[]);
    let app = App::with_refresher(config(), refresher);
    app.publish(fresh("BTC/USD", "60000"));
    let reply = post(&app, "/api/v1/ltp/refresh?pairs=btc/usd,ETH/USD").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["message"], "Prices refreshed successfully");
    assert_eq!(body["pairs"], serde_json::json!(["BTC/USD", "ETH/USD"]));
    assert_eq!(body["ltp"][0]["pair"], "BTC/USD");
    assert_eq!(body["ltp"][1]["price"], "70000.5");
    assert!(body.get("errors").is_none());
    assert_eq!(
        seen.lock().expect("lock")[0],
        RefreshRequest {
            pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
            snapshot: false
        }
    );
    let after = app.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(after.json()["ltp"][0]["price"], "70000.5");
}

#[tokio::test]
async fn empty_pairs_refreshes_every_served_pair() {
    let (refresher, seen) = ingestor("1.5", &[]);
    let app = App::with_refresher(config(), refresher);
    let reply = post(&app, "/api/v1/ltp/refresh").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(seen.lock().expect("lock")[0].pairs.len(), 4);
}

#[tokio::test]
async fn a_kraken_failure_is_502_with_per_pair_errors_and_no_internal_text() {
    let (refresher, _) = ingestor("2.5", &["ETH/USD"]);
    let app = App::with_refresher(config(), refresher);
    let reply = post(&app, "/api/v1/ltp/refresh?pairs=BTC/USD,ETH/USD").await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], "REFRESH_FAILED");
    assert_eq!(body["message"], "Prices refreshed with errors");
    assert_eq!(body["ltp"][0]["pair"], "BTC/USD");
    assert_eq!(
        body["errors"],
        serde_json::json!([{
            "pair": "ETH/USD",
            "error": "Refresh failed",
            "code": "KRAKEN_UNAVAILABLE",
            "message": "Kraken is unreachable, throttling or in maintenance"
        }])
    );
    assert!(!reply.body.contains("internal detail"));
    // What did succeed is stored.
    let after = app.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(after.json()["ltp"][0]["price"], "2.5");
}

#[tokio::test]
async fn a_pair_missing_from_the_reply_is_a_failure() {
    let refresher = Refresher::scripted(|_| Ok(RefreshReply::default()));
    let app = App::with_refresher(config(), refresher);
    let reply = post(&app, "/api/v1/ltp/refresh?pairs=BTC/USD").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["errors"][0]["code"], "NO_PRICE");
}

#[tokio::test]
async fn no_ingestor_is_503_timeout_is_504_bus_down_is_503() {
    type Case = (fn() -> RefreshError, u16, &'static str);
    let cases: [Case; 3] = [
        (|| RefreshError::NoResponders, 503, "NO_INGESTOR"),
        (|| RefreshError::TimedOut, 504, "INGESTOR_TIMEOUT"),
        (|| RefreshError::Nats(None), 503, "NATS_UNAVAILABLE"),
    ];
    for (error, status, code) in cases {
        let app = App::with_refresher(config(), Refresher::scripted(move |_| Err(error())));
        let reply = post(&app, "/api/v1/ltp/refresh?pairs=BTC/USD").await;
        assert_eq!(reply.status, status, "{code}: {}", reply.body);
        assert_eq!(reply.json()["error"], code);
    }
}

#[tokio::test]
async fn an_invalid_reply_is_502_without_detail() {
    let app = App::with_refresher(
        config(),
        Refresher::scripted(|_| {
            Err(RefreshError::BadReply(
                serde_json::from_str::<RefreshReply>("secret-garbage").expect_err("bad"),
            ))
        }),
    );
    let reply = post(&app, "/api/v1/ltp/refresh").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"], "BAD_INGESTOR_REPLY");
    assert!(!reply.body.contains("secret"));
}

#[tokio::test]
async fn bad_pairs_are_400_and_nothing_is_requested() {
    let (refresher, seen) = ingestor("1", &[]);
    let app = App::with_refresher(config(), refresher);
    let reply = post(&app, "/api/v1/ltp/refresh?pairs=BTC/USD,nope").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["message"],
        "invalid pair format: nope (expected BASE/QUOTE)"
    );
    // `pair` (singular) is not the refresh parameter: it is ignored, all pairs refreshed.
    let reply = post(&app, "/api/v1/ltp/refresh?pair=nope").await;
    assert_eq!(reply.status, 200);
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn get_on_refresh_is_405_with_allow() {
    let app = App::new(config());
    let reply = app.get("/api/v1/ltp/refresh").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert_eq!(reply.json()["error"], "METHOD_NOT_ALLOWED");
}
