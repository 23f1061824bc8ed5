//! The rate limit keys on the real client address, over real sockets: `X-Forwarded-For` from a
//! peer that is not a trusted proxy buys no new bucket, and from a trusted proxy only the
//! nearest untrusted hop counts, so a forged first entry buys nothing either.

use integration_tests::query_api::{RunningQueryApi, start_query_api, test_config};
use integration_tests::{TestNats, unique_id};

use super::PAIRS;

/// query-api with a 3-request burst and the given trusted proxies.
async fn limited_api(nats: &TestNats, trusted: &[&str]) -> RunningQueryApi {
    let mut config = test_config(&nats.url, &unique_id(), PAIRS);
    config.rate_limit.enabled = true;
    config.rate_limit.capacity = 3;
    config.rate_limit.refill_rate = 1;
    config.rate_limit.trusted_proxies = trusted.iter().map(|t| (*t).to_owned()).collect();
    start_query_api(config).await
}

/// Status of `GET /api/v1/ltp/cached` with `X-Forwarded-For: xff`.
async fn status_with(api: &RunningQueryApi, xff: &str) -> u16 {
    api.http
        .get(api.url("/api/v1/ltp/cached"))
        .header("X-Forwarded-For", xff)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_bypass_the_limit() {
    let nats = TestNats::start().await;
    // The loopback peer is not trusted (only 10.0.0.0/8 is).
    let api = limited_api(&nats, &["10.0.0.0/8"]).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(status_with(&api, &format!("198.51.100.{i}")).await);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        limited >= 4,
        "a fresh X-Forwarded-For bought a new bucket: {statuses:?}"
    );
    assert!(statuses[..3].iter().all(|s| *s != 429), "{statuses:?}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() {
    let nats = TestNats::start().await;
    // The loopback peer plays the trusted proxy.
    let api = limited_api(&nats, &["127.0.0.1"]).await;
    // Distinct clients behind the proxy get their own buckets.
    for i in 0..6 {
        let status = status_with(&api, &format!("198.51.100.{i}")).await;
        assert_ne!(status, 429, "client {i} limited by others' requests");
    }
    // One client forging ever new first entries is still one client (the hop the proxy
    // appended is what counts).
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(status_with(&api, &format!("203.0.113.{i}, 192.0.2.77")).await);
    }
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 4,
        "forged first entries bought new buckets: {statuses:?}"
    );
}
