//! The live board (`/`) in a real browser (headless Chromium through chromedriver), against the
//! real query-api and ingestor (in process), real NATS and the Kraken simulator.
//!
//! Times are measured and printed for the record (`cargo test board -- --nocapture`), not
//! asserted: the waits are generous, since the test machine is shared.
//! With `LTP_BOARD_SCREENSHOTS=docs/board` the screenshots are written there (README shows them).

use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::secret::Secret;
use fantoccini::Locator;
use integration_tests::browser::{Browser, Chromedriver};
use integration_tests::ingestor::{self, RunningIngestor, start_ingestor};
use integration_tests::query_api::{RunningQueryApi, start_query_api, test_config};
use integration_tests::sim::{start_sim_with, test_config as sim_config};
use integration_tests::{TestNats, eventually, unique_id};
use kraken_sim::{Rate, RestFault, SimConfig, Simulator};
use query_api::Config;
use rust_decimal::Decimal;
use serde_json::Value;

const PAIRS: &[&str] = &["BTC/USD", "ETH/USD", "XRP/USD"];
const WAIT: Duration = Duration::from_secs(20);
/// The page's waits: long enough for a loaded machine; the times themselves are printed.
const SHOW: Duration = Duration::from_secs(10);

/// NATS, a simulator that trades only when told to, an ingestor (TTL 3 s: quiet pairs are
/// re-published every second) and a query-api (TTL 6 s: ageing past 3 s).
struct Stack {
    _nats: TestNats,
    sim: Simulator,
    /// `None` once stopped.
    ingestor: Option<RunningIngestor>,
    /// `None` while it restarts.
    api: Option<RunningQueryApi>,
    base: String,
    config: Config,
}

async fn stack(configure: impl FnOnce(&mut Config)) -> Stack {
    let nats = TestNats::start().await;
    let prefix = unique_id();
    let sim = start_sim_with(SimConfig {
        rate: Rate::Manual,
        ..sim_config(PAIRS)
    })
    .await;
    let config = ingestor::test_config(&nats.url, &prefix, &sim.ws_url(), &sim.rest_url(), PAIRS);
    let ingestor = start_ingestor(config).await;
    let mut config = test_config(&nats.url, &prefix, PAIRS);
    config.cache.ttl = Duration::from_secs(6);
    configure(&mut config);
    let api = start_query_api(config.clone()).await;
    api.wait_ready(WAIT).await;
    Stack {
        _nats: nats,
        sim,
        ingestor: Some(ingestor),
        base: api.url(""),
        api: Some(api),
        config,
    }
}

impl Stack {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The simulator's current price of every pair, as its WebSocket writes it.
    fn sim_prices(&self) -> Vec<(String, String)> {
        PAIRS
            .iter()
            .map(|p| {
                let price = self.sim.control().last_price(p).expect("offered");
                ((*p).to_owned(), price)
            })
            .collect()
    }

