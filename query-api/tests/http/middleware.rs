//! Request id, CORS, API keys, rate limiting, size limits.

use common::secret::Secret;
use salvo::conn::SocketAddr;
use salvo::test::TestClient;

use crate::support::{App, config, fresh, url};

#[tokio::test]
async fn request_ids_are_generated_or_kept_when_valid() {
    let app = App::new(config());
    let reply = app.get("/health").await;
    let id = reply.header("x-request-id").expect("id");
    let parts: Vec<_> = id.split('_').collect();
    assert!(
        parts.len() == 3 && parts[0] == "req" && parts[2].len() == 8,
        "{id}"
    );

    let kept = app
        .send(TestClient::get(url("/api/v1/ltp")).add_header("x-request-id", "trace-42", true))
        .await;
    assert_eq!(kept.header("x-request-id"), Some("trace-42"));

    let replaced = app
        .send(TestClient::get(url("/health")).add_header(
            "x-request-id",
            "bad id with spaces",
            true,
        ))
        .await;
    assert!(
        replaced
            .header("x-request-id")
            .expect("id")
            .starts_with("req_")
    );
    // Every response carries one, errors included.
    let error = app.get("/api/v1/ltp?pair=nope").await;
    assert!(error.header("x-request-id").is_some());
}

#[tokio::test]
async fn cors_headers_as_the_seed_plus_x_api_key() {
    let app = App::new(config());
    let reply = app.get("/api/v1/ltp").await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        reply.header("access-control-allow-methods"),
        Some("GET, POST, PUT, DELETE, OPTIONS")
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some("Content-Type, Authorization, X-API-Key, If-None-Match")
    );
    assert!(
        reply
            .header("access-control-expose-headers")
            .expect("expose")
            .contains("X-Request-ID")
    );
}

