//! The WS v2 protocol on a real socket: banner, acks, snapshots, updates, heartbeats, errors,
//! ping/pong, idle close.

use std::time::Duration;

use futures::SinkExt;
use kraken_sim::{Rate, SimConfig};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::client::{Client, is_rfc3339_micros, keys, manual, start, ticker_fields};

#[tokio::test]
async fn status_arrives_first_with_a_u64_connection_id() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::connect(&sim).await;
    let text = client.next_text().await;
    assert!(
        text.starts_with(
            r#"{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":"#
        ),
        "{text}"
    );
    assert!(
        text.ends_with(r#","system":"online","version":"2.0.10"}]}"#),
        "{text}"
    );
    let id_text = text
        .split("\"connection_id\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("connection_id");
    let id: u64 = id_text.parse().expect("an unsigned integer literal");
    assert!(id > i64::MAX as u64, "{id}");
    assert_eq!(sim.control().connections_opened(), 1);
    assert_eq!(sim.control().connections_open(), 1);
}

#[tokio::test]
async fn subscribe_acks_each_symbol_then_sends_snapshots_then_updates() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    let mut client = Client::connected(&sim).await;
    client
        .send(r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"]},"req_id":42}"#)
        .await;
    for symbol in ["BTC/USD", "ETH/USD"] {
        let text = client.next_data().await;
        assert!(
            text.starts_with(&format!(
                r#"{{"method":"subscribe","req_id":42,"result":{{"channel":"ticker","event_trigger":"trades","snapshot":true,"symbol":"{symbol}"}},"success":true,"time_in":""#
            )),
            "{text}"
        );
        let ack: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            keys(&ack),
            [
                "method", "req_id", "result", "success", "time_in", "time_out"
            ]
        );
        assert!(is_rfc3339_micros(ack["time_in"].as_str().expect("time_in")));
        assert!(is_rfc3339_micros(
            ack["time_out"].as_str().expect("time_out")
        ));
        assert!(ack["time_in"].as_str() <= ack["time_out"].as_str());
    }
    for symbol in ["BTC/USD", "ETH/USD"] {
        let text = client.next_data().await;
        assert!(
            text.starts_with(&format!(
                r#"{{"channel":"ticker","type":"snapshot","data":[{{"symbol":"{symbol}","bid":"#
            )),
            "{text}"
        );
        let fields = ticker_fields(&text);
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "ask",
                "ask_qty",
                "bid",
                "bid_qty",
                "change",
                "change_pct",
                "high",
                "last",
                "low",
                "symbol",
                "timestamp",
                "trades",
                "volume",
                "vwap"
            ]
        );
        assert_eq!(
            Some(fields["last"].as_str()),
            sim.control().last_price(symbol).as_deref()
        );
    }
    let report = sim
        .control()
        .trade_now("ETH/USD", None)
        .await
        .expect("trade");
    assert_eq!(report.written_to, 1);
    let text = client.next_data().await;
    assert!(
        text.starts_with(r#"{"channel":"ticker","type":"update","data":[{"symbol":"ETH/USD","#),
        "{text}"
    );
    let fields = ticker_fields(&text);
    assert_eq!(fields["last"], report.price);
    assert_eq!(fields["timestamp"], format!("\"{}\"", report.timestamp));
    assert!(is_rfc3339_micros(&report.timestamp));
    assert_eq!(sim.control().subscribe_requests(), 1);
    assert_eq!(sim.control().ticker_messages_sent(), 3);
    assert_eq!(sim.control().ticker_messages_sent_for("ETH/USD"), 2);
}

#[tokio::test]
async fn snapshot_false_and_bbo_trigger_are_honoured() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::connected(&sim).await;
    client
        .send(r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"event_trigger":"bbo","snapshot":false}}"#)
        .await;
    let ack = client.next_json().await;
    assert_eq!(ack["result"]["event_trigger"], "bbo");
    assert_eq!(ack["result"]["snapshot"], false);
    assert!(ack.get("req_id").is_none(), "{ack}");
    sim.control()
        .trade_now("BTC/USD", None)
        .await
        .expect("trade");
    let update = client.next_json().await;
    assert_eq!(
        update["type"], "update",
        "no snapshot comes first: {update}"
    );
}