    /// Trades `pair` at `price` and returns the wall-clock time (ms) just before.
    async fn trade(&self, pair: &str, price: &str) -> u64 {
        let at = now_ms();
        self.sim
            .control()
            .trade_now(pair, Some(price))
            .await
            .expect("trade");
        at
    }
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// `price` moved by `per_mille`/1000 of itself, at its own scale (trailing zeros kept).
fn moved(price: &str, per_mille: i64) -> String {
    let p = Decimal::from_str(price).expect("decimal");
    let scale = p.scale().max(2);
    let next = p + p * Decimal::new(per_mille, 3);
    let mut next = next.round_dp(scale);
    next.rescale(scale);
    next.to_string()
}

/// Every row's pair and price text, in page order.
async fn shown_prices(browser: &Browser) -> Vec<(String, String)> {
    let script = "return [...document.querySelectorAll('#rows tr')]\
                  .map(r => [r.dataset.pair, r.querySelector('.price').textContent]);";
    let value = browser.eval(script).await.unwrap_or_default();
    value
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap_or_default().to_owned(),
                        r[1].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One row's `data-*` attribute or cell text (`.state`, `.word`, …).
async fn row(browser: &Browser, pair: &str, what: &str) -> Option<String> {
    let selector = format!("#rows tr[data-pair=\"{pair}\"]");
    if let Some(attr) = what.strip_prefix('@') {
        let script = format!(
            "const r = document.querySelector({}); return r ? r.dataset[{}] : null;",
            serde_json::json!(selector),
            serde_json::json!(attr)
        );
        return browser
            .eval(&script)
            .await
            .ok()?
            .as_str()
            .map(str::to_owned);
    }
    browser.text(&format!("{selector} {what}")).await
}

/// Records, in the page, when each `pair price` text first appeared (`Date.now()`).
async fn watch_prices(browser: &Browser) {
    let script = "window.__seen = {};
        const note = () => { for (const r of document.querySelectorAll('#rows tr')) {
            const k = r.dataset.pair + ' ' + r.querySelector('.price').textContent;
            if (!(k in window.__seen)) window.__seen[k] = Date.now(); } };
        note();
        new MutationObserver(note).observe(document.getElementById('rows'),
            {subtree: true, childList: true, characterData: true});";
    browser.eval(script).await.expect("observer installed");
}

/// When (ms) the page first showed `price` for `pair`.
async fn seen_at(browser: &Browser, pair: &str, price: &str) -> u64 {
    let key = serde_json::json!(format!("{pair} {price}"));
    let script = format!("return window.__seen[{key}] || null;");
    eventually(SHOW, &format!("{pair} {price} on the page"), || async {
        browser.eval(&script).await.ok()?.as_u64()
    })
    .await
}

/// Console errors and requests to any other origin, both of which must be none.
async fn assert_clean(browser: &Browser, origin: &str) {
    let errors = browser.console_errors().await.expect("console log");
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    let urls = browser.requested_urls().await.expect("network log");
    assert!(!urls.is_empty(), "the network log recorded nothing");
    let elsewhere: Vec<&String> = urls
        .iter()
        .filter(|u| !u.starts_with(origin) && !u.starts_with("data:"))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests to other hosts: {elsewhere:#?}"
    );
}

async fn screenshot(browser: &Browser, name: &str) {
    let dir = std::env::var("LTP_BOARD_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("ltp-board"));
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = dir.join(name);
    std::fs::write(&path, png).expect("write screenshot");
    println!("board screenshot: {}", path.display());
}

/// A few trades per pair, each round shown before the next, so the sparklines have a shape.
async fn some_history(stack: &Stack, browser: &Browser) {
    for step in [3, -2, 4, 1, -3, 2, 5, -1] {
        for (i, pair) in PAIRS.iter().enumerate() {
            let price = stack.sim.control().last_price(pair).expect("offered");
            let step = if i == 1 { -step } else { step };
            stack.trade(pair, &moved(&price, step)).await;
        }
        let expected = stack.sim_prices();
        eventually(SHOW, "a round of trades shown", || async {
            (shown_prices(browser).await == expected).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn board_shows_exact_prices_and_changes_live() {
    let stack = stack(|_| {}).await;
    let driver = Chromedriver::start().await.expect("chromedriver");
    let browser = driver.browser(1280, 720).await.expect("browser");
    let expected = stack.sim_prices();
    let started = Instant::now();
    browser.goto(&stack.url("/")).await.expect("load");
    eventually(SHOW, "every pair at the simulator's price", || async {
        (shown_prices(&browser).await == expected).then_some(())
    })
    .await;
    let load = started.elapsed();
    println!("board: load to every price shown: {load:?} (polled every 20 ms)");
    assert_eq!(
        row(&browser, "BTC/USD", ".badge").await.as_deref(),
        Some("ws")
    );
    assert_eq!(
        row(&browser, "BTC/USD", "@state").await.as_deref(),
        Some("fresh")
    );

    watch_prices(&browser).await;
    let btc = stack.sim.control().last_price("BTC/USD").expect("offered");
    let up = moved(&btc, 7);
    let sent = stack.trade("BTC/USD", &up).await;
    let shown = seen_at(&browser, "BTC/USD", &up).await;
    println!(
        "board: control-API trade to screen: {} ms",
        shown.saturating_sub(sent)
    );
    assert_eq!(
        row(&browser, "BTC/USD", "@direction").await.as_deref(),
        Some("up")
    );
    let word = row(&browser, "BTC/USD", ".word").await.unwrap_or_default();
    assert_eq!(word, format!("up from {btc}"));
    assert_eq!(
        row(&browser, "BTC/USD", ".arrow").await.as_deref(),
        Some("▲")
    );
    let down = moved(&up, -9);
    let sent = stack.trade("BTC/USD", &down).await;
    let shown = seen_at(&browser, "BTC/USD", &down).await;
    println!(
        "board: control-API trade to screen: {} ms",
        shown.saturating_sub(sent)
    );
    assert_eq!(
        row(&browser, "BTC/USD", "@direction").await.as_deref(),
        Some("down")
    );
    assert_eq!(
        row(&browser, "BTC/USD", ".arrow").await.as_deref(),
        Some("▼")
    );
    // A trailing zero stays: the page never reformats a price.
    let sent = stack.trade("ETH/USD", "3001.10").await;
    let shown = seen_at(&browser, "ETH/USD", "3001.10").await;
    println!(
        "board: control-API trade to screen: {} ms",
        shown.saturating_sub(sent)
    );

    some_history(&stack, &browser).await;
    let points = browser
        .eval("return document.querySelector('#rows tr polyline').getAttribute('points');")
        .await
        .expect("sparkline");
    let points = points.as_str().unwrap_or_default().split(' ').count();
    assert!(points >= 8, "sparkline has {points} points");

    refresh_says_refreshed(&browser).await;
    eventually(SHOW, "the feed line", || async {
        let feed = browser.text("#feed").await?;
        feed.contains("socket connected").then_some(())
    })
    .await;
    screenshot(&browser, "light.png").await;
    browser.prefer_dark(true).await.expect("dark");
    screenshot(&browser, "dark.png").await;
    assert_clean(&browser, &stack.url("/")).await;
    browser.close().await;

    let phone = driver.browser(390, 844).await.expect("phone browser");
    phone.goto(&stack.url("/")).await.expect("load");
    let expected = stack.sim_prices();
    eventually(SHOW, "every pair on the phone", || async {
        (shown_prices(&phone).await == expected).then_some(())
    })
    .await;
    some_history(&stack, &phone).await;
    screenshot(&phone, "phone.png").await;
    assert_clean(&phone, &stack.url("/")).await;

    unavailable_after_the_ttl(&stack, &phone).await;
    phone.close().await;
}

/// From the keyboard alone: Tab reaches the first row's refresh button, Enter presses it, and
/// it says `refreshed`.
async fn refresh_says_refreshed(browser: &Browser) {
    let active = || async { browser.client.active_element().await.expect("focus") };
    active()
        .await
        .send_keys("\u{e004}")
        .await
        .expect("press Tab");
    let focused = browser
        .eval("return document.activeElement.getAttribute('aria-label');")
        .await
        .expect("focused element");
    assert_eq!(focused, "Refresh BTC/USD from Kraken now");
    active()
        .await
        .send_keys("\u{e007}")
        .await
        .expect("press Enter");
    eventually(SHOW, "the refresh outcome", || async {
        let outcome = row(browser, "BTC/USD", ".outcome").await?;
        (!outcome.is_empty() && outcome != "refreshing…").then_some(outcome)
    })
    .await;
    let outcome = row(browser, "BTC/USD", ".outcome")
        .await
        .unwrap_or_default();
    assert!(
        outcome.starts_with("refreshed at "),
        "refresh said: {outcome}"
    );
}

/// XRP/USD's subscription is refused and REST fails: no source confirms it, so after the TTL
/// the page marks it unavailable with the API's reason, and the others stay fresh.
async fn unavailable_after_the_ttl(stack: &Stack, browser: &Browser) {
    let control = stack.sim.control();
    control.reject_pair("XRP/USD", true).expect("reject");
    control.set_rest_fault(Some(RestFault::Unavailable));
    control.drop_connections();
    let started = Instant::now();
    let state = eventually(
        WAIT,
        "XRP/USD unavailable with the API's reason",
        || async {
            let state = row(browser, "XRP/USD", ".state").await?;
            state.contains("key expired").then_some(state)
        },
    )
    .await;
    println!(
        "board: XRP/USD shown as {state:?} {:?} after its source went away",
        started.elapsed()
    );
    assert_eq!(
        row(browser, "XRP/USD", "@state").await.as_deref(),
        Some("unavailable")
    );
    eventually(WAIT, "BTC/USD fresh again over the WebSocket", || async {
        let fresh = row(browser, "BTC/USD", "@state").await? == "fresh";
        fresh.then_some(())
    })
    .await;
}

#[tokio::test]
async fn board_reconnects_and_catches_up_after_a_restart() {
    let mut stack = stack(|_| {}).await;
    let driver = Chromedriver::start().await.expect("chromedriver");
    let browser = driver.browser(1280, 720).await.expect("browser");
    browser.goto(&stack.url("/")).await.expect("load");
    let expected = stack.sim_prices();
    eventually(SHOW, "every pair", || async {
        (shown_prices(&browser).await == expected).then_some(())
    })
    .await;
    let api = stack.api.take().expect("running");
    let port = api.addr.port();
    api.stop().await.expect("query-api stops");
    let message = eventually(SHOW, "the page says it is reconnecting", || async {
        let pill = browser.text("#connection").await?;
        // The stream's last event says why; a polled query-api just goes away.
        let message = browser.text("#message").await?;
        let said = message.contains("query-api is shutting down")
            || message.contains("Lost the connection");
        (pill.contains("reconnecting") && said).then_some(message)
    })
    .await;
    println!("board: while query-api was down: {message:?}");
    let btc = stack.sim.control().last_price("BTC/USD").expect("offered");
    let missed = moved(&btc, 11);
    stack.trade("BTC/USD", &missed).await;
    let mut config = stack.config.clone();
    config.server.port = u32::from(port);
    let restarted = Instant::now();
    stack.api = Some(start_query_api(config).await);
    eventually(
        WAIT,
        "the price traded while query-api was down",
        || async { (row(&browser, "BTC/USD", ".price").await? == missed).then_some(()) },
    )
    .await;
    println!(
        "board: query-api restart to caught up: {:?}",
        restarted.elapsed()
    );
    eventually(SHOW, "the page live again", || async {
        browser
            .text("#connection")
            .await?
            .starts_with("live")
            .then_some(())
    })
    .await;

    // Without an ingestor, a refresh says so in words.
    let (result, _) = stack.ingestor.take().expect("running").stop().await;
    result.expect("ingestor stops");
    let button = browser
        .client
        .find(Locator::Css(
            "#rows tr[data-pair=\"ETH/USD\"] button.refresh",
        ))
        .await
        .expect("refresh button");
    button.click().await.expect("click");
    let outcome = eventually(SHOW, "the refresh outcome", || async {
        let outcome = row(&browser, "ETH/USD", ".outcome").await?;
        (!outcome.is_empty() && outcome != "refreshing…").then_some(outcome)
    })
    .await;
    let said = "unavailable: no ingestor is running to refresh prices at ";
    assert!(outcome.starts_with(said), "{outcome}");
    browser.close().await;
}

#[tokio::test]
async fn board_asks_for_the_key_and_says_when_it_is_wrong() {
    let stack = stack(|c| {
        c.auth.enabled = true;
        c.auth.api_key = Secret::new("board-key");
    })
    .await;
    let driver = Chromedriver::start().await.expect("chromedriver");
    let browser = driver.browser(1280, 720).await.expect("browser");
    browser.goto(&stack.url("/")).await.expect("load");
    let form_shown = "return !document.getElementById('key-form').hidden;";
    eventually(SHOW, "the key prompt", || async {
        (browser.eval(form_shown).await.ok()? == Value::Bool(true)).then_some(())
    })
    .await;
    enter_key(&browser, "wrong-key").await;
    eventually(SHOW, "the wrong key refused", || async {
        let message = browser.text("#message").await?;
        message.contains("refused").then_some(())
    })
    .await;
    enter_key(&browser, "board-key").await;
    let expected = stack.sim_prices();
    eventually(SHOW, "every pair with the key", || async {
        (shown_prices(&browser).await == expected).then_some(())
    })
    .await;
    eventually(SHOW, "the page live with the key", || async {
        browser
            .text("#connection")
            .await?
            .starts_with("live")
            .then_some(())
    })
    .await;

    // The key is kept for the tab: an unknown pair in the address is the API's 400 message.
    browser
        .goto(&stack.url("/?pair=DOGE/MOON"))
        .await
        .expect("load");
    let message = eventually(SHOW, "the unknown pair message", || async {
        browser
            .text("#message")
            .await
            .filter(|m| m.contains("DOGE/MOON"))
    })
    .await;
    assert!(message.contains("unsupported pair: DOGE/MOON"), "{message}");
    let table_hidden = browser
        .eval("return document.getElementById('board').hidden;")
        .await
        .expect("table");
    assert_eq!(table_hidden, Value::Bool(true));
    browser.close().await;
}

/// Types `key` into the prompt and submits it with Enter, as a person would.
async fn enter_key(browser: &Browser, key: &str) {
    let input = eventually(SHOW, "the key input", || async {
        let input = browser.client.find(Locator::Css("#key-input")).await.ok()?;
        input.is_displayed().await.ok()?.then_some(input)
    })
    .await;
    input.clear().await.expect("clear");
    input
        .send_keys(&format!("{key}\u{e007}"))
        .await
        .expect("type");
}

#[tokio::test]
async fn board_says_when_it_is_rate_limited() {
    let stack = stack(|c| {
        c.rate_limit.enabled = true;
        // One token: the status read takes it, the first price read is refused.
        c.rate_limit.capacity = 1;
        c.rate_limit.refill_rate = 1;
    })
    .await;
    let driver = Chromedriver::start().await.expect("chromedriver");
    let browser = driver.browser(1280, 720).await.expect("browser");
    browser.goto(&stack.url("/")).await.expect("load");
    let message = eventually(WAIT, "the 429 message", || async {
        browser
            .text("#message")
            .await
            .filter(|m| m.contains("(429)"))
    })
    .await;
    assert!(
        message.starts_with("Too many requests from this address (429). Retrying in "),
        "{message}"
    );
    browser.close().await;
}
