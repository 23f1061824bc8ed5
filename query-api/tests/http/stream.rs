//! `GET /api/v1/ltp/stream` in process: snapshot, changes, conflation, resume, expiry, caps,
//! auth and shutdown, read frame by frame from the response body.

use std::time::Duration;

use futures::StreamExt;
use query_api::Config;
use salvo::http::ResBody;
use salvo::test::TestClient;
use serde_json::Value;

use crate::support::{App, config, fresh, price, url};

/// How long any expected event may take (generous: the machine is shared).
const WAIT: Duration = Duration::from_secs(10);

/// One parsed event.
#[derive(Debug, Clone, Default)]
struct Event {
    event: String,
    id: Option<String>,
    data: String,
    comment: bool,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// Reads events off a streaming body.
struct Reader {
    body: ResBody,
    buf: String,
    pub status: u16,
    pub headers: salvo::http::HeaderMap,
}

impl Reader {
    async fn open(app: &App, request: salvo::test::RequestBuilder) -> Reader {
        let mut res = app.service.handle(request.build()).await;
        Reader {
            status: res.status_code.map_or(200, |s| s.as_u16()),
            headers: res.headers().clone(),
            body: res.take_body(),
            buf: String::new(),
        }
    }

    /// The next event or comment; `None` when the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = Event::default();
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
                    continue; // the `retry:` block
                }
                return Some(event);
            }
            let frame = tokio::time::timeout(WAIT, self.body.next())
                .await
                .expect("an event in time")?
                .expect("body frame");
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(std::str::from_utf8(&data).expect("utf8"));
            }
        }
    }

    /// The next event that is not a heartbeat.
    async fn event(&mut self) -> Event {
        loop {
            let event = self.next().await.expect("stream still open");
            if !event.comment {
                return event;
            }
        }
    }

    /// Whether nothing but heartbeats arrives for `quiet`.
    async fn silent_for(&mut self, quiet: Duration) -> Result<(), Event> {
        match tokio::time::timeout(quiet, self.event()).await {
            Ok(event) => Err(event),
            Err(_) => Ok(()),
        }
    }
}

fn stream(query: &str) -> salvo::test::RequestBuilder {
    TestClient::get(url(&format!("/api/v1/ltp/stream{query}")))
}

#[tokio::test]
async fn snapshot_first_then_every_change_as_the_rest_item() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "62702.90000"));
    let mut sse = Reader::open(&app, stream("?pair=BTC/USD,ETH/USD")).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    let first = sse.event().await;
    assert_eq!(first.event, "price");
    // The snapshot is one chunk (BTC's price, ETH unavailable): its last event has the id.
    assert_eq!(first.id, None, "only a chunk's last event carries the id");
    let rest = app.get("/api/v1/ltp?pair=BTC/USD").await.json();
    let mut item = first.json();
    let mut expected = rest["ltp"][0].clone();
    item["age_ms"] = Value::Null;
    expected["age_ms"] = Value::Null;
    assert_eq!(item, expected, "data is exactly the REST item");
    assert!(
        first.data.contains("\"amount\":62702.90000"),
        "{}",
        first.data
    );
    let second = sse.event().await;
    assert_eq!(second.event, "unavailable");
    assert!(second.id.as_deref().is_some_and(|id| id.starts_with("1.")));
    let eth = app.get("/api/v1/ltp?pair=ETH/USD").await.json();
    assert_eq!(second.json(), eth["errors"][0], "same error as REST");
    app.publish(fresh("ETH/USD", "3001.5"));
    let third = sse.event().await;
    assert_eq!(
        (third.event.as_str(), third.json()["price"].as_str()),
        ("price", Some("3001.5"))
    );
    assert!(third.id.is_some(), "a chunk of one event has the id");
    app.publish(fresh("BTC/USD", "62703"));
    assert_eq!(sse.event().await.json()["price"], "62703");
}

#[tokio::test]
async fn bad_pairs_are_400_before_any_stream() {
    let app = App::new(config());
    let reply = app.get("/api/v1/ltp/stream?pair=DOGE/EUR").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "INVALID_PARAMETER");
    assert_eq!(app.state.streams.open_count(), 0);
}

#[tokio::test]
async fn a_slow_reader_gets_the_latest_and_the_rest_is_counted() {
    let app = App::new(config());
    app.publish(price("BTC/USD", "1", Duration::from_millis(1000)));
    let mut sse = Reader::open(&app, stream("?pair=BTC/USD")).await;
    assert_eq!(sse.event().await.json()["price"], "1");
    // Not reading while five prices arrive, each newer than the last.
    for (i, p) in ["2", "3", "4", "5", "6"].iter().enumerate() {
        app.publish(price(
            "BTC/USD",
            p,
            Duration::from_millis(500 - i as u64 * 10),
        ));
    }
    let next = sse.event().await;
    assert_eq!(next.json()["price"], "6", "only the newest");
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics.contains("ltp_stream_conflated_total{kind=\"sse\"} 4"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("ltp_stream"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn resume_sends_only_pairs_that_changed() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "1"));
    app.publish(fresh("ETH/USD", "10"));
    let mut first = Reader::open(&app, stream("?pair=BTC/USD,ETH/USD")).await;
    first.event().await;
    let last = first.event().await;
    let id = last.id.expect("id");
    drop(first);
    // While away: ETH changed, BTC did not.
    app.publish(fresh("ETH/USD", "11"));
    let request = stream("?pair=BTC/USD,ETH/USD").add_header("last-event-id", &id, true);
    let mut second = Reader::open(&app, request).await;
    let event = second.event().await;
    assert_eq!(
        (
            event.json()["pair"].as_str(),
            event.json()["price"].as_str()
        ),
        (Some("ETH/USD"), Some("11"))
    );
    assert!(
        second.silent_for(Duration::from_millis(300)).await.is_ok(),
        "no BTC repeat"
    );
    app.publish(fresh("BTC/USD", "2"));
    assert_eq!(second.event().await.json()["price"], "2");
}

