//! Issue 12: prices over `GET /api/v1/ltp/ws` from the real query-api on real NATS: subscribe
//! (snapshot, then changes), unsubscribe, `since`, errors, garbage, huge messages.

use std::time::Duration;

use common::Encoding;
use futures::{SinkExt, StreamExt};
use integration_tests::query_api::{Publisher, RunningQueryApi, price_message, start_query_api};
use integration_tests::{TestNats, eventually, unique_id};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{WAIT, api_config};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD"];

async fn connect(api: &RunningQueryApi) -> Socket {
    let url = format!("ws://{}/api/v1/ltp/ws", api.addr);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade")
        .0
}

/// The next JSON text message (pings and pongs skipped); `None` when closed.
async fn next(ws: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time");
        match message? {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).expect("JSON")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send(ws: &mut Socket, value: Value) {
    ws.send(Message::text(value.to_string()))
        .await
        .expect("send");
}

async fn setup() -> (TestNats, Publisher, RunningQueryApi) {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let publisher = Publisher::new(nats.client().await, &prefix);
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, Duration::from_secs(30))).await;
    (nats, publisher, api)
}

#[tokio::test]
async fn ws_subscribe_snapshot_changes_unsubscribe_and_since() {
    let (_nats, publisher, api) = setup().await;
    let btc = price_message("BTC/USD", "65000.10", Duration::from_millis(50));
    eventually(WAIT, "BTC served", || async {
        publisher.publish(&btc, Encoding::Json).await;
        (api.get("/api/v1/ltp?pair=BTC/USD").await.status == 200).then_some(())
    })
    .await;
    let mut ws = connect(&api).await;
    send(
        &mut ws,
        json!({"op":"subscribe","pairs":["btc/usd","ETH/USD"]}),
    )
    .await;
    let ack = next(&mut ws).await.expect("ack");
    assert_eq!(
        ack,
        json!({"type":"subscribed","pairs":["BTC/USD","ETH/USD"]})
    );
    let first = next(&mut ws).await.expect("snapshot");
    assert_eq!(
        (first["type"].as_str(), first["price"].as_str()),
        (Some("price"), Some("65000.10"))
    );
    let id = first["id"].as_str().expect("id").to_owned();
    let second = next(&mut ws).await.expect("snapshot");
    assert_eq!(
        (second["type"].as_str(), second["reason"].as_str()),
        (Some("unavailable"), Some("not_found"))
    );
    publisher
        .publish(
            &price_message("ETH/USD", "3000.50", Duration::ZERO),
            Encoding::Json,
        )
        .await;
    let live = next(&mut ws).await.expect("update");
    assert_eq!(
        (live["pair"].as_str(), live["price"].as_str()),
        (Some("ETH/USD"), Some("3000.50"))
    );
    send(&mut ws, json!({"op":"unsubscribe","pairs":["ETH/USD"]})).await;
    assert_eq!(
        next(&mut ws).await,
        Some(json!({"type":"unsubscribed","pairs":["ETH/USD"]}))
    );
    drop(ws);

    // A new socket subscribing with `since`: BTC did not change, so nothing for it.
    let mut again = connect(&api).await;
    send(
        &mut again,
        json!({"op":"subscribe","pairs":["BTC/USD"],"since":id}),
    )
    .await;
    assert_eq!(next(&mut again).await.expect("ack")["type"], "subscribed");
    publisher
        .publish(
            &price_message("BTC/USD", "65001", Duration::ZERO),
            Encoding::Json,
        )
        .await;
    let after = next(&mut again).await.expect("update");
    assert_eq!(
        after["price"], "65001",
        "the first price after `since` is the new one"
    );
}

#[tokio::test]
async fn ws_errors_keep_the_socket_until_garbage_persists() {
    let (_nats, _publisher, api) = setup().await;
    let mut ws = connect(&api).await;
    send(&mut ws, json!({"op":"subscribe","pairs":["DOGE/EUR"]})).await;
    let error = next(&mut ws).await.expect("error");
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"], "INVALID_PARAMETER");
    let rest = api.get("/api/v1/ltp?pair=DOGE/EUR").await.json();
    assert_eq!(error["message"], rest["message"], "the REST message");
    send(&mut ws, json!({"op":"subscribe","pairs":["BTC/USD"]})).await;
    assert_eq!(
        next(&mut ws).await.expect("ack")["type"],
        "subscribed",
        "still open"
    );
    for _ in 0..6 {
        ws.send(Message::text("not json")).await.expect("send");
    }
    let mut last = None;
    while let Some(message) = next(&mut ws).await {
        last = Some(message);
    }
    let last = last.expect("messages before the close");
    assert_eq!(
        (last["type"].as_str(), last["reason"].as_str()),
        (Some("close"), Some("protocol"))
    );
}

#[tokio::test]
async fn ws_huge_messages_close_the_socket_and_the_server_keeps_serving() {
    let (_nats, _publisher, api) = setup().await;
    let mut ws = connect(&api).await;
    let huge = "x".repeat(1 << 20);
    let _ = ws.send(Message::text(huge)).await;
    while next(&mut ws).await.is_some() {}
    // Upgrade requests cut halfway, and a plain GET: clear errors, nothing crashes.
    for _ in 0..20 {
        let mut tcp = tokio::net::TcpStream::connect(api.addr)
            .await
            .expect("connect");
        use tokio::io::AsyncWriteExt;
        let _ = tcp
            .write_all(
                b"GET /api/v1/ltp/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upg",
            )
            .await;
    }
    let plain = api.get("/api/v1/ltp/ws").await;
    assert_eq!(plain.status, 400);
    assert_eq!(plain.json()["error"], "BAD_REQUEST");
    assert_eq!(api.get("/health").await.status, 200);
    eventually(WAIT, "every stream counted out", || async {
        let metrics = api.get("/metrics").await.body;
        metrics
            .lines()
            .any(|l| l == r#"ltp_streams_open{kind="ws"} 0"#)
            .then_some(())
    })
    .await;
}
