//! Every fault, seen from a real client: drop, close codes, stall, refused upgrades, status
//! changes, rejected pairs, quiet pairs, scripted prices, trade now, rate changes, shutdown.

use std::time::Duration;

use futures::StreamExt;
use kraken_sim::decimal::{self, Decimal};
use kraken_sim::{ControlError, Rate, SimConfig, SystemStatus};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::client::{Client, WAIT, manual, start, ticker_fields};

#[tokio::test]
async fn drop_closes_tcp_without_a_close_frame() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    sim.control().drop_connections();
    let end = tokio::time::timeout(WAIT, client.ws.next())
        .await
        .expect("the socket ends in time");
    match end {
        Some(Err(WsError::Protocol(_))) | Some(Err(WsError::Io(_))) | None => {}
        other => panic!("expected an abrupt end without a close frame, got {other:?}"),
    }
    crate::eventually(|| sim.control().connections_open() == 0).await;
    // New connections are served normally.
    let _again = Client::subscribed(&sim, &["BTC/USD"]).await;
    assert_eq!(sim.control().connections_opened(), 2);
}

#[tokio::test]
async fn close_sends_the_requested_code_and_reason() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::connected(&sim).await;
    sim.control()
        .close_connections(1008, "policy violation")
        .expect("valid code");
    match client.next_message().await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "policy violation");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(
        sim.control().close_connections(1006, ""),
        Err(ControlError::CloseCode(1006))
    );
}

#[tokio::test]
async fn stall_sends_nothing_while_tcp_stays_open() {
    let config = SimConfig {
        heartbeat_interval: Duration::from_millis(50),
        ..manual(&["BTC/USD"])
    };
    let sim = start(config).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    assert_eq!(client.next_text().await, r#"{"channel":"heartbeat"}"#);
    sim.control().stall();
    // A frame already in flight may still arrive; after that, silence.
    let _ = client.silent_for(Duration::from_millis(60)).await;
    client.send(r#"{"method":"ping","req_id":7}"#).await;
    let report = sim
        .control()
        .trade_now("BTC/USD", None)
        .await
        .expect("trade");
    assert_eq!(report.written_to, 0);
    assert!(
        client.silent_for(Duration::from_millis(500)).await,
        "no heartbeat, pong or update while stalled"
    );
    assert_eq!(sim.control().connections_open(), 1, "TCP stays open");
    sim.control().unstall();
    // The socket was never closed: the pong queued during the stall is answered now.
    let mut got_pong = false;
    for _ in 0..5 {
        let text = client.next_text().await;
        if text.contains(r#""method":"pong""#) {
            got_pong = true;
            break;
        }
    }
    assert!(got_pong, "pong after the stall");
}

#[tokio::test]
async fn a_stall_of_open_sockets_leaves_new_connections_working() {
    let config = SimConfig {
        heartbeat_interval: Duration::from_millis(50),
        ..manual(&["BTC/USD"])
    };
    let sim = start(config).await;
    let mut old = Client::subscribed(&sim, &["BTC/USD"]).await;
    sim.control().stall_open_sockets();
    let _ = old.silent_for(Duration::from_millis(60)).await;
    let mut new = Client::subscribed(&sim, &["BTC/USD"]).await;
    assert_eq!(new.next_text().await, r#"{"channel":"heartbeat"}"#);
    assert!(old.silent_for(Duration::from_millis(300)).await);
}

#[tokio::test]
async fn refused_upgrades_fail_the_handshake_with_the_status() {
    let sim = start(manual(&["BTC/USD"])).await;
    for status in [429u16, 503] {
        sim.control().refuse_upgrades(status).expect("status");
        match tokio_tungstenite::connect_async(sim.ws_url()).await {
            Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), status),
            Err(other) => panic!("expected HTTP {status}, got {other:?}"),
            Ok(_) => panic!("upgrade should be refused with {status}"),
        }
    }
    assert_eq!(sim.control().stats().ws_upgrades_refused, 2);
    assert_eq!(sim.control().connections_opened(), 0);
    assert_eq!(
        sim.control().refuse_upgrades(200),
        Err(ControlError::Status(200))
    );
    sim.control().accept_upgrades();
    let _client = Client::connected(&sim).await;
}

#[tokio::test]
async fn a_status_change_is_pushed_and_reported_by_rest() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    sim.control().set_system_status(SystemStatus::Maintenance);
    let status = client.next_json().await;
    assert_eq!(status["channel"], "status");
    assert_eq!(status["type"], "update");
    assert_eq!(status["data"][0]["system"], "maintenance");
    let rest: serde_json::Value = reqwest::get(format!("{}/0/public/SystemStatus", sim.rest_url()))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(rest["result"]["status"], "maintenance");
    let mut late = Client::connect(&sim).await;
    assert_eq!(late.next_json().await["data"][0]["system"], "maintenance");
    sim.control().set_system_status(SystemStatus::CancelOnly);
    assert_eq!(client.next_json().await["data"][0]["system"], "cancel_only");
}

#[tokio::test]
async fn a_rejected_pair_fails_its_subscription_but_rest_serves_it() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    sim.control().reject_pair("BTC/USD", true).expect("offered");
    let mut client = Client::connected(&sim).await;
    let acks = client.subscribe(&["BTC/USD", "ETH/USD"]).await;
    assert_eq!(acks[0]["error"], "Currency pair not supported BTC/USD");
    assert_eq!(acks[0]["symbol"], "BTC/USD");
    assert_eq!(acks[1]["success"], true);
    assert_eq!(client.next_json().await["data"][0]["symbol"], "ETH/USD");
    let body: serde_json::Value =
        reqwest::get(format!("{}/0/public/Ticker?pair=XBTUSD", sim.rest_url()))
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
    assert!(body["result"]["XXBTZUSD"]["c"][0].is_string(), "{body}");
    sim.control()
        .reject_pair("BTC/USD", false)
        .expect("offered");
    assert_eq!(client.subscribe(&["BTC/USD"]).await[0]["success"], true);
    assert!(matches!(
        sim.control().reject_pair("DOGE/USD", true),
        Err(ControlError::NotOffered("DOGE/USD"))
    ));
}

