//! gzip for multi-pair answers, none for a single pair (the hot path).

use salvo::test::TestClient;

use crate::support::{App, Reply, config, fresh, url};

fn app() -> App {
    let app = App::new(config());
    for (pair, price) in [
        ("BTC/USD", "60000"),
        ("ETH/USD", "3000"),
        ("LTC/USD", "80"),
        ("XRP/USD", "0.5"),
    ] {
        app.publish(fresh(pair, price));
    }
    app
}

async fn get_gzip(app: &App, path: &str) -> Reply {
    app.send(TestClient::get(url(path)).add_header("accept-encoding", "gzip", true))
        .await
}

#[tokio::test]
async fn multi_pair_answers_are_gzipped_when_asked() {
    let app = app();
    for path in ["/api/v1/ltp", "/api/v1/ltp/cached", "/api/v1/pairs"] {
        let reply = get_gzip(&app, path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-encoding"), Some("gzip"), "{path}");
        // Decoded by the test client: still the JSON body.
        assert!(reply.json().is_object(), "{path}");
    }
    let plain = app.get("/api/v1/ltp").await;
    assert_eq!(
        plain.header("content-encoding"),
        None,
        "not asked: not compressed"
    );
    // The same answer either way (the tag covers everything but age_ms).
    let gzipped = get_gzip(&app, "/api/v1/ltp").await;
    assert_eq!(gzipped.header("etag"), plain.header("etag"));
    assert_eq!(gzipped.json()["ltp"].as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn a_single_pair_is_never_compressed() {
    let app = app();
    let reply = get_gzip(&app, "/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-encoding"), None);
    assert_eq!(reply.json()["ltp"][0]["pair"], "BTC/USD");
}

#[tokio::test]
async fn a_304_stays_empty_with_compression_asked() {
    let app = app();
    let first = get_gzip(&app, "/api/v1/ltp").await;
    let tag = first.header("etag").expect("etag").to_owned();
    let again = app
        .send(
            TestClient::get(url("/api/v1/ltp"))
                .add_header("accept-encoding", "gzip", true)
                .add_header("if-none-match", &tag, true),
        )
        .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
}
