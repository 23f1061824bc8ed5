//! `max_age`: the client's own limit on how old a served price may be.

use std::time::Duration;

use crate::support::{App, config, price};

fn app() -> App {
    let app = App::new(config());
    app.publish(price("BTC/USD", "60000", Duration::from_millis(100)));
    app.publish(price("ETH/USD", "3000", Duration::from_secs(5)));
    app.publish(price("XRP/USD", "0.5", Duration::from_secs(31)));
    app
}

#[tokio::test]
async fn a_price_older_than_max_age_is_stale_with_its_age() {
    let app = app();
    let reply = app.get("/api/v1/ltp?pair=BTC/USD,ETH/USD&max_age=2s").await;
    assert_eq!(reply.status, 206, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["ltp"][0]["pair"], "BTC/USD");
    let error = &body["errors"][0];
    assert_eq!(error["pair"], "ETH/USD");
    assert_eq!(error["reason"], "stale");
    assert_eq!(error["code"], "PRICE_FETCH_ERROR");
    let age = error["age_ms"].as_u64().expect("age_ms");
    assert!((5_000..15_000).contains(&age), "age {age}");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .ends_with("older than max_age"),
        "{error}"
    );
    assert!(!reply.body.contains("3000"), "stale price served");
}

#[tokio::test]
async fn every_form_of_max_age_means_the_same_limit() {
    let app = app();
    for max_age in ["6000", "6000ms", "6s"] {
        let reply = app
            .get(&format!("/api/v1/ltp?pair=ETH/USD&max_age={max_age}"))
            .await;
        assert_eq!(reply.status, 200, "{max_age}: {}", reply.body);
    }
    for max_age in ["4000", "4000ms", "4s", "0"] {
        let reply = app
            .get(&format!("/api/v1/ltp?pair=ETH/USD&max_age={max_age}"))
            .await;
        assert_eq!(reply.status, 503, "{max_age}: {}", reply.body);
        assert_eq!(reply.json()["errors"][0]["reason"], "stale");
    }
}

#[tokio::test]
async fn max_age_above_the_ttl_means_the_ttl() {
    let app = app();
    for max_age in ["1m", "99999999999999999999999"] {
        let reply = app
            .get(&format!(
                "/api/v1/ltp?pair=XRP/USD,BTC/USD&max_age={max_age}"
            ))
            .await;
        assert_eq!(reply.status, 206, "{}", reply.body);
        // Past the TTL a price is expired, whatever max_age says.
        assert_eq!(reply.json()["errors"][0]["reason"], "expired");
    }
    let empty = app.get("/api/v1/ltp?pair=BTC/USD,ETH/USD&max_age=").await;
    assert_eq!(
        empty.status, 200,
        "empty max_age is no limit: {}",
        empty.body
    );
}

#[tokio::test]
async fn bad_max_age_values_are_400_with_the_seed_body() {
    let app = app();
    for bad in ["-1", "-2s", "1.5s", "2h", "abc", "2%20s", "s", "1e3"] {
        let reply = app.get(&format!("/api/v1/ltp?max_age={bad}")).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["error"], "INVALID_PARAMETER", "{bad}");
        assert!(
            body["message"]
                .as_str()
                .expect("message")
                .starts_with("invalid max_age: "),
            "{body}"
        );
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    }
}
