//! A NATS server for one test.

use std::time::Duration;

use testcontainers_modules::testcontainers::core::WaitFor;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage};

use crate::containers;

/// NATS for one test: the server at `TEST_NATS_URL` when set, else a container of
/// `ltp-nats:test` (override with `LTP_TEST_NATS_IMAGE`) removed when this value is dropped.
/// Tests sharing one server must use their own subject prefix ([`crate::unique_id`]).
pub struct TestNats {
    /// `nats://host:port`.
    pub url: String,
    /// Whether the server runs JetStream.
    pub jetstream: bool,
    container: Option<ContainerAsync<GenericImage>>,
}

impl TestNats {
    /// A server with JetStream, or the one at `TEST_NATS_URL`.
    pub async fn start() -> TestNats {
        if let Ok(url) = std::env::var("TEST_NATS_URL") {
            return TestNats {
                url,
                jetstream: true,
                container: None,
            };
        }
        Self::container(true).await
    }

    /// A server without JetStream (core NATS only); always a container.
    pub async fn start_core_only() -> TestNats {
        Self::container(false).await
    }

    /// A container this test owns, so it can be stopped and started ([`Self::restart`]).
    pub async fn container(jetstream: bool) -> TestNats {
        let mut cmd = vec!["-p".to_owned(), "4222".to_owned()];
        if jetstream {
            cmd.extend(["-js", "-sd", "/data"].map(String::from));
        }
        let (container, port) = containers::start(
            "LTP_TEST_NATS_IMAGE",
            "ltp-nats:test",
            4222,
            WaitFor::message_on_stderr("Server is ready"),
            cmd,
        )
        .await;
        TestNats {
            url: format!("nats://127.0.0.1:{port}"),
            jetstream,
            container: Some(container),
        }
    }

    /// Connects a plain client (no retries on the first connect).
    pub async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(&self.url)
            .await
            .expect("connect to test NATS")
    }

    /// Stops the server; clients see the connection drop. Panics for an external server.
    pub async fn stop(&self) {
        self.owned().stop().await.expect("stop NATS container");
    }

    /// Starts the stopped server again at the same address (JetStream data kept), and waits
    /// until it accepts clients.
    pub async fn start_again(&self) {
        self.owned().start().await.expect("start NATS container");
        crate::eventually(
            Duration::from_secs(30),
            "NATS to accept clients again",
            || async {
                async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_millis(500))
                    .connect(&self.url)
                    .await
                    .ok()
            },
        )
        .await;
    }

    /// Stops and starts the server.
    pub async fn restart(&self) {
        self.stop().await;
        self.start_again().await;
    }

    fn owned(&self) -> &ContainerAsync<GenericImage> {
        self.container
            .as_ref()
            .expect("this test needs a NATS container it owns; unset TEST_NATS_URL")
    }
}
