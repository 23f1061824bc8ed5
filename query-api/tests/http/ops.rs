//! `/health`, `/ready`, `/metrics`, the OpenAPI document and UI, unknown routes.

use salvo::test::TestClient;

use crate::support::{App, config, fresh, url};

#[tokio::test]
async fn health_is_always_200() {
    let app = App::new(config());
    let reply = app.get("/health").await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["services"], serde_json::json!({"service": "running"}));
    assert!(
        body["timestamp"]
            .as_str()
            .expect("ts")
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    let head = app.send(TestClient::head(url("/health"))).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[tokio::test]
async fn ready_is_503_with_a_reason_per_dependency_until_everything_is_there() {
    let app = App::new(config());
    let reply = app.get("/ready").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["services"]["cache"], "ready",
        "memory cache is always up"
    );
    assert_eq!(body["services"]["nats"], "error: not connected");
    assert_eq!(body["services"]["warmup"], "pending");
    assert_eq!(body["services"]["service"], "ready");

    app.state.readiness.set_nats(true);
    app.state
        .readiness
        .set_cold("no last-value stream and no ingestor answered a snapshot request");
    let body = app.get("/ready").await.json();
    assert_eq!(body["services"]["nats"], "ready");
    assert_eq!(
        body["services"]["warmup"],
        "pending: no last-value stream and no ingestor answered a snapshot request"
    );

    app.state.readiness.set_warm();
    let reply = app.get("/ready").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "ready");
    let head = app.send(TestClient::head(url("/ready"))).await;
    assert_eq!(head.status, 200);

    app.state.readiness.begin_shutdown();
    let reply = app.get("/ready").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["services"]["service"], "shutting down");
}

#[tokio::test]
async fn metrics_expose_the_seed_families_and_ours() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    app.get("/api/v1/ltp?pair=BTC/USD,ETH/USD").await;
    app.get("/nowhere").await;
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .expect("ct")
            .starts_with("text/plain")
    );
    for line in [
        r#"btc_ltp_http_requests_total{method="GET",path="/api/v1/ltp",status_code="206"} 1"#,
        r#"btc_ltp_http_requests_total{method="GET",path="/unknown",status_code="404"} 1"#,
        r#"btc_ltp_cache_operations_total{operation="get",result="hit"} 1"#,
        r#"btc_ltp_cache_operations_total{operation="get",result="miss"} 1"#,
        r#"btc_ltp_price_requests_total{cache_result="miss",pair="ETH/USD"} 1"#,
        r#"btc_ltp_current_prices{pair="BTC/USD"} 60000"#,
        r#"btc_ltp_nats_messages_total{result="stored"} 1"#,
        r#"btc_ltp_cache_keys{cache_type="memory"} 1"#,
        r#"btc_ltp_cache_available 1"#,
        r#"btc_ltp_nats_connection_status 0"#,
    ] {
        assert!(reply.body.contains(line), "missing {line}\n{}", reply.body);
    }
    for family in [
        "btc_ltp_http_request_duration_seconds_bucket",
        "btc_ltp_price_age_seconds{pair=\"BTC/USD\"}",
        "btc_ltp_served_price_age_seconds_bucket",
        "btc_ltp_uptime_seconds",
        "btc_ltp_application_info",
    ] {
        assert!(reply.body.contains(family), "missing {family}");
    }
}

#[tokio::test]
async fn openapi_document_describes_every_operation() {
    let app = App::new(config());
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/ltp", "get"),
        ("/api/v1/ltp", "head"),
        ("/api/v1/ltp/cached", "get"),
        ("/api/v1/ltp/refresh", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }
    let ltp = &paths["/api/v1/ltp"]["get"];
    for status in ["200", "206", "400", "401", "429", "503"] {
        assert!(ltp["responses"][status].is_object(), "ltp {status}");
    }
    assert_eq!(ltp["parameters"][0]["name"], "pair");
    for status in ["200", "502", "503", "504"] {
        assert!(
            paths["/api/v1/ltp/refresh"]["post"]["responses"][status].is_object(),
            "refresh {status}"
        );
    }
    assert!(
        doc["components"]["schemas"]["query_api.api.LtpResponse"].is_object()
            || doc["components"]["schemas"]["LtpResponse"].is_object(),
        "{}",
        doc["components"]["schemas"]
    );
    let head = app.send(TestClient::head(url("/openapi.json"))).await;
    assert_eq!(head.status, 200);
}

/// schemathesis (scripts/conformance) found the pair lists documented as free text, so any
/// string was "valid" while most are a 400: their pattern now lists the served pairs, at most
/// `limits.max_pairs` of them, and what it describes is accepted.
#[tokio::test]
async fn openapi_pair_lists_are_the_served_pairs() {
    let mut c = config();
    c.limits.max_pairs = 3;
    let app = App::new(c);
    let doc = app.get("/openapi.json").await.json();
    let one = "(?:XRP/USD|BTC/USD|ETH/USD|LTC/USD)";
    let pattern = format!("^(?:{one}(?:,{one}){{0,2}})?$");
    for (path, method, name) in [
        ("/api/v1/ltp", "get", "pair"),
        ("/api/v1/ltp", "head", "pair"),
        ("/api/v1/ltp/refresh", "post", "pairs"),
    ] {
        let parameter = &doc["paths"][path][method]["parameters"][0];
        assert_eq!(parameter["name"], name, "{method} {path}");
        assert_eq!(parameter["in"], "query");
        assert_eq!(parameter["schema"]["type"], "string");
        assert_eq!(parameter["schema"]["pattern"], pattern, "{method} {path}");
    }
    // The pattern's extremes: empty, three served pairs (with a repeat), and one too many.
    for (query, ok) in [
        ("pair=", true),
        ("pair=XRP/USD,LTC/USD,XRP/USD", true),
        ("pair=XRP/USD,LTC/USD,BTC/USD,ETH/USD", false),
    ] {
        let status = app.get(&format!("/api/v1/ltp?{query}")).await.status;
        assert_eq!(status != 400, ok, "{query}: {status}");
    }
}

#[tokio::test]
async fn docs_serve_a_browsable_ui() {
    let app = App::new(config());
    let reply = app.get("/docs/").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("swagger-ui"), "{}", reply.body);
    assert!(reply.body.contains("/openapi.json"));
    let asset = app.get("/docs/swagger-ui.css").await;
    assert_eq!(asset.status, 200);
}

#[tokio::test]
async fn the_seeds_swagger_paths_serve_the_same_ui() {
    let mut c = config();
    c.auth.enabled = true;
    c.auth.api_key = common::secret::Secret::new("k");
    let app = App::new(c);
    let docs = app.get("/docs/").await;
    for path in ["/swagger/", "/swagger/index.html"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 200, "{path} needs no key: {}", reply.body);
        assert_eq!(reply.body, docs.body, "{path}");
    }
    assert_eq!(app.get("/swagger/swagger-ui.css").await.status, 200);
    assert_eq!(
        app.get("/api/v1/pairs").await.status,
        401,
        "the API still needs a key"
    );
}

#[tokio::test]
async fn unknown_paths_are_json_404s_and_wrong_methods_405s() {
    let app = App::new(config());
    for path in ["/nowhere", "/api/v1/prices", "/api/v1", "/api/v1/ltp/x"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json()["error"], "NOT_FOUND");
        assert!(reply.header("x-request-id").is_some(), "{path}");
    }
    let reply = app.send(TestClient::post(url("/api/v1/ltp"))).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    let reply = app.send(TestClient::delete(url("/health"))).await;
    assert_eq!(reply.status, 405);
}
