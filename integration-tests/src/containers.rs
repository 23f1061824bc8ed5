//! Starting the locally built images (`deploy/test-images.sh`) on a fixed, free host port, so a
//! container that is stopped and started again comes back at the same address (clients
//! configured with that address must find it again, as they would a restarted server).

use std::net::TcpListener;
use std::time::Duration;

use testcontainers_modules::testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// A free TCP port on the loopback interface, chosen by the kernel.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Image name and tag from `var` (e.g. `LTP_TEST_NATS_IMAGE=nats:2.10`), else `default`.
pub(crate) fn image(var: &str, default: &str) -> (String, String) {
    let spec = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    match spec.rsplit_once(':') {
        Some((name, tag)) => (name.to_owned(), tag.to_owned()),
        None => (spec, "latest".to_owned()),
    }
}

/// Starts `image` with `cmd`, publishing `port` on a free host port; returns the container
/// and that host port.
pub async fn start(
    image_var: &str,
    default_image: &str,
    port: u16,
    ready: WaitFor,
    cmd: Vec<String>,
) -> (ContainerAsync<GenericImage>, u16) {
    start_with_files(image_var, default_image, port, ready, cmd, Vec::new()).await
}

/// The same, with `files` (`(path in the container, content)`) copied in before it starts:
/// configuration, certificates and keys (mode 0644, readable by the server's user).
pub async fn start_with_files(
    image_var: &str,
    default_image: &str,
    port: u16,
    ready: WaitFor,
    cmd: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
) -> (ContainerAsync<GenericImage>, u16) {
    let (name, tag) = image(image_var, default_image);
    // A port taken between choosing and binding makes start fail; try a few.
    let mut last_err = None;
    for _ in 0..5 {
        let host_port = free_port();
        let mut request = GenericImage::new(&name, &tag)
            .with_exposed_port(port.tcp())
            .with_wait_for(ready.clone())
            .with_mapped_port(host_port, port.tcp())
            .with_cmd(cmd.clone())
            .with_startup_timeout(Duration::from_secs(60));
        for (path, content) in &files {
            request = request.with_copy_to(path.as_str(), content.clone());
        }
        match request.start().await {
            Ok(container) => return (container, host_port),
            Err(e) => last_err = Some(e),
        }
    }
    panic!(
        "cannot start {name}:{tag}: {last_err:?}\n\
         (build the test images with deploy/test-images.sh, or set TEST_NATS_URL / TEST_REDIS_URL)"
    )
}