#[tokio::test]
async fn heartbeats_start_only_after_a_subscription() {
    let config = SimConfig {
        heartbeat_interval: Duration::from_millis(100),
        ..manual(&["BTC/USD"])
    };
    let sim = start(config).await;
    let mut client = Client::connected(&sim).await;
    assert!(
        client.silent_for(Duration::from_millis(400)).await,
        "no heartbeat before any subscription"
    );
    client.subscribe(&["BTC/USD"]).await;
    assert_eq!(client.next_json().await["type"], "snapshot");
    let started = tokio::time::Instant::now();
    assert_eq!(client.next_text().await, r#"{"channel":"heartbeat"}"#);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "about one interval"
    );
    assert_eq!(client.next_text().await, r#"{"channel":"heartbeat"}"#);
    assert!(sim.control().heartbeats_sent() >= 2);
}

#[tokio::test]
async fn no_heartbeat_while_updates_keep_the_socket_busy() {
    // Updates every 10 ms against a 700 ms heartbeat: generous enough for a loaded machine.
    let config = SimConfig {
        heartbeat_interval: Duration::from_millis(700),
        rate: Rate::PerPair(Duration::from_millis(10)),
        ..SimConfig::default()
            .with_pairs(&["BTC/USD"])
            .expect("pairs")
    };
    let sim = start(config).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1_500);
    let mut updates = 0;
    while tokio::time::Instant::now() < deadline {
        let text = client.next_text().await;
        assert_ne!(
            text, r#"{"channel":"heartbeat"}"#,
            "heartbeat between updates"
        );
        updates += 1;
    }
    assert!(updates >= 20, "{updates} updates");
}

#[tokio::test]
async fn unknown_and_v1_symbols_are_refused_per_symbol() {
    let sim = start(manual(&["BTC/USD", "DOGE/USD"])).await;
    let mut client = Client::connected(&sim).await;
    client
        .send(r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["XBT/USD","BTC/USD","XDG/USD","DOGE/MOON","ETH/USD","btc/usd"]},"req_id":69}"#)
        .await;
    for symbol in [
        "XBT/USD",
        "BTC/USD",
        "XDG/USD",
        "DOGE/MOON",
        "ETH/USD",
        "btc/usd",
    ] {
        let text = client.next_data().await;
        if symbol == "BTC/USD" {
            assert!(text.contains(r#""success":true"#), "{text}");
            continue;
        }
        // ETH/USD is in the table but not offered by this simulator.
        assert!(
            text.starts_with(&format!(
                r#"{{"error":"Currency pair not supported {symbol}","method":"subscribe","req_id":69,"success":false,"symbol":"{symbol}","time_in":""#
            )),
            "{text}"
        );
        let reply: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            keys(&reply),
            [
                "error", "method", "req_id", "success", "symbol", "time_in", "time_out"
            ]
        );
    }
    let snapshot = client.next_json().await;
    assert_eq!(snapshot["data"][0]["symbol"], "BTC/USD");
}

