//! Issue 14's additions against the real service over real NATS (and Redis): `max_age` on both
//! caches, conditional requests, Kraken's names (reads and refresh), `skip_invalid`,
//! compression, the pair registry and the seed's `/swagger/` path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Encoding;
use integration_tests::query_api::{
    Publisher, RunningQueryApi, price_message, start_query_api, test_config, with_redis,
};
use integration_tests::{TestNats, TestRedis, eventually, unique_id};

use super::{PAIRS, WAIT, reply_with, responder, until_status};

/// Publishes BTC/USD fresh and ETH/USD 5 s old until both are served.
async fn publish_aged(api: &RunningQueryApi, publisher: &Publisher) {
    eventually(WAIT, "both prices served", || async {
        publisher
            .publish(
                &price_message("BTC/USD", "62702.9", Duration::from_millis(10)),
                Encoding::Json,
            )
            .await;
        publisher
            .publish(
                &price_message("ETH/USD", "2500.1", Duration::from_secs(5)),
                Encoding::Json,
            )
            .await;
        (api.get("/api/v1/ltp?pair=BTC/USD,ETH/USD").await.status == 200).then_some(())
    })
    .await;
}

async fn max_age_is_enforced(api: &RunningQueryApi) {
    let reply = api.get("/api/v1/ltp?pair=BTC/USD,ETH/USD&max_age=2s").await;
    assert_eq!(reply.status, 206, "{}", reply.body);
    let body = reply.json();
    assert_eq!(reply.pairs(), ["BTC/USD"]);
    assert_eq!(body["errors"][0]["pair"], "ETH/USD");
    assert_eq!(body["errors"][0]["reason"], "stale");
    assert!(body["errors"][0]["age_ms"].as_u64().expect("age") >= 5_000);
    let wide = api
        .get("/api/v1/ltp?pair=BTC/USD,ETH/USD&max_age=10000")
        .await;
    assert_eq!(wide.status, 200, "{}", wide.body);
    let bad = api.get("/api/v1/ltp?max_age=-1").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "INVALID_PARAMETER");
}

#[tokio::test]
async fn max_age_reports_older_prices_as_stale_with_the_memory_cache() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    publish_aged(&api, &Publisher::new(nats.client().await, &prefix)).await;
    max_age_is_enforced(&api).await;
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn max_age_reports_older_prices_as_stale_with_the_redis_cache() {
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let prefix = unique_id();
    let config = with_redis(test_config(&nats.url, &prefix, PAIRS), &redis.addr);
    let api = start_query_api(config).await;
    publish_aged(&api, &Publisher::new(nats.client().await, &prefix)).await;
    max_age_is_enforced(&api).await;
    api.stop().await.expect("clean stop");
}

