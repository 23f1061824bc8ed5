//! Scenario 9: two ingestors running at once on the same subjects.
//!
//! - No duplicate refresh work: each refresh request gets exactly one reply, and the simulator
//!   sees exactly one REST `Ticker` request per refresh.
//! - No consumer sees a price go back in time: a subscriber applying the documented ordering
//!   rule (`(as_of or exchange_time or received_at, received_at)`, keep the larger) never goes back to
//!   an older trade although it receives every trade twice, re-publishes from both ingestors
//!   and REST refreshes in between; and the API, read steadily, never does either, nor does
//!   an SSE stream opened before the first trade (every price event it carries, in order).

use std::time::Duration;

use common::PriceMessage;
use futures::StreamExt;
use integration_tests::ingestor::{Watcher, start_ingestor};
use integration_tests::query_api::start_query_api;
use integration_tests::sse::SseStream;
use integration_tests::{TestNats, eventually, unique_id};
use jiff::Timestamp;
use kraken_sim::Endpoint;
use serde_json::Value;

use super::{
    ReadLoop, WAIT, api_config, figure, ingestor_config, items, manual_sim, trade_streamed,
};

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "LTC/USD"];
const ROUNDS: usize = 6;

/// The price of `pair` in trade round `round`: strictly increasing, so "older trade" and
/// "lower price" are the same thing.
fn price(pair: &str, round: usize) -> String {
    match pair {
        "BTC/USD" => format!("61{round:03}.5"),
        "ETH/USD" => format!("31{round:02}.25"),
        _ => format!("8{round}.75"),
    }
}

/// The round a served or published price belongs to (REST pads decimals: compare as
/// decimals); `-1` for a price from before the first trade.
fn round_of(pair: &str, text: &str) -> i64 {
    let normal = |t: &str| {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            t.to_owned()
        }
    };
    (0..ROUNDS)
        .find(|r| normal(&price(pair, *r)) == normal(text))
        .map_or(-1, |r| i64::try_from(r).expect("small"))
}

/// The documented ordering key.
fn key(m: &PriceMessage) -> (Timestamp, Timestamp) {
    (m.event_time(), m.received_at)
}

/// Sends a refresh request on the raw subject and collects every reply that comes: the
/// first within [`WAIT`], any further one within 1.5 s of it.
async fn refresh_and_count_replies(
    client: &async_nats::Client,
    prefix: &str,
    pairs: &[&str],
) -> Vec<Value> {
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .expect("subscribe inbox");
    let body = serde_json::json!({ "pairs": pairs }).to_string();
    client
        .publish_with_reply(format!("{prefix}.refresh.kraken"), inbox, body.into())
        .await
        .expect("publish the request");
    client.flush().await.expect("flush");
    let mut got = Vec::new();
    let mut wait = WAIT;
    while let Ok(Some(msg)) = tokio::time::timeout(wait, replies.next()).await {
        got.push(serde_json::from_slice::<Value>(&msg.payload).expect("a JSON reply"));
        wait = Duration::from_millis(1500);
    }
    got
}

