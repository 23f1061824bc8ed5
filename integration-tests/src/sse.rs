//! A minimal Server-Sent Events reader for the stream tests: opens
//! `GET /api/v1/ltp/stream` and parses events as a browser's `EventSource` would.

use std::time::Duration;

use serde_json::Value;

/// One event (or heartbeat comment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    /// `event:` (`price`, `unavailable`, `close`); empty for a comment.
    pub event: String,
    /// `id:`, when given.
    pub id: Option<String>,
    /// `data:` lines joined.
    pub data: String,
    /// A `:` comment line (heartbeat).
    pub comment: bool,
}

impl SseEvent {
    /// `data` as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }

    /// `pair` and `price` of a price event.
    pub fn price(&self) -> (String, String) {
        let v = self.json();
        (
            v["pair"].as_str().unwrap_or_default().to_owned(),
            v["price"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

/// An open stream.
pub struct SseStream {
    /// The response status.
    pub status: u16,
    response: reqwest::Response,
    buf: String,
    /// The `id` of the last event read (what a browser sends back as `Last-Event-ID`).
    pub last_id: Option<String>,
}

impl SseStream {
    /// Opens `url` (with `Last-Event-ID: last_id` when given). Connection errors panic.
    pub async fn open(url: &str, last_id: Option<&str>) -> SseStream {
        let client = reqwest::Client::new();
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream request");
        SseStream {
            status: response.status().as_u16(),
            response,
            buf: String::new(),
            last_id: last_id.map(str::to_owned),
        }
    }

    /// The next event or comment within `wait`; `None` when the stream ended. Panics when
    /// nothing arrives in time.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data.push_str(v);
                    } else if line.starts_with(':') {
                        event.comment = true;
                    }
                }
                if event.event.is_empty() && !event.comment && event.data.is_empty() {
                    continue;
                }
                if event.id.is_some() {
                    self.last_id.clone_from(&event.id);
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout(wait, self.response.chunk())
                .await
                .expect("an event in time")
                .ok()??;
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf8"));
        }
    }

    /// The next event that is not a heartbeat.
    pub async fn event(&mut self, wait: Duration) -> SseEvent {
        loop {
            let event = self.next(wait).await.expect("stream still open");
            if !event.comment {
                return event;
            }
        }
    }

    /// The next price event whose pair and price are `(pair, price)`, skipping others.
    pub async fn until_price(&mut self, wait: Duration, pair: &str, price: &str) -> SseEvent {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.event(left.max(Duration::from_millis(1))).await;
            if event.event == "price" && event.price() == (pair.to_owned(), price.to_owned()) {
                return event;
            }
        }
    }

    /// Events other than heartbeats arriving within `quiet`.
    pub async fn events_within(&mut self, quiet: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return events;
            }
            match tokio::time::timeout(left, self.next(quiet + Duration::from_secs(1))).await {
                Ok(Some(event)) if !event.comment => events.push(event),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return events,
            }
        }
    }
}
