//! A Redis server for one test.

use testcontainers_modules::testcontainers::core::WaitFor;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage};

use crate::containers;

/// Redis for one test: the server at `TEST_REDIS_URL` when set, else a container of
/// `ltp-redis:test` (override with `LTP_TEST_REDIS_IMAGE`) removed when this value is dropped.
/// Tests sharing one server must use their own key prefix ([`crate::unique_id`]).
pub struct TestRedis {
    /// `host:port`, as the `REDIS_ADDR` setting takes it.
    pub addr: String,
    /// `redis://host:port`.
    pub url: String,
    container: Option<ContainerAsync<GenericImage>>,
}

/// `redis-server` for tests: reachable from the host, no persistence, then `extra` arguments.
pub(crate) fn server_command(extra: &[&str]) -> Vec<String> {
    [
        "redis-server",
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .chain(extra)
    .map(|a| (*a).to_owned())
    .collect()
}

impl TestRedis {
    /// A server, or the one at `TEST_REDIS_URL`.
    pub async fn start() -> TestRedis {
        if let Ok(url) = std::env::var("TEST_REDIS_URL") {
            let addr = url
                .trim_start_matches("redis://")
                .trim_end_matches('/')
                .to_owned();
            return TestRedis {
                addr,
                url,
                container: None,
            };
        }
        Self::container(&[]).await
    }

    /// A container this test owns, started with extra `redis-server` arguments (for example
    /// `["--requirepass", "secret"]`); it can be stopped and started.
    pub async fn container(extra_args: &[&str]) -> TestRedis {
        let cmd = server_command(extra_args);
        let (container, port) = containers::start(
            "LTP_TEST_REDIS_IMAGE",
            "ltp-redis:test",
            6379,
            WaitFor::message_on_stdout("Ready to accept connections"),
            cmd,
        )
        .await;
        let addr = format!("127.0.0.1:{port}");
        TestRedis {
            url: format!("redis://{addr}"),
            addr,
            container: Some(container),
        }
    }

    /// A client connection.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to test Redis")
    }

    /// Stops the server. Panics for an external server.
    pub async fn stop(&self) {
        self.owned().stop().await.expect("stop Redis container");
    }

    /// Starts the stopped server again at the same address (empty: no persistence), and waits
    /// until it answers.
    pub async fn start_again(&self) {
        self.owned().start().await.expect("start Redis container");
        crate::eventually(
            std::time::Duration::from_secs(30),
            "Redis to answer again",
            || async {
                let client = redis::Client::open(self.url.as_str()).ok()?;
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .ok()
            },
        )
        .await;
    }

    fn owned(&self) -> &ContainerAsync<GenericImage> {
        self.container
            .as_ref()
            .expect("this test needs a Redis container it owns; unset TEST_REDIS_URL")
    }
}