/// GET with one extra header; status, a response header and the raw body.
async fn get_with(
    api: &RunningQueryApi,
    path: &str,
    header: (&str, &str),
    want: &str,
) -> (u16, Option<String>, Vec<u8>) {
    let res = api
        .http
        .get(api.url(path))
        .header(header.0, header.1)
        .send()
        .await
        .expect("GET");
    let status = res.status().as_u16();
    let value = res
        .headers()
        .get(want)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, value, res.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn polling_with_the_etag_gets_304_until_the_price_changes() {
    let nats = TestNats::start().await;
    let redis = TestRedis::start().await;
    let prefix = unique_id();
    let config = with_redis(test_config(&nats.url, &prefix, PAIRS), &redis.addr);
    let api = start_query_api(config).await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    publish_aged(&api, &publisher).await;
    let path = "/api/v1/ltp?pair=BTC/USD";
    let (status, tag, _) = get_with(&api, path, ("accept", "*/*"), "etag").await;
    assert_eq!(status, 200);
    let tag = tag.expect("ETag");
    let (status, again, body) = get_with(&api, path, ("if-none-match", &tag), "etag").await;
    assert_eq!(
        (status, again.as_deref(), body.len()),
        (304, Some(tag.as_str()), 0)
    );
    publisher
        .publish(
            &price_message("BTC/USD", "62800", Duration::ZERO),
            Encoding::Msgpack,
        )
        .await;
    let (new_tag, body) = eventually(WAIT, "a new price, a new tag", || async {
        let (status, new_tag, body) = get_with(&api, path, ("if-none-match", &tag), "etag").await;
        (status == 200).then_some((new_tag, body))
    })
    .await;
    assert_ne!(new_tag.as_deref(), Some(tag.as_str()));
    assert!(String::from_utf8_lossy(&body).contains(r#""price":"62800""#));
}

#[tokio::test]
async fn krakens_names_work_for_reads_and_refreshes() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    responder(
        nats.client().await,
        &prefix,
        Duration::ZERO,
        move |request| {
            // The warm-up's snapshot request is answered empty; refreshes are recorded.
            if request.snapshot {
                return reply_with(&[]);
            }
            log.lock().expect("lock").push(request.pairs.clone());
            reply_with(&[("BTC/USD", "58033"), ("XRP/USD", "0.6")])
        },
    )
    .await;
    let reply = api
        .post("/api/v1/ltp/refresh?pairs=XXBTZUSD,xrp-usd,XBT/USD")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["pairs"],
        serde_json::json!(["BTC/USD", "XRP/USD"])
    );
    assert_eq!(
        *asked.lock().expect("lock"),
        [["BTC/USD", "XRP/USD"]],
        "canonical names on the bus"
    );
    for alias in ["XBTUSD", "XBT/USD", "XXBTZUSD", "btc-usd"] {
        let reply = api.get(&format!("/api/v1/ltp?pair={alias}")).await;
        assert_eq!(reply.status, 200, "{alias}: {}", reply.body);
        assert_eq!(reply.pairs(), ["BTC/USD"], "{alias}");
    }
    let partial = api
        .get("/api/v1/ltp?pair=XBTUSD,DOGE/MOON&skip_invalid=true")
        .await;
    assert_eq!(partial.status, 206, "{}", partial.body);
    assert_eq!(partial.json()["errors"][0]["reason"], "invalid_pair");
    assert_eq!(
        api.get("/api/v1/ltp?pair=XBTUSD,DOGE/MOON").await.status,
        400
    );
    let pairs = api.get("/api/v1/pairs").await;
    let btc = pairs.json()["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| p["pair"] == "BTC/USD")
        .cloned()
        .expect("BTC/USD listed");
    assert_eq!(
        (btc["available"].clone(), btc["source"].clone()),
        (true.into(), "ws".into())
    );
    api.stop().await.expect("clean stop");
}

#[tokio::test]
async fn gzip_for_many_pairs_never_for_one_and_swagger_serves_the_docs() {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let api = start_query_api(test_config(&nats.url, &prefix, PAIRS)).await;
    let publisher = Publisher::new(nats.client().await, &prefix);
    eventually(WAIT, "all prices served", || async {
        super::publish_all(&publisher).await;
        (api.get("/api/v1/ltp").await.status == 200).then_some(())
    })
    .await;
    let gzip = ("accept-encoding", "gzip");
    let (status, encoding, body) = get_with(&api, "/api/v1/ltp", gzip, "content-encoding").await;
    assert_eq!((status, encoding.as_deref()), (200, Some("gzip")));
    assert_eq!(body[..2], [0x1f, 0x8b], "a gzip stream");
    let plain = api.get("/api/v1/ltp").await;
    assert!(
        body.len() < plain.body.len(),
        "{} vs {}",
        body.len(),
        plain.body.len()
    );
    let one = "/api/v1/ltp?pair=BTC/USD";
    let (status, encoding, _) = get_with(&api, one, gzip, "content-encoding").await;
    assert_eq!((status, encoding), (200, None));
    let (_, encoding, _) = get_with(
        &api,
        "/api/v1/ltp",
        ("accept-encoding", "identity"),
        "content-encoding",
    )
    .await;
    assert_eq!(encoding, None);
    let docs = until_status(&api, "/docs/", 200).await;
    for path in ["/swagger/", "/swagger/index.html"] {
        let reply = api.get(path).await;
        assert_eq!((reply.status, &reply.body), (200, &docs.body), "{path}");
    }
    api.stop().await.expect("clean stop");
}
