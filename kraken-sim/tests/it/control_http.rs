//! The control API over HTTP drives the same faults as the in-process handle.

use std::time::Duration;

use kraken_sim::{Rate, SystemStatus};
use serde_json::Value;

use crate::client::{Client, manual, start, ticker_fields};

async fn post(sim: &kraken_sim::Simulator, path: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}{path}", sim.rest_url()))
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

/// Posts `path` and expects 200.
async fn ok(sim: &kraken_sim::Simulator, path: &str) {
    let (status, body) = post(sim, path).await;
    assert_eq!(status, 200, "{path}: {body}");
}

async fn get_json(sim: &kraken_sim::Simulator, path: &str) -> Value {
    reqwest::get(format!("{}{path}", sim.rest_url()))
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn control_routes_drive_the_simulator() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;

    let (status, body) = post(&sim, "/control/system?status=cancel_only").await;
    assert_eq!((status, &body), (200, &serde_json::json!({"ok": true})));
    assert_eq!(client.next_json().await["data"][0]["system"], "cancel_only");
    assert_eq!(sim.control().system_status(), SystemStatus::CancelOnly);

    let (status, report) = post(&sim, "/control/trade?pair=BTC%2FUSD&price=61000.50").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["price"], "61000.50");
    assert_eq!(report["written_to"], 1);
    assert_eq!(ticker_fields(&client.next_data().await)["last"], "61000.50");

    ok(&sim, "/control/price?pair=ETH/USD&price=3100.25").await;
    ok(&sim, "/control/quiet?pair=ETH/USD").await;
    ok(&sim, "/control/reject?pair=ETH/USD&on=false").await;
    ok(&sim, "/control/rate?interval=250ms").await;
    assert_eq!(
        sim.control().rate(),
        Rate::PerPair(Duration::from_millis(250))
    );
    ok(&sim, "/control/rate?per_second=1000").await;
    assert_eq!(sim.control().rate(), Rate::Total(1000));
    ok(&sim, "/control/rate?manual").await;
    assert_eq!(sim.control().rate(), Rate::Manual);

    ok(&sim, "/control/rest-fault?kind=http&status=503").await;
    let edge = reqwest::get(format!("{}/0/public/Time", sim.rest_url()))
        .await
        .expect("request");
    assert_eq!(edge.status().as_u16(), 503);
    ok(&sim, "/control/rest-fault?kind=too-many-requests").await;
    let body: Value = get_json(&sim, "/0/public/Time").await;
    assert_eq!(body["error"][0], "EGeneral:Too many requests");
    ok(&sim, "/control/rest-limit?burst=5&refill=2s").await;
    ok(&sim, "/control/subscribe-error?error=Exceeded%20msg%20rate").await;
    ok(&sim, "/control/refuse?status=429").await;
    assert!(
        tokio_tungstenite::connect_async(sim.ws_url())
            .await
            .is_err()
    );

    ok(&sim, "/control/reset").await;
    assert_eq!(sim.control().system_status(), SystemStatus::Online);
    // Updates from the rate changes above may still be queued before the status.
    assert_eq!(
        client.next_on("status").await["data"][0]["system"],
        "online"
    );
    let _fresh = Client::subscribed(&sim, &["ETH/USD"]).await;

    ok(&sim, "/control/close?code=1001&reason=bye").await;
    let frame = client
        .next_close()
        .await
        .expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1001);
    assert_eq!(frame.reason.as_str(), "bye");
    ok(&sim, "/control/drop").await;
    ok(&sim, "/control/stall?scope=open").await;
    ok(&sim, "/control/unstall").await;

    let stats: Value = get_json(&sim, "/control/stats").await;
    assert!(
        stats["ws_connections_opened"].as_u64() >= Some(2),
        "{stats}"
    );
    assert_eq!(stats["subscribe_requests"], 2);
    assert!(stats["last_prices"]["BTC/USD"].is_string(), "{stats}");
    assert!(
        stats["rest_requests_by_endpoint"]["Time"].as_u64() >= Some(2),
        "{stats}"
    );
}

#[tokio::test]
async fn bad_control_requests_are_refused_with_a_reason() {
    let sim = start(manual(&["BTC/USD"])).await;
    for (path, status) in [
        ("/control/system?status=offline", 400),
        ("/control/system", 400),
        ("/control/price?pair=BTC/USD&price=abc", 400),
        ("/control/price?pair=DOGE/MOON&price=1", 400),
        ("/control/quiet?pair=ETH/USD", 400),
        ("/control/close?code=1005", 400),
        ("/control/close?code=x", 400),
        ("/control/refuse?status=200", 400),
        ("/control/rest-fault?kind=sometimes", 400),
        ("/control/rest-fault?kind=http&status=200", 400),
        ("/control/rate", 400),
        ("/control/rate?interval=0s", 400),
        ("/control/stall?scope=half", 400),
        ("/control/reject?pair=BTC/USD&on=maybe", 400),
        ("/control/explode", 404),
    ] {
        let (got, body) = post(&sim, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let res = reqwest::get(format!("{}/control/drop", sim.rest_url()))
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 405);
}
