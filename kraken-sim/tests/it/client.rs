//! Test helpers: simulators with test settings, a WS v2 client that reads frames with a
//! deadline, and checks of the exact wire text.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use kraken_sim::{Rate, SimConfig, Simulator};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for a frame that must arrive.
pub const WAIT: Duration = Duration::from_secs(5);

/// A manual-rate simulator (trades only through `trade_now`) offering `pairs`.
pub fn manual(pairs: &[&str]) -> SimConfig {
    SimConfig {
        rate: Rate::Manual,
        ..SimConfig::default().with_pairs(pairs).expect("known pairs")
    }
}

/// Starts a simulator.
pub async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

/// A WebSocket v2 client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects without reading anything.
    pub async fn connect(sim: &Simulator) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(sim.ws_url())
            .await
            .expect("connect");
        Client { ws }
    }

    /// Connects and consumes the `status` banner.
    pub async fn connected(sim: &Simulator) -> Client {
        let mut client = Client::connect(sim).await;
        let status = client.next_json().await;
        assert_eq!(status["channel"], "status", "{status}");
        client
    }

    /// Sends a text frame.
    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next frame of any kind, failing the test after [`WAIT`].
    pub async fn next_message(&mut self) -> Message {
        tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame ok")
    }

    /// The next text frame (heartbeats included).
    pub async fn next_text(&mut self) -> String {
        loop {
            match self.next_message().await {
                Message::Text(text) => return text.to_string(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected text, got {other:?}"),
            }
        }
    }

    /// The next text frame that is not a heartbeat.
    pub async fn next_data(&mut self) -> String {
        loop {
            let text = self.next_text().await;
            if text != r#"{"channel":"heartbeat"}"# {
                return text;
            }
        }
    }

    /// The next non-heartbeat frame as JSON.
    pub async fn next_json(&mut self) -> Value {
        let text = self.next_data().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON {text}: {e}"))
    }

    /// The next message of `channel` (`status`, `ticker`…), skipping any other frames.
    pub async fn next_on(&mut self, channel: &str) -> Value {
        loop {
            let value = self.next_json().await;
            if value["channel"] == channel {
                return value;
            }
        }
    }

    /// The next close frame, skipping data frames still in flight before it.
    pub async fn next_close(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next_message().await {
                Message::Close(frame) => return frame,
                Message::Text(_) | Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// True when no frame at all arrives within `d`.
    pub async fn silent_for(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.ws.next()).await.is_err()
    }

    /// Subscribes to `symbols` and returns the acks (one per symbol) as JSON.
    pub async fn subscribe(&mut self, symbols: &[&str]) -> Vec<Value> {
        let request = serde_json::json!({
            "method": "subscribe",
            "params": { "channel": "ticker", "symbol": symbols },
        });
        self.send(&request.to_string()).await;
        let mut acks = Vec::new();
        for _ in symbols {
            acks.push(self.next_json().await);
        }
        acks
    }

    /// Subscribes to offered `symbols` and consumes their acks and snapshots.
    pub async fn subscribed(sim: &Simulator, symbols: &[&str]) -> Client {
        let mut client = Client::connected(sim).await;
        for ack in client.subscribe(symbols).await {
            assert_eq!(ack["success"], true, "{ack}");
        }
        for _ in symbols {
            let snapshot = client.next_json().await;
            assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
        }
        client
    }
}

/// The raw JSON text of every field of a ticker message's `data[0]`.
pub fn ticker_fields(text: &str) -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Frame {
        data: Vec<BTreeMap<String, Box<RawValue>>>,
    }
    let frame: Frame =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not a ticker {text}: {e}"));
    frame.data[0]
        .iter()
        .map(|(k, v)| (k.clone(), v.get().to_owned()))
        .collect()
}

/// The object keys of a JSON value, sorted.
pub fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// `2022-12-25T09:30:59.123456Z`.
pub fn is_rfc3339_micros(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 27
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// `[-]digits[.digits]`, what a Kraken decimal literal looks like.
pub fn is_decimal_literal(text: &str) -> bool {
    kraken_sim::decimal::parse(text).is_ok()
}