#[tokio::test]
async fn two_ingestors_answer_refresh_once_and_prices_never_go_back() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    // A short TTL: both ingestors re-publish every second, in between the trades.
    let ttl = Duration::from_secs(3);
    let client = nats.client().await;
    let watcher = Watcher::start(&client, &prefix).await;
    let ids = [format!("{prefix}-a"), format!("{prefix}-b")];
    let mut a = ingestor_config(&nats, &prefix, &sim, PAIRS, ttl);
    a.ingestor.instance_id = ids[0].clone();
    let mut b = ingestor_config(&nats, &prefix, &sim, PAIRS, ttl);
    b.ingestor.instance_id = ids[1].clone();
    let _a = start_ingestor(a).await;
    let _b = start_ingestor(b).await;
    let api = start_query_api(api_config(&nats, &prefix, PAIRS, ttl)).await;
    api.wait_ready(WAIT).await;
    let reads = ReadLoop::start(api.url("/api/v1/ltp"), Duration::from_millis(50));
    // Read only after the rounds: what the socket buffered meanwhile, in the order sent.
    let mut stream = SseStream::open(&api.url("/api/v1/ltp/stream"), None).await;
    assert_eq!(stream.status, 200);

    let mut tickers_before = 0;
    let mut refreshes = 0;
    let mut answered_by = Vec::new();
    for round in 0..ROUNDS {
        for pair in PAIRS {
            // Written to both ingestors' sockets.
            trade_streamed(&sim, pair, &price(pair, round), 2).await;
        }
        if round == 0 {
            // Both sockets stream every pair: from here on only refreshes call REST.
            tickers_before = sim.control().rest_requests_for(Endpoint::Ticker);
        }
        // A refresh straight on the bus, one pair, then one through the API, two pairs.
        let pair = PAIRS[round % PAIRS.len()];
        let replies = refresh_and_count_replies(&client, &prefix, &[pair]).await;
        assert_eq!(
            replies.len(),
            1,
            "exactly one ingestor answers: {replies:?}"
        );
        let reply = &replies[0];
        assert_eq!(reply["errors"].as_array().map(Vec::len), Some(0), "{reply}");
        assert_eq!(reply["prices"].as_array().map(Vec::len), Some(1), "{reply}");
        answered_by.push(reply["ingestor"].as_str().unwrap_or_default().to_owned());
        let through_api = api.post("/api/v1/ltp/refresh?pairs=ETH/USD,LTC/USD").await;
        assert_eq!(through_api.status, 200, "{}", through_api.body);
        assert_eq!(items(&through_api.body).len(), 2, "{}", through_api.body);
        refreshes += 2;
    }
    // A duplicate would have been sent by now (replies are collected 1.5 s past the first).
    let tickers = sim.control().rest_requests_for(Endpoint::Ticker) - tickers_before;
    figure(
        "scenario 9 refreshes / REST Ticker requests",
        format!("{refreshes} / {tickers}"),
    );
    figure(
        "scenario 9 bus refreshes answered by a / b",
        format!(
            "{} / {}",
            answered_by.iter().filter(|i| **i == ids[0]).count(),
            answered_by.iter().filter(|i| **i == ids[1]).count()
        ),
    );
    assert!(
        answered_by.iter().all(|i| ids.contains(i)),
        "{answered_by:?}"
    );
    assert_eq!(
        tickers, refreshes,
        "one Kraken call per refresh, by one ingestor"
    );

    // Everything settles on the last trade.
    let last = ROUNDS - 1;
    eventually(WAIT, "the API serves the last trades", || async {
        let served = items(&api.get("/api/v1/ltp").await.body);
        (served.len() == PAIRS.len()
            && served
                .iter()
                .all(|i| round_of(&i.pair, &i.price) == last as i64))
        .then_some(())
    })
    .await;
    let reads = reads.finish().await;

    // The subscriber's view.
    let messages = watcher.prices();
    for id in &ids {
        assert!(
            messages.iter().any(|r| &*r.msg.ingestor == id),
            "{id} published"
        );
    }
    let mut refused = 0;
    for pair in PAIRS {
        let mut current: Option<&PriceMessage> = None;
        for r in messages.iter().filter(|r| r.msg.pair.as_str() == *pair) {
            let m = &r.msg;
            let round = round_of(pair, m.price.as_str());
            match current {
                Some(c) if key(m) < key(c) => {
                    // Refused by the rule: it must not have been a newer trade.
                    refused += 1;
                    assert!(
                        round <= round_of(pair, c.price.as_str()),
                        "the rule dropped a newer trade: {m:?} after {c:?}"
                    );
                }
                _ => {
                    if let Some(c) = current {
                        assert!(
                            round >= round_of(pair, c.price.as_str()),
                            "the rule accepted an older trade: {m:?} after {c:?}"
                        );
                    }
                    current = Some(m);
                }
            }
        }
        let c = current.expect("messages for every pair");
        assert_eq!(round_of(pair, c.price.as_str()), last as i64, "{c:?}");
        // Each ingestor's own messages are in order.
        for id in &ids {
            let own: Vec<&PriceMessage> = messages
                .iter()
                .map(|r| &r.msg)
                .filter(|m| m.pair.as_str() == *pair && &*m.ingestor == id)
                .collect();
            assert!(
                own.windows(2)
                    .all(|w| w[1].seq == w[0].seq + 1 && key(w[1]) >= key(w[0])),
                "{id} {pair} published out of order"
            );
        }
    }
    figure(
        "scenario 9 bus messages / refused by the ordering rule",
        format!("{} / {refused}", messages.len()),
    );

    // The API's view, read every 50 ms: never an older trade, never an older exchange time.
    for pair in PAIRS {
        let mut seen = (-1_i64, None::<Timestamp>);
        for read in &reads {
            let Some(item) = read.items.iter().find(|i| i.pair == *pair) else {
                continue;
            };
            let round = round_of(pair, &item.price);
            assert!(
                round >= seen.0,
                "{pair} went back to round {round} after {}",
                seen.0
            );
            if let (Some(t), Some(before)) = (item.exchange_time, seen.1) {
                assert!(t >= before, "{pair} exchange time went back: {item:?}");
            }
            seen = (round, item.exchange_time.or(seen.1));
        }
    }
    figure("scenario 9 API reads checked", reads.len());

    // The stream's view: every price event in order until each pair's last trade, never an
    // older trade after a newer one.
    let mut seen = vec![-1_i64; PAIRS.len()];
    let mut events = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.iter().any(|r| *r < last as i64) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream did not reach the last trades: {seen:?}"
        );
        let event = stream.event(WAIT).await;
        if event.event != "price" {
            continue;
        }
        events += 1;
        let (pair, price) = event.price();
        let i = PAIRS
            .iter()
            .position(|p| *p == pair)
            .expect("a requested pair");
        let round = round_of(&pair, &price);
        assert!(
            round >= seen[i],
            "the stream sent {pair} round {round} after round {}",
            seen[i]
        );
        seen[i] = round;
    }
    figure("scenario 9 stream price events checked", events);
}
