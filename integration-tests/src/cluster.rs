//! A three-node NATS cluster with JetStream for one test: `ltp-nats:test` containers on a
//! private Docker network of their own (routes between them by container name), each with its
//! client and monitoring ports published on fixed free host ports, so a node that is killed
//! or stopped and started again comes back at the same address.
//!
//! Nodes do not advertise each other to clients (`no_advertise`): clients know the cluster
//! only through the URLs they were given, as they would behind a firewall, and the container
//! addresses (unreachable on some Docker hosts) never enter their server lists.

use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use testcontainers_modules::testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::containers::{free_port, image};

/// How many nodes a [`TestCluster`] has.
pub const NODES: usize = 3;

/// One node of a [`TestCluster`].
pub struct Node {
    /// Server name (`n1`, `n2`, `n3`), as stream info and `/connz` report it.
    pub name: String,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    /// `http://127.0.0.1:<port>` of the monitoring endpoints (`/connz`, `/jsz`, `/routez`).
    pub monitor: String,
    container: ContainerAsync<GenericImage>,
}

/// Three nodes of one cluster; every container (and the network) is removed when dropped.
pub struct TestCluster {
    /// The nodes, `n1` to `n3`.
    pub nodes: Vec<Node>,
    http: reqwest::Client,
}

/// The server configuration of node `index` (0-based) of cluster `cluster`. Pings every second
/// and three missed pongs make a silent peer or client (no FIN, e.g. a network cut) be noticed
/// within about 4 s instead of the default 4 minutes.
fn node_config(cluster: &str, index: usize) -> String {
    let routes: Vec<String> = (0..NODES)
        .filter(|i| *i != index)
        .map(|i| format!("\"nats-route://{cluster}-n{}:6222\"", i + 1))
        .collect();
    format!(
        "server_name: \"n{n}\"\nport: 4222\nhttp_port: 8222\nping_interval: \"1s\"\nping_max: 3\n\
         jetstream {{ store_dir: \"/data\" }}\n\
         cluster {{\n  name: \"{cluster}\"\n  port: 6222\n  no_advertise: true\n  routes: [{routes}]\n}}\n",
        n = index + 1,
        routes = routes.join(", "),
    )
}

impl TestCluster {
    /// Starts three nodes and waits until they form a cluster with a JetStream meta leader.
    pub async fn start() -> TestCluster {
        let cluster = format!("ltp-{}", crate::unique_id());
        let nodes = join_all((0..NODES).map(|i| start_node(&cluster, i))).await;
        let c = TestCluster {
            nodes,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("http client"),
        };
        c.until_formed(&(0..NODES).collect::<Vec<_>>()).await;
        c
    }

    /// Every node's URL, comma separated, as `NATS_URL` takes them.
    pub fn urls(&self) -> String {
        self.urls_of(&(0..NODES).collect::<Vec<_>>())
    }