#[tokio::test]
async fn preflight_is_answered_before_auth_and_rate_limit() {
    let mut c = config();
    c.auth.enabled = true;
    c.auth.api_key = Secret::new("k1");
    c.rate_limit.enabled = true;
    c.rate_limit.capacity = 1;
    let app = App::new(c);
    for _ in 0..3 {
        let reply = app
            .send(
                TestClient::options(url("/api/v1/ltp"))
                    .add_header("origin", "https://example.com", true)
                    .add_header("access-control-request-method", "GET", true)
                    .add_header("access-control-request-headers", "x-api-key", true),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("access-control-max-age"), Some("600"));
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
}

#[tokio::test]
async fn configured_origins_are_echoed_only_when_listed() {
    let mut c = config();
    c.cors.allowed_origins = vec!["https://app.example".into()];
    let app = App::new(c);
    let listed = app
        .send(TestClient::get(url("/health")).add_header("origin", "https://app.example", true))
        .await;
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(listed.header("vary"), Some("Origin"));
    let other = app
        .send(TestClient::get(url("/health")).add_header("origin", "https://evil.example", true))
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

fn auth_app() -> App {
    let mut c = config();
    c.auth.enabled = true;
    c.auth.api_key = Secret::new("first-key, second-key");
    let app = App::new(c);
    app.publish(fresh("BTC/USD", "60000"));
    app
}

#[tokio::test]
async fn missing_and_invalid_keys_get_the_seed_401s() {
    let app = auth_app();
    let missing = app.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.body,
        "{\"error\":\"Authentication Failed\",\"message\":\"API key missing\",\"code\":\"API_KEY_MISSING\"}\n"
    );
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
    let invalid = app
        .send(TestClient::get(url("/api/v1/ltp")).add_header("x-api-key", "first-ke", true))
        .await;
    assert_eq!(invalid.status, 401);
    assert_eq!(
        invalid.json(),
        serde_json::json!({"error": "Authentication Failed", "message": "Invalid API key", "code": "API_KEY_INVALID"})
    );
    // Unknown API paths are protected too (no route discovery without a key).
    assert_eq!(app.get("/api/v1/secret").await.status, 401);
}

#[tokio::test]
async fn any_configured_key_works_and_exempt_paths_need_none() {
    let app = auth_app();
    for key in ["first-key", "second-key"] {
        let reply = app
            .send(TestClient::get(url("/api/v1/ltp?pair=BTC/USD")).add_header(
                "X-API-Key",
                key,
                true,
            ))
            .await;
        assert_eq!(reply.status, 200, "{key}: {}", reply.body);
    }
    let bearer = app
        .send(TestClient::get(url("/api/v1/ltp?pair=BTC/USD")).add_header(
            "authorization",
            "Bearer second-key",
            true,
        ))
        .await;
    assert_eq!(bearer.status, 200);
    for path in ["/health", "/ready", "/metrics", "/openapi.json", "/docs/"] {
        assert_ne!(app.get(path).await.status, 401, "{path}");
    }
}

#[tokio::test]
async fn auth_header_name_is_configurable() {
    let mut c = config();
    c.auth.enabled = true;
    c.auth.api_key = Secret::new("k");
    c.auth.header_name = "X-Custom-Key".into();
    c.auth.unauth_paths = vec!["/api/v1/ltp/cached".into()];
    let app = App::new(c);
    let reply = app
        .send(TestClient::get(url("/api/v1/ltp")).add_header("x-custom-key", "k", true))
        .await;
    assert_ne!(reply.status, 401);
    // Exempt paths come from configuration: /health is no longer exempt, cached is.
    assert_eq!(app.get("/health").await.status, 401);
    assert_eq!(app.get("/api/v1/ltp/cached").await.status, 200);
}

fn from(peer: &str, path: &str, xff: Option<&str>) -> salvo::Request {
    let mut builder = TestClient::get(url(path));
    if let Some(xff) = xff {
        builder = builder.add_header("x-forwarded-for", xff.to_owned(), true);
    }
    let mut req = builder.build();
    let addr: std::net::SocketAddr = peer.parse().expect("addr");
    *req.remote_addr_mut() = SocketAddr::from(addr);
    req
}

fn limited(capacity: u32, trusted: &[&str]) -> App {
    let mut c = config();
    c.rate_limit.enabled = true;
    c.rate_limit.capacity = capacity;
    c.rate_limit.refill_rate = 1;
    c.rate_limit.trusted_proxies = trusted.iter().map(|s| (*s).to_owned()).collect();
    let app = App::new(c);
    app.publish(fresh("BTC/USD", "60000"));
    app
}

#[tokio::test]
async fn rate_limit_gives_the_seed_429_with_standard_headers() {
    let app = limited(2, &[]);
    let first = app
        .handle(from("198.51.100.1:1000", "/api/v1/ltp?pair=BTC/USD", None))
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(first.header("ratelimit-limit"), Some("2"));
    assert_eq!(first.header("ratelimit-remaining"), Some("1"));
    assert_eq!(first.header("ratelimit-reset"), Some("1"));
    assert_eq!(first.header("ratelimit-policy"), Some("2;w=2"));
    let second = app
        .handle(from("198.51.100.1:1001", "/api/v1/ltp?pair=BTC/USD", None))
        .await;
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    let blocked = app
        .handle(from("198.51.100.1:1002", "/api/v1/ltp?pair=BTC/USD", None))
        .await;
    assert_eq!(blocked.status, 429);
    assert_eq!(blocked.header("retry-after"), Some("1"));
    assert_eq!(blocked.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        blocked.body,
        "{\"code\":429,\"details\":{\"limit_info\":\"Please reduce your request rate and try again\",\"retry_after_seconds\":1},\"error\":\"RATE_LIMIT_EXCEEDED\",\"message\":\"Rate limit exceeded. Please slow down your requests.\"}\n"
    );
    // Another client is not affected; operations endpoints are never limited.
    let other = app
        .handle(from("198.51.100.2:1000", "/api/v1/ltp?pair=BTC/USD", None))
        .await;
    assert_eq!(other.status, 200);
    let health = app.handle(from("198.51.100.1:1003", "/health", None)).await;
    assert_eq!(health.status, 200);
    assert!(health.header("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_bypass_the_limit() {
    let app = limited(1, &["10.0.0.0/8"]);
    let first = app
        .handle(from(
            "203.0.113.5:1",
            "/api/v1/ltp?pair=BTC/USD",
            Some("192.0.2.1"),
        ))
        .await;
    assert_eq!(first.status, 200);
    let spoofed = app
        .handle(from(
            "203.0.113.5:2",
            "/api/v1/ltp?pair=BTC/USD",
            Some("192.0.2.2"),
        ))
        .await;
    assert_eq!(
        spoofed.status, 429,
        "a new X-Forwarded-For bought a new bucket"
    );
}

#[tokio::test]
async fn a_trusted_proxy_forwards_each_clients_address() {
    let app = limited(1, &["10.0.0.0/8"]);
    for client in ["192.0.2.1", "192.0.2.2"] {
        let reply = app
            .handle(from("10.0.0.7:1", "/api/v1/ltp?pair=BTC/USD", Some(client)))
            .await;
        assert_eq!(reply.status, 200, "{client}");
    }
    let again = app
        .handle(from(
            "10.0.0.7:1",
            "/api/v1/ltp?pair=BTC/USD",
            Some("192.0.2.1"),
        ))
        .await;
    assert_eq!(again.status, 429);
}

#[tokio::test]
async fn oversized_urls_get_414_and_oversized_headers_431() {
    let app = App::new(config());
    let long = format!("/api/v1/ltp?pair={}", "B".repeat(9000));
    let reply = app.get(&long).await;
    assert_eq!(reply.status, 414, "{}", reply.body);
    assert_eq!(reply.json()["error"], "URI_TOO_LONG");
    let reply = app
        .send(TestClient::get(url("/health")).add_header("x-big", "v".repeat(20_000), true))
        .await;
    assert_eq!(reply.status, 431);
    assert_eq!(reply.json()["error"], "HEADERS_TOO_LARGE");
}

#[tokio::test]
async fn configured_cors_methods_and_headers_are_the_ones_announced() {
    let mut c = config();
    c.cors.allowed_methods = vec!["GET".into(), "HEAD".into()];
    c.cors.allowed_headers = vec!["X-Custom-Key".into()];
    let app = App::new(c);
    let preflight = app
        .send(
            TestClient::options(url("/api/v1/ltp"))
                .add_header("origin", "https://example.com", true)
                .add_header("access-control-request-method", "GET", true),
        )
        .await;
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, HEAD")
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("X-Custom-Key")
    );
}
