//! The board (`/` and its assets) and `GET /api/v1/status`.

use common::secret::Secret;
use salvo::test::TestClient;

use crate::support::{App, config, fresh, url};

/// The script and style sheet the page links to.
fn assets(page: &str) -> Vec<String> {
    page.split('"')
        .filter(|s| s.starts_with("/board/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_page_is_not_cached_and_has_a_strict_policy() {
    let app = App::new(config());
    let reply = app.get("/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    let csp = reply.header("content-security-policy").expect("csp");
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!reply.body.contains("<script>"), "no inline script");
    assert!(!reply.body.contains("style="), "no inline style");
    assert!(!reply.body.contains("http"), "nothing from another host");
    let assets = assets(&reply.body);
    assert_eq!(assets.len(), 2, "{assets:?}");
    let head = app.send(TestClient::head(url("/"))).await;
    assert_eq!(head.status, 200);
}

#[tokio::test]
async fn assets_have_hashed_names_and_are_cached_for_a_year() {
    let app = App::new(config());
    let page = app.get("/").await;
    for path in assets(&page.body) {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        let kind = if path.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(
            reply
                .header("content-type")
                .expect("type")
                .starts_with(kind)
        );
        let etag = reply.header("etag").expect("etag").to_owned();
        assert!(path.contains(etag.trim_matches('"')), "{path} {etag}");
        let again = app
            .send(TestClient::get(url(&path)).add_header("if-none-match", etag, true))
            .await;
        assert_eq!(again.status, 304);
    }
    assert_eq!(app.get("/board/board.0000.js").await.status, 404);
    assert_eq!(app.get("/board/").await.status, 404);
}

#[tokio::test]
async fn with_auth_the_page_is_public_and_the_status_needs_a_key() {
    let mut c = config();
    c.auth.enabled = true;
    c.auth.api_key = Secret::new("k1");
    let app = App::new(c);
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    for path in assets(&page.body) {
        assert_eq!(app.get(&path).await.status, 200, "{path}");
    }
    assert_eq!(app.get("/api/v1/status").await.status, 401);
    let with_key = app
        .send(TestClient::get(url("/api/v1/status")).add_header("x-api-key", "k1", true))
        .await;
    assert_eq!(with_key.status, 200);
    assert_eq!(
        app.get("/nothing-here").await.status,
        401,
        "other paths still need it"
    );
}

#[tokio::test]
async fn status_lists_pairs_ttl_and_the_ingestors_heard_of() {
    let app = App::new(config());
    let body = app.get("/api/v1/status").await.json();
    assert_eq!(
        body["pairs"],
        serde_json::json!(["BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD"])
    );
    assert_eq!(body["ttl_ms"], 30_000);
    assert_eq!(body["ingestor_present"], false);
    assert_eq!(body["socket"], "unknown");
    assert_eq!(body["ingestors"], serde_json::json!([]));
    assert!(body.get("ingestor_last_seen").is_none());

    app.state.feed.price(&fresh("BTC/USD", "62000.1"));
    let body = app.get("/api/v1/status").await.json();
    assert_eq!(body["ingestor_present"], true);
    assert_eq!(body["socket"], "connected");
    assert_eq!(body["ingestors"][0]["id"], "test-ingestor");
    assert_eq!(body["ingestors"][0]["present"], true);
    assert_eq!(body["fallback_pairs"], serde_json::json!([]));
}