    /// The URLs of the nodes `indexes`, comma separated.
    pub fn urls_of(&self, indexes: &[usize]) -> String {
        indexes
            .iter()
            .map(|i| self.nodes[*i].url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client of the nodes `indexes` that reconnects among them for ever.
    pub async fn client_of(&self, indexes: &[usize]) -> async_nats::Client {
        let urls: Vec<&str> = indexes
            .iter()
            .map(|i| self.nodes[*i].url.as_str())
            .collect();
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connect(urls)
            .await
            .expect("connect to the test cluster")
    }

    /// Kills node `index` at once (SIGKILL): no goodbye to clients or peers.
    pub async fn kill(&self, index: usize) {
        self.nodes[index]
            .container
            .stop_with_timeout(Some(0))
            .await
            .expect("kill a NATS node");
    }

    /// Stops node `index` as `docker stop` does (SIGTERM: the server shuts down cleanly).
    pub async fn stop(&self, index: usize) {
        self.nodes[index]
            .container
            .stop_with_timeout(Some(10))
            .await
            .expect("stop a NATS node");
    }

    /// Starts node `index` again (its JetStream data kept) and waits until it is back in the
    /// cluster: accepting clients, routed to every running node, and following a meta leader.
    pub async fn start_again(&self, index: usize, running: &[usize]) {
        self.nodes[index]
            .container
            .start()
            .await
            .expect("start a NATS node");
        self.until_formed(running).await;
    }

    /// The node whose `/connz` lists a client named `name`, if any.
    pub async fn node_of(&self, name: &str, among: &[usize]) -> Option<usize> {
        for i in among {
            let connz = self.monitor(*i, "/connz?limit=1024").await;
            let found = connz
                .as_ref()
                .and_then(|c| c["connections"].as_array())
                .is_some_and(|all| all.iter().any(|c| c["name"] == name));
            if found {
                return Some(*i);
            }
        }
        None
    }

    /// The node leading stream `stream`, asked through the nodes `among`.
    pub async fn stream_leader(&self, stream: &str, among: &[usize]) -> Option<usize> {
        for i in among {
            let jsz = self.monitor(*i, "/jsz?streams=true&accounts=true").await;
            let leader = jsz.as_ref().and_then(|j| {
                j["account_details"]
                    .as_array()?
                    .iter()
                    .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
                    .find(|s| s["name"] == stream)
                    .and_then(|s| s["cluster"]["leader"].as_str().map(str::to_owned))
            });
            if let Some(name) = leader.filter(|n| !n.is_empty()) {
                return self.nodes.iter().position(|n| n.name == name);
            }
        }
        None
    }

    /// Makes node `to` the leader of stream `stream` by asking the current leader to step down
    /// (NATS picks a new one at random) until `to` is picked. `client` is any client of the
    /// stream's account.
    pub async fn move_stream_leader(&self, client: &async_nats::Client, stream: &str, to: usize) {
        let all: Vec<usize> = (0..NODES).collect();
        for _ in 0..20 {
            let leader = crate::eventually(
                Duration::from_secs(30),
                &format!("a leader of {stream}"),
                || self.stream_leader(stream, &all),
            )
            .await;
            if leader == to {
                return;
            }
            let _ = client
                .request(
                    format!("$JS.API.STREAM.LEADER.STEPDOWN.{stream}"),
                    "".into(),
                )
                .await;
            crate::eventually(
                Duration::from_secs(30),
                &format!("{stream} led by another node than {leader}"),
                || async {
                    self.stream_leader(stream, &all)
                        .await
                        .filter(|l| *l != leader)
                },
            )
            .await;
        }
        panic!("{stream} never got node {to} as its leader");
    }

    /// Waits until the nodes `running` are routed to each other and each follows a JetStream
    /// meta leader among them.
    pub async fn until_formed(&self, running: &[usize]) {
        crate::eventually(
            Duration::from_secs(60),
            &format!("NATS nodes {running:?} to form a cluster with a meta leader"),
            || async {
                for i in running {
                    let routes = self.monitor(*i, "/routez").await?;
                    let jsz = self.monitor(*i, "/jsz").await?;
                    let leader = jsz["meta_cluster"]["leader"].as_str().unwrap_or_default();
                    let leader_running = running.iter().any(|r| self.nodes[*r].name == leader);
                    let routed = routes["num_routes"].as_u64()? >= (running.len() - 1) as u64;
                    if !(routed && leader_running) {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await;
    }

    /// `GET <path>` on node `index`'s monitoring port, as JSON; `None` when it does not answer.
    pub async fn monitor(&self, index: usize, path: &str) -> Option<Value> {
        let url = format!("{}{path}", self.nodes[index].monitor);
        let res = self.http.get(url).send().await.ok()?;
        res.json::<Value>().await.ok()
    }
}

/// Starts node `index` of `cluster` on the network named after the cluster. A host port taken
/// between choosing and binding makes the start fail; a few attempts are made.
async fn start_node(cluster: &str, index: usize) -> Node {
    let (name, tag) = image("LTP_TEST_NATS_IMAGE", "ltp-nats:test");
    let config = node_config(cluster, index);
    let mut last_err = None;
    for _ in 0..5 {
        let (client_port, monitor_port) = (free_port(), free_port());
        let request = GenericImage::new(&name, &tag)
            .with_exposed_port(4222.tcp())
            .with_exposed_port(8222.tcp())
            .with_wait_for(WaitFor::message_on_stderr("Server is ready"))
            .with_network(cluster)
            .with_container_name(format!("{cluster}-n{}", index + 1))
            .with_mapped_port(client_port, 4222.tcp())
            .with_mapped_port(monitor_port, 8222.tcp())
            .with_copy_to("/etc/nats-node.conf", config.clone().into_bytes())
            .with_cmd(["-c", "/etc/nats-node.conf"])
            .with_startup_timeout(Duration::from_secs(60));
        match request.start().await {
            Ok(container) => {
                return Node {
                    name: format!("n{}", index + 1),
                    url: format!("nats://127.0.0.1:{client_port}"),
                    monitor: format!("http://127.0.0.1:{monitor_port}"),
                    container,
                };
            }
            Err(e) => {
                // A failed start leaves the created container behind, holding its name.
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", &format!("{cluster}-n{}", index + 1)])
                    .output();
                last_err = Some(e);
            }
        }
    }
    panic!(
        "cannot start NATS node {} of {cluster} from {name}:{tag}: {last_err:?}\n\
         (build the test images with deploy/test-images.sh)",
        index + 1
    )
}