#[tokio::test]
async fn a_garbage_last_event_id_gives_a_full_snapshot() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "1"));
    let request = stream("?pair=BTC/USD").add_header("last-event-id", "1.!!nonsense", true);
    let mut sse = Reader::open(&app, request).await;
    assert_eq!(sse.event().await.json()["price"], "1");
}

#[tokio::test]
async fn a_price_past_the_ttl_becomes_an_unavailable_event() {
    let mut c = config();
    c.cache.ttl = Duration::from_secs(1);
    let app = App::new(c);
    app.publish(price("BTC/USD", "1", Duration::from_millis(700)));
    let mut sse = Reader::open(&app, stream("?pair=BTC/USD")).await;
    assert_eq!(sse.event().await.event, "price");
    let gone = sse.event().await;
    assert_eq!(gone.event, "unavailable");
    assert_eq!(gone.json()["reason"], "expired");
    assert_eq!(gone.json()["code"], "PRICE_FETCH_ERROR");
}

#[tokio::test]
async fn heartbeats_keep_an_idle_stream_alive() {
    let mut c = config();
    c.streams.heartbeat = Duration::from_millis(100);
    let app = App::new(c);
    let mut sse = Reader::open(&app, stream("?pair=BTC/USD")).await;
    assert_eq!(sse.next().await.expect("open").event, "unavailable");
    let beat = sse.next().await.expect("open");
    assert!(beat.comment, "{beat:?}");
}

#[tokio::test]
async fn shutdown_sends_a_final_event_and_ends_the_stream() {
    let app = App::new(config());
    let mut sse = Reader::open(&app, stream("")).await;
    for _ in 0..4 {
        assert_eq!(sse.event().await.event, "unavailable");
    }
    app.state.streams.close_all();
    let last = sse.event().await;
    assert_eq!(last.event, "close");
    assert_eq!(last.json()["reason"], "shutdown");
    assert_eq!(last.json()["retry_ms"], 1000);
    assert!(sse.next().await.is_none(), "ended");
    assert_eq!(app.state.streams.open_count(), 0);
    let refused = app.get("/api/v1/ltp/stream").await;
    assert_eq!(refused.status, 503);
    let metrics = app.get("/metrics").await.body;
    assert!(metrics.contains("ltp_stream_disconnects_total{kind=\"sse\",reason=\"shutdown\"} 1"));
}

fn capped(max_streams: u32, max_per_client: u32) -> Config {
    let mut c = config();
    c.streams.max_streams = max_streams;
    c.streams.max_per_client = max_per_client;
    c
}

#[tokio::test]
async fn the_client_cap_is_429_and_the_replica_cap_503_with_retry_after() {
    let app = App::new(capped(2, 1));
    let first = Reader::open(&app, stream("")).await;
    assert_eq!(first.status, 200);
    let second = app.get("/api/v1/ltp/stream").await;
    assert_eq!(second.status, 429);
    assert_eq!(second.json()["error"], "TOO_MANY_STREAMS");
    drop(first);
    assert_eq!(
        app.state.streams.open_count(),
        0,
        "a dropped stream is counted out"
    );
    let app = App::new(capped(1, 1));
    let _held = Reader::open(&app, stream("")).await;
    let full = app.get("/api/v1/ltp/stream").await;
    assert_eq!(full.status, 503);
    assert_eq!(full.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn with_auth_the_key_may_be_a_query_parameter() {
    let mut c = config();
    c.auth.enabled = true;
    c.auth.api_key = common::secret::Secret::new("s3cret");
    let app = App::new(c);
    assert_eq!(app.get("/api/v1/ltp/stream").await.status, 401);
    assert_eq!(
        app.get("/api/v1/ltp/stream?api_key=wrong").await.status,
        401
    );
    let ok = Reader::open(&app, stream("?pair=BTC/USD&api_key=s3cret")).await;
    assert_eq!(ok.status, 200);
    let header = stream("?pair=BTC/USD").add_header("x-api-key", "s3cret", true);
    assert_eq!(Reader::open(&app, header).await.status, 200);
    assert_eq!(
        app.get("/api/v1/ltp?api_key=s3cret").await.status,
        401,
        "REST: header only"
    );
}