#[tokio::test]
async fn duplicate_subscription_is_refused_without_a_new_snapshot() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    client
        .send(r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"]},"req_id":2}"#)
        .await;
    let text = client.next_data().await;
    assert!(
        text.starts_with(r#"{"error":"Already subscribed","method":"subscribe","req_id":2,"success":false,"symbol":"BTC/USD","time_in":""#),
        "{text}"
    );
    let report = sim
        .control()
        .trade_now("BTC/USD", None)
        .await
        .expect("trade");
    assert_eq!(report.written_to, 1, "still one subscription");
    let next = client.next_json().await;
    assert_eq!(next["type"], "update", "no second snapshot: {next}");
}

#[tokio::test]
async fn unsubscribe_acks_and_unknown_unsubscribe_is_not_found() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    client
        .send(r#"{"method":"unsubscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"]},"req_id":987654321}"#)
        .await;
    let ok = client.next_data().await;
    assert!(
        ok.starts_with(r#"{"method":"unsubscribe","req_id":987654321,"result":{"channel":"ticker","event_trigger":"trades","symbol":"BTC/USD"},"success":true,"time_in":""#),
        "{ok}"
    );
    let missing = client.next_data().await;
    // Kraken labels this failure "subscribe" although an unsubscribe was sent (captured).
    assert!(
        missing.starts_with(r#"{"error":"Subscription Not Found","method":"subscribe","req_id":987654321,"success":false,"symbol":"ETH/USD","time_in":""#),
        "{missing}"
    );
    let report = sim
        .control()
        .trade_now("BTC/USD", None)
        .await
        .expect("trade");
    assert_eq!(report.written_to, 0);
    // Subscribing again gives a fresh snapshot.
    client.subscribe(&["BTC/USD"]).await;
    assert_eq!(client.next_json().await["type"], "snapshot");
}

#[tokio::test]
async fn ping_gets_a_pong_with_req_id_and_times() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::connected(&sim).await;
    client.send(r#"{"method":"ping","req_id":101}"#).await;
    let text = client.next_data().await;
    assert!(
        text.starts_with(r#"{"method":"pong","req_id":101,"time_in":""#),
        "{text}"
    );
    let pong: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(keys(&pong), ["method", "req_id", "time_in", "time_out"]);
    client.send(r#"{"method":"ping"}"#).await;
    let pong = client.next_json().await;
    assert_eq!(keys(&pong), ["method", "time_in", "time_out"]);
}

#[tokio::test]
async fn protocol_pings_are_answered() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::connected(&sim).await;
    client
        .ws
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    match client.next_message().await {
        Message::Pong(payload) => assert_eq!(payload.as_ref(), b"are you there"),
        other => panic!("expected pong, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_requests_get_an_error_and_the_socket_stays_usable() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::connected(&sim).await;
    let cases = [
        ("not json", None, "EGeneral:Invalid arguments"),
        ("[1,2]", None, "EGeneral:Invalid arguments"),
        (r#"{"req_id":1}"#, None, "EGeneral:Invalid arguments"),
        (
            r#"{"method":"subscribe"}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"ticker"}}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":[]}}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":"BTC/USD"}}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":[7]}}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"event_trigger":"every"}}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"],"snapshot":"yes"}}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"]},"req_id":"a"}"#,
            Some("subscribe"),
            "EGeneral:Invalid arguments",
        ),
        (
            r#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"]}}"#,
            Some("subscribe"),
            "Subscription name invalid",
        ),
        (
            r#"{"method":"fly","req_id":5}"#,
            Some("fly"),
            "Method not found",
        ),
    ];
    for (request, method, error) in cases {
        client.send(request).await;
        let reply = client.next_json().await;
        assert_eq!(reply["success"], false, "{request} -> {reply}");
        assert_eq!(reply["error"], error, "{request} -> {reply}");
        assert_eq!(
            reply.get("method").and_then(Value::as_str),
            method,
            "{request} -> {reply}"
        );
    }
    client
        .ws
        .send(Message::Binary(vec![0xff, 0x00].into()))
        .await
        .expect("binary");
    assert_eq!(client.next_json().await["success"], false);
    client.send(r#"{"method":"ping","req_id":9}"#).await;
    assert_eq!(client.next_json().await["method"], "pong");
}

#[tokio::test]
async fn subscribing_to_status_pushes_it_and_refuses_the_subscription() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::connected(&sim).await;
    client
        .send(r#"{"method":"subscribe","params":{"channel":"status"},"req_id":3}"#)
        .await;
    assert_eq!(client.next_json().await["channel"], "status");
    let reply = client.next_json().await;
    assert_eq!(reply["error"], "Symbol(s) not found");
    assert_eq!(reply["success"], false);
    assert_eq!(reply["req_id"], 3);
}

#[tokio::test]
async fn a_socket_without_subscriptions_is_closed_when_idle() {
    let config = SimConfig {
        idle_timeout: Duration::from_millis(300),
        heartbeat_interval: Duration::from_millis(100),
        ..manual(&["BTC/USD"])
    };
    let sim = start(config).await;
    let mut idle = Client::connected(&sim).await;
    let mut busy = Client::subscribed(&sim, &["BTC/USD"]).await;
    match idle.next_message().await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The subscribed socket outlives the idle timeout, kept busy by heartbeats.
    let until = tokio::time::Instant::now() + Duration::from_millis(700);
    while tokio::time::Instant::now() < until {
        assert_eq!(busy.next_text().await, r#"{"channel":"heartbeat"}"#);
    }
    crate::eventually(|| sim.control().connections_open() == 1).await;
}
