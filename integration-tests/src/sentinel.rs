//! Redis with Sentinel for one test: a primary, its replica and three sentinels, each an
//! `ltp-redis:test` container (`redis-server --sentinel` for the sentinels) on the host's
//! network, listening on a free port the kernel chose.
//!
//! The host's network, because sentinels hand clients the addresses they monitor: there, the
//! address the sentinels and the replica use for a node (`127.0.0.1:<port>`) is also the one the
//! test process reaches it at, as in a deployment where clients and servers share a network.

use std::time::Duration;

use futures::future::join_all;
use testcontainers_modules::testcontainers::core::WaitFor;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::containers::{free_port, image};
use crate::redis::server_command;

/// How many sentinels a [`TestSentinel`] runs; two must agree that the primary is down.
pub const SENTINELS: usize = 3;

/// A primary (node 0), its replica (node 1) and three sentinels monitoring them; every
/// container is removed when this value is dropped.
pub struct TestSentinel {
    /// The name the sentinels monitor the primary under (`REDIS_MASTER_NAME`).
    pub master_name: String,
    /// `127.0.0.1:<port>` of each sentinel.
    pub sentinels: Vec<String>,
    /// `127.0.0.1:<port>` of the data nodes: the first primary, then its replica.
    pub nodes: Vec<String>,
    node_containers: Vec<ContainerAsync<GenericImage>>,
    _sentinel_containers: Vec<ContainerAsync<GenericImage>>,
}

/// Starts `cmd` on the host's network, ready when `ready` is printed.
async fn start(cmd: Vec<String>, ready: &str) -> ContainerAsync<GenericImage> {
    let (name, tag) = image("LTP_TEST_REDIS_IMAGE", "ltp-redis:test");
    GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stdout(ready))
        .with_network("host")
        .with_cmd(cmd)
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot start a Sentinel test container: {e} (build it with deploy/test-images.sh)"
            )
        })
}

/// A sentinel on `port` monitoring `master` as `name`: the primary is declared down after
/// `down_after` without an answer, and two sentinels must agree. Sentinel rewrites its
/// configuration file, so the file is written by the container's own user.
fn sentinel_command(port: u16, name: &str, master: &str, down_after: Duration) -> Vec<String> {
    let (host, master_port) = master.rsplit_once(':').expect("host:port");
    let down_ms = down_after.as_millis();
    let config = format!(
        "port {port}\nprotected-mode no\n\
         sentinel monitor {name} {host} {master_port} 2\n\
         sentinel down-after-milliseconds {name} {down_ms}\n\
         sentinel failover-timeout {name} {}\n\
         sentinel parallel-syncs {name} 1\n",
        down_ms * 5,
    );
    let script = format!(
        "printf '%s' '{config}' > /tmp/sentinel.conf && exec redis-server /tmp/sentinel.conf --sentinel"
    );
    vec!["sh".into(), "-c".into(), script]
}

impl TestSentinel {
    /// Starts the nodes and the sentinels (a primary is declared down after `down_after`) and
    /// waits until the replica is in sync and every sentinel knows the replica and the other
    /// sentinels, so that killing the primary leads to a failover.
    pub async fn start(down_after: Duration) -> TestSentinel {
        let master_name = format!("ltp-{}", crate::unique_id());
        let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let primary_port = ports[0].to_string();
        let replica_port = ports[1].to_string();
        let ready = "Ready to accept connections";
        // A full resync goes through a file in the working directory, which must be writable
        // by the image's user; and without the default 5 s wait for more replicas.
        let node = |port: &str, extra: &[&str]| {
            let args: Vec<&str> = [
                "--port",
                port,
                "--dir",
                "/tmp",
                "--repl-diskless-sync-delay",
                "0",
            ]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
            server_command(&args)
        };
        let primary = start(node(&primary_port, &[]), ready).await;
        let replica = start(
            node(&replica_port, &["--replicaof", "127.0.0.1", &primary_port]),
            ready,
        )
        .await;
        let sentinel_ports: Vec<u16> = (0..SENTINELS).map(|_| free_port()).collect();
        let sentinel_containers = join_all(sentinel_ports.iter().map(|port| {
            start(
                sentinel_command(*port, &master_name, &nodes[0], down_after),
                "+monitor master",
            )
        }))
        .await;
        let s = TestSentinel {
            master_name,
            sentinels: sentinel_ports
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect(),
            nodes,
            node_containers: vec![primary, replica],
            _sentinel_containers: sentinel_containers,
        };
        s.until_monitored().await;
        s
    }

    /// The sentinels' addresses, comma separated, as `REDIS_SENTINELS` takes them.
    pub fn sentinel_list(&self) -> String {
        self.sentinels.join(",")
    }

    /// A connection to data node `index`.
    pub async fn node(&self, index: usize) -> Option<redis::aio::MultiplexedConnection> {
        connect(&self.nodes[index]).await
    }

    /// The primary's address as the first answering sentinel names it.
    pub async fn primary(&self) -> Option<String> {
        for sentinel in &self.sentinels {
            let Some(mut conn) = connect(sentinel).await else {
                continue;
            };
            let named: Option<(String, u16)> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&self.master_name)
                .query_async(&mut conn)
                .await
                .ok()
                .flatten();
            if let Some((host, port)) = named {
                return Some(format!("{host}:{port}"));
            }
        }
        None
    }

    /// Kills data node `index` at once (SIGKILL).
    pub async fn kill(&self, index: usize) {
        self.node_containers[index]
            .stop_with_timeout(Some(0))
            .await
            .expect("kill a Redis node");
    }

    /// Waits until the replica is in sync and every sentinel knows the replica and both other
    /// sentinels (they find each other through the primary within a few seconds).
    async fn until_monitored(&self) {
        crate::eventually(Duration::from_secs(60), "the replica in sync", || async {
            let mut conn = self.node(1).await?;
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .ok()?;
            info.contains("master_link_status:up").then_some(())
        })
        .await;
        for sentinel in &self.sentinels {
            crate::eventually(
                Duration::from_secs(60),
                &format!("sentinel {sentinel} to know the replica and the other sentinels"),
                || async {
                    let mut conn = connect(sentinel).await?;
                    let ask = |what: &str| {
                        let mut cmd = redis::cmd("SENTINEL");
                        cmd.arg(what).arg(&self.master_name);
                        cmd
                    };
                    let replicas: Vec<redis::Value> =
                        ask("REPLICAS").query_async(&mut conn).await.ok()?;
                    let peers: Vec<redis::Value> =
                        ask("SENTINELS").query_async(&mut conn).await.ok()?;
                    (replicas.len() == 1 && peers.len() == SENTINELS - 1).then_some(())
                },
            )
            .await;
        }
    }
}

/// A connection to `host:port`, `None` when it does not answer within 2 s.
async fn connect(addr: &str) -> Option<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}")).ok()?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .ok()
}
