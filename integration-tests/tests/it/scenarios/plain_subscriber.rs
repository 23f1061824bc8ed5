//! Scenario 8: a plain NATS subscriber, written from the documented schema alone (its own
//! struct, `serde_json` and `rmp-serde`, the `Content-Type` header), receives and decodes the
//! price messages in both encodings. Two ingestors publish on the same subjects, one in
//! MessagePack and one in JSON, as a fleet does while its encoding is switched; the subscriber
//! also reads the last value of a pair from the JetStream stream, as a new subscriber would.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use integration_tests::ingestor::start_ingestor;
use integration_tests::{TestNats, eventually, unique_id};
use jiff::Timestamp;
use serde::Deserialize;

use super::{WAIT, ingestor_config, manual_sim, trade_streamed};

const PAIRS: &[&str] = &["BTC/USD", "DOGE/USD", "ETH/USD"];

/// The price message as docs/architecture.md describes it.
#[derive(Debug, Clone, Deserialize)]
struct Price {
    v: u64,
    pair: String,
    price: String,
    source: String,
    exchange_time: Option<String>,
    received_at: String,
    published_at: String,
    seq: u64,
    ingestor: String,
}

/// The documented field names.
const FIELDS: [&str; 10] = [
    "as_of",
    "exchange_time",
    "ingestor",
    "pair",
    "price",
    "published_at",
    "received_at",
    "seq",
    "source",
    "v",
];

/// One received message: subject, `Content-Type`, decoded fields, field names.
#[derive(Debug, Clone)]
struct Got {
    subject: String,
    content_type: String,
    price: Price,
    fields: BTreeSet<String>,
}

/// Decodes a payload by its `Content-Type`, as any client would.
fn decode(content_type: &str, payload: &[u8]) -> Result<(Price, BTreeSet<String>), String> {
    let (price, map): (Price, serde_json::Value) = match content_type {
        "application/json" => (
            serde_json::from_slice(payload).map_err(|e| e.to_string())?,
            serde_json::from_slice(payload).map_err(|e| e.to_string())?,
        ),
        "application/msgpack" => {
            // Named fields: a map (fixmap 0x80–0x8f, map16 0xde, map32 0xdf), not an array.
            let first = payload.first().copied().unwrap_or_default();
            if !matches!(first, 0x80..=0x8f | 0xde | 0xdf) {
                return Err(format!("not a MessagePack map: first byte {first:#04x}"));
            }
            (
                rmp_serde::from_slice(payload).map_err(|e| e.to_string())?,
                rmp_serde::from_slice(payload).map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("unexpected Content-Type {other:?}")),
    };
    let fields = map
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    Ok((price, fields))
}

fn received(msg: &async_nats::Message) -> Result<Got, String> {
    let content_type = msg
        .headers
        .as_ref()
        .and_then(|h| h.get("Content-Type"))
        .map(|v| v.as_str().to_owned())
        .ok_or("no Content-Type header")?;
    let (price, fields) = decode(&content_type, &msg.payload)?;
    Ok(Got {
        subject: msg.subject.to_string(),
        content_type,
        price,
        fields,
    })
}

#[tokio::test]
async fn a_plain_nats_subscriber_decodes_prices_in_msgpack_and_json_by_their_content_type() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = manual_sim(PAIRS).await;
    let ttl = Duration::from_secs(30);

    // The plain subscriber.
    let client = nats.client().await;
    let mut sub = client
        .subscribe(format!("{prefix}.prices.kraken.*"))
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    let got: Arc<Mutex<Vec<Result<Got, String>>>> = Arc::default();
    let sink = got.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            sink.lock().expect("lock").push(received(&msg));
        }
    });

    let mut msgpack = ingestor_config(&nats, &prefix, &sim, PAIRS, ttl);
    msgpack.ingestor.instance_id = format!("{prefix}-msgpack");
    let mut json = ingestor_config(&nats, &prefix, &sim, PAIRS, ttl);
    json.ingestor.instance_id = format!("{prefix}-json");
    json.nats.encoding = common::Encoding::Json;
    let _a = start_ingestor(msgpack).await;
    let _b = start_ingestor(json).await;

    let prices = [
        ("BTC/USD", "65000.10"),
        ("DOGE/USD", "0.12345670"),
        ("ETH/USD", "3000.00"),
    ];
    let mut traded = Vec::new();
    for (pair, price) in prices {
        traded.push((pair, price, trade_streamed(&sim, pair, price, 2).await));
    }
    // Each trade arrives twice: once per ingestor, once per encoding.
    eventually(WAIT, "every trade in both encodings", || {
        let got = got.lock().expect("lock").clone();
        let complete = traded.iter().all(|(pair, price, at)| {
            ["application/msgpack", "application/json"]
                .iter()
                .all(|ct| {
                    got.iter().flatten().any(|g| {
                        g.content_type == *ct
                            && g.price.pair == *pair
                            && g.price.price == *price
                            && g.price
                                .exchange_time
                                .as_deref()
                                .and_then(|t| t.parse::<Timestamp>().ok())
                                == Some(*at)
                    })
                })
        });
        async move { complete.then_some(()) }
    })
    .await;

    let got = got.lock().expect("lock").clone();
    let undecodable: Vec<_> = got.iter().filter_map(|g| g.as_ref().err()).collect();
    assert!(undecodable.is_empty(), "{undecodable:?}");
    for g in got.iter().flatten() {
        let p = &g.price;
        assert_eq!(p.v, 1);
        assert_eq!(
            g.subject,
            format!("{prefix}.prices.kraken.{}", p.pair.replace('/', "-")),
            "subject token BASE-QUOTE"
        );
        let expected_ingestor = match g.content_type.as_str() {
            "application/msgpack" => format!("{prefix}-msgpack"),
            _ => format!("{prefix}-json"),
        };
        assert_eq!(p.ingestor, expected_ingestor, "{g:?}");
        assert_eq!(p.source, "ws");
        assert!(p.seq >= 1);
        for t in [&p.received_at, &p.published_at] {
            t.parse::<Timestamp>()
                .unwrap_or_else(|e| panic!("{t:?} is not RFC 3339: {e}"));
        }
        let documented: BTreeSet<String> = FIELDS.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(g.fields, documented, "the documented fields, named: {g:?}");
    }
    // Per ingestor and pair, seq goes up by one per message.
    for ingestor in [format!("{prefix}-msgpack"), format!("{prefix}-json")] {
        for pair in PAIRS {
            let seqs: Vec<u64> = got
                .iter()
                .flatten()
                .filter(|g| g.price.ingestor == ingestor && g.price.pair == *pair)
                .map(|g| g.price.seq)
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[1] == w[0] + 1),
                "{ingestor} {pair}: {seqs:?}"
            );
        }
    }

    // The last value of a pair, straight from the stream (whichever ingestor wrote it last).
    let js = async_nats::jetstream::new(client.clone());
    let stream = js
        .get_stream(format!("{}_PRICES", prefix.to_uppercase()))
        .await
        .expect("the last-value stream exists");
    let last = stream
        .direct_get_last_for_subject(format!("{prefix}.prices.kraken.DOGE-USD"))
        .await
        .expect("the last DOGE/USD message");
    let content_type = last
        .headers
        .get("Content-Type")
        .map(|v| v.as_str().to_owned())
        .expect("Content-Type kept in the stream");
    let (price, _) = decode(&content_type, &last.payload).expect("decodes");
    assert_eq!(price.price, "0.12345670");
}