#[tokio::test]
async fn a_forced_subscribe_error_refuses_every_symbol() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    sim.control().set_subscribe_error(Some("Exceeded msg rate"));
    let mut client = Client::connected(&sim).await;
    for ack in client.subscribe(&["BTC/USD", "ETH/USD"]).await {
        assert_eq!(ack["error"], "Exceeded msg rate");
        assert_eq!(ack["success"], false);
    }
    sim.control().set_subscribe_error(None);
    assert_eq!(client.subscribe(&["BTC/USD"]).await[0]["success"], true);
}

#[tokio::test]
async fn a_quiet_pair_gets_no_updates_while_others_and_heartbeats_continue() {
    let config = SimConfig {
        rate: Rate::PerPair(Duration::from_millis(30)),
        heartbeat_interval: Duration::from_millis(50),
        ..SimConfig::default()
            .with_pairs(&["BTC/USD", "ETH/USD"])
            .expect("pairs")
    };
    let sim = start(config).await;
    sim.control().set_quiet("BTC/USD", true).expect("offered");
    let mut both = Client::subscribed(&sim, &["BTC/USD", "ETH/USD"]).await;
    let (mut btc, mut eth) = (0, 0);
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < until {
        let text = both.next_text().await;
        if text.contains(r#""symbol":"BTC/USD""#) {
            btc += 1;
        } else if text.contains(r#""symbol":"ETH/USD""#) {
            eth += 1;
        }
    }
    assert_eq!(btc, 0, "quiet pair traded");
    assert!(eth >= 5, "{eth} ETH updates");
    let mut quiet_only = Client::subscribed(&sim, &["BTC/USD"]).await;
    assert_eq!(quiet_only.next_text().await, r#"{"channel":"heartbeat"}"#);
    sim.control().set_quiet("BTC/USD", false).expect("offered");
    let update = quiet_only.next_json().await;
    assert_eq!(update["data"][0]["symbol"], "BTC/USD");
}

#[tokio::test]
async fn a_scripted_price_is_the_next_update_verbatim() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    sim.control()
        .set_next_price("BTC/USD", "65000.10")
        .expect("valid price");
    let report = sim
        .control()
        .trade_now("BTC/USD", None)
        .await
        .expect("trade");
    assert_eq!(report.price, "65000.10");
    let fields = ticker_fields(&client.next_data().await);
    assert_eq!(fields["last"], "65000.10", "trailing zero kept on the wire");
    let report = sim
        .control()
        .trade_now("BTC/USD", Some("58033"))
        .await
        .expect("trade");
    let fields = ticker_fields(&client.next_data().await);
    assert_eq!(
        (fields["last"].as_str(), report.price.as_str()),
        ("58033", "58033")
    );
    // The walk continues from the scripted level.
    let next = sim
        .control()
        .trade_now("BTC/USD", None)
        .await
        .expect("trade");
    let price = decimal::parse(&next.price).expect("decimal");
    let (low, high) = (Decimal::new(579_000, 1), Decimal::new(582_000, 1));
    assert!(price > low && price < high, "{price}");
    for bad in ["", "-1", "0", "1e3", "abc", "1.2.3"] {
        assert!(
            matches!(
                sim.control().set_next_price("BTC/USD", bad),
                Err(ControlError::Price(_))
            ),
            "{bad:?}"
        );
    }
    assert!(sim.control().set_next_price("XBT/USD", "1").is_err());
}

#[tokio::test]
async fn trade_now_returns_after_every_subscriber_wrote_the_update() {
    let sim = start(manual(&["BTC/USD", "ETH/USD"])).await;
    let mut a = Client::subscribed(&sim, &["BTC/USD"]).await;
    let mut b = Client::subscribed(&sim, &["BTC/USD", "ETH/USD"]).await;
    let mut other = Client::subscribed(&sim, &["ETH/USD"]).await;
    let report = sim
        .control()
        .trade_now("BTC/USD", Some("61000.5"))
        .await
        .expect("trade");
    assert_eq!(report.written_to, 2);
    for client in [&mut a, &mut b] {
        // Already written: it is there without waiting for the engine.
        let text = tokio::time::timeout(Duration::from_millis(200), client.next_data())
            .await
            .expect("already on the wire");
        assert_eq!(ticker_fields(&text)["last"], "61000.5");
    }
    assert!(other.silent_for(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn the_rate_can_be_changed_at_runtime() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    assert!(
        client.silent_for(Duration::from_millis(300)).await,
        "manual: no trades"
    );
    sim.control()
        .set_rate(Rate::PerPair(Duration::from_millis(20)));
    assert_eq!(
        sim.control().rate(),
        Rate::PerPair(Duration::from_millis(20))
    );
    for _ in 0..5 {
        assert_eq!(client.next_json().await["type"], "update");
    }
    sim.control().set_rate(Rate::Manual);
    // In-flight updates drain, then silence.
    while !client.silent_for(Duration::from_millis(200)).await {}
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let sim = start(manual(&["BTC/USD"])).await;
    let mut client = Client::subscribed(&sim, &["BTC/USD"]).await;
    let url = sim.ws_url();
    sim.shutdown().await;
    match client.next_message().await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(
        tokio_tungstenite::connect_async(url).await.is_err(),
        "listener closed"
    );
}
