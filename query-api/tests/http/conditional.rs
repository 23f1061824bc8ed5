//! `ETag`, `If-None-Match` and `Cache-Control` on `GET /api/v1/ltp`.

use std::time::Duration;

use salvo::test::TestClient;

use crate::support::{App, Reply, config, fresh, price, url};

async fn get_if(app: &App, path: &str, tag: &str) -> Reply {
    app.send(TestClient::get(url(path)).add_header("if-none-match", tag, true))
        .await
}

fn tag(reply: &Reply) -> String {
    let tag = reply.header("etag").expect("an ETag").to_owned();
    assert!(tag.starts_with("W/\""), "weak: {tag}");
    tag
}

#[tokio::test]
async fn an_unchanged_answer_is_304_without_a_body() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    let first = app.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    let etag = tag(&first);
    let again = get_if(&app, "/api/v1/ltp?pair=BTC/USD", &etag).await;
    assert_eq!(again.status, 304, "{}", again.body);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.header("cache-control"), Some("no-cache"));
    // The tag does not follow age_ms, which changed in between.
    let later = app.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(tag(&later), etag);
}

#[tokio::test]
async fn a_new_price_changes_the_tag() {
    let app = App::new(config());
    app.publish(price("BTC/USD", "60000", Duration::from_secs(2)));
    let etag = tag(&app.get("/api/v1/ltp?pair=BTC/USD").await);
    app.publish(fresh("BTC/USD", "60001"));
    let reply = get_if(&app, "/api/v1/ltp?pair=BTC/USD", &etag).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_ne!(tag(&reply), etag);
    assert_eq!(reply.json()["ltp"][0]["price"], "60001");
}

#[tokio::test]
async fn a_change_in_availability_changes_the_tag() {
    let app = App::new(config());
    app.publish(price("ETH/USD", "3000", Duration::from_secs(5)));
    app.publish(fresh("BTC/USD", "60000"));
    let path = "/api/v1/ltp?pair=BTC/USD,ETH/USD";
    let all = app.get(path).await;
    assert_eq!(all.status, 200);
    // Same prices, but ETH/USD is stale under max_age: another answer, another tag.
    let limited = app.get(&format!("{path}&max_age=1s")).await;
    assert_eq!(limited.status, 206);
    assert_ne!(tag(&limited), tag(&all));
    // A 206 is revalidated too.
    let again = get_if(&app, &format!("{path}&max_age=1s"), &tag(&limited)).await;
    assert_eq!(again.status, 304);
}

#[tokio::test]
async fn if_none_match_lists_star_and_strong_forms_are_understood() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    let path = "/api/v1/ltp?pair=BTC/USD";
    let etag = tag(&app.get(path).await);
    for header in [
        format!("\"nope\", {etag}"),
        etag.trim_start_matches("W/").to_owned(),
        "*".to_owned(),
    ] {
        assert_eq!(get_if(&app, path, &header).await.status, 304, "{header}");
    }
    assert_eq!(get_if(&app, path, "W/\"0\"").await.status, 200);
}

#[tokio::test]
async fn a_503_is_never_304() {
    let app = App::new(config());
    let reply = app.get("/api/v1/ltp?pair=BTC/USD").await;
    assert_eq!(reply.status, 503);
    let etag = tag(&reply);
    assert_eq!(
        get_if(&app, "/api/v1/ltp?pair=BTC/USD", &etag).await.status,
        503
    );
    assert_eq!(
        get_if(&app, "/api/v1/ltp?pair=BTC/USD", "*").await.status,
        503
    );
}

#[tokio::test]
async fn head_is_conditional_too() {
    let app = App::new(config());
    app.publish(fresh("BTC/USD", "60000"));
    let path = "/api/v1/ltp?pair=BTC/USD";
    let head = app.send(TestClient::head(url(path))).await;
    assert_eq!(head.status, 200);
    let etag = tag(&head);
    assert_eq!(etag, tag(&app.get(path).await), "HEAD and GET agree");
    let again = app
        .send(TestClient::head(url(path)).add_header("if-none-match", &etag, true))
        .await;
    assert_eq!(again.status, 304);
}
