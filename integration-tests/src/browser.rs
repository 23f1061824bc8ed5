//! A real browser for the board's tests: headless Chromium driven through `chromedriver`
//! (Debian's `chromium` and `chromium-driver`; `scripts/test` installs both) with fantoccini.
//!
//! Nothing is skipped: when chromedriver or Chromium is missing the test fails and says what to
//! install. chromedriver listens on a port it picks itself (`--port=0`, read back from its first
//! lines); it and its browsers stop when the [`Chromedriver`] is dropped.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What to install when the browser is missing.
const INSTALL: &str = "install Chromium and its WebDriver: `apt-get install chromium chromium-driver` \
     (scripts/test does this); or point CHROMEDRIVER at a chromedriver binary";

/// A running chromedriver.
pub struct Chromedriver {
    port: u16,
    _child: Child,
}

impl Chromedriver {
    /// Starts `chromedriver` (or `$CHROMEDRIVER`) on a free port and waits until it listens.
    pub async fn start() -> anyhow::Result<Chromedriver> {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let mut child = Command::new(&binary)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {binary}: {INSTALL}"))?;
        let stdout = child.stdout.take().context("chromedriver stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest
                        .trim_end_matches('.')
                        .trim()
                        .parse::<u16>()
                        .map_err(Into::into);
                }
            }
            bail!("chromedriver exited before it listened: {INSTALL}")
        })
        .await
        .context("chromedriver did not say which port it listens on within 20 s")??;
        // Keep reading its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Chromedriver {
            port,
            _child: child,
        })
    }

    /// Opens a headless Chromium window of `width` × `height` CSS pixels, with its console and
    /// network logs recorded.
    pub async fn browser(&self, width: u32, height: u32) -> anyhow::Result<Browser> {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", "--disable-sync",
                    "--disable-background-networking", "--disable-component-update",
                    "--hide-scrollbars", format!("--window-size={width},{height}"),
                ],
            }),
        );
        caps.insert(
            "goog:loggingPrefs".into(),
            json!({"browser": "ALL", "performance": "ALL"}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .with_context(|| format!("chromedriver could not start Chromium: {INSTALL}"))?;
        let browser = Browser { client };
        // The window size includes the browser's frame; set the viewport exactly.
        browser
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700}),
            )
            .await?;
        Ok(browser)
    }
}

/// One browser session.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
}

impl Browser {
    /// Loads `url`.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await.context("goto")
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        self.client
            .execute(script, Vec::new())
            .await
            .with_context(|| format!("script failed: {script}"))
    }

    /// The text of the first element matching the CSS `selector`, or `None`.
    pub async fn text(&self, selector: &str) -> Option<String> {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            json!(selector)
        );
        self.eval(&script)
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Prefers the dark (`true`) or light colour scheme, as the system setting would.
    pub async fn prefer_dark(&self, dark: bool) -> anyhow::Result<()> {
        let scheme = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await
        .map(drop)
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        self.client.screenshot().await.context("screenshot")
    }

    /// Console messages at level `SEVERE` (errors) since the last call.
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        let entries = self.log("browser").await?;
        Ok(entries
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Every URL the page requested since the last call (the DevTools network events).
    pub async fn requested_urls(&self) -> anyhow::Result<Vec<String>> {
        let entries = self.log("performance").await?;
        let mut urls = Vec::new();
        for entry in entries {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let event: Value = serde_json::from_str(message).unwrap_or_default();
            if event["message"]["method"] == "Network.requestWillBeSent"
                && let Some(url) = event["message"]["params"]["request"]["url"].as_str()
            {
                urls.push(url.to_owned());
            }
        }
        Ok(urls)
    }

    /// Closes the session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    async fn log(&self, kind: &'static str) -> anyhow::Result<Vec<Value>> {
        let value = self
            .client
            .issue_cmd(Raw {
                path: "se/log",
                body: json!({ "type": kind }),
            })
            .await
            .with_context(|| format!("reading the {kind} log"))?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    async fn cdp(&self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.client
            .issue_cmd(Raw {
                path: "goog/cdp/execute",
                body: json!({ "cmd": cmd, "params": params }),
            })
            .await
            .with_context(|| format!("DevTools command {cmd}"))
    }
}

/// A chromedriver extension command: `POST /session/{id}/{path}` with a JSON body.
#[derive(Debug)]
struct Raw {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Raw {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}
