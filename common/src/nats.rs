//! Connecting to NATS with the configured credentials and TLS, reconnecting forever, to any
//! of the configured servers (a cluster's nodes: `nats.url` is a comma-separated list).

use async_nats::{Client, ConnectOptions, Event};
use tokio::sync::broadcast;

use crate::config::NatsConfig;

/// A client and the stream of its connection events (connected, disconnected, …).
pub struct Connection {
    /// The client; clones share one connection.
    pub client: Client,
    /// Connection events, for tasks that react to reconnects.
    pub events: broadcast::Sender<Event>,
}

/// Connects in the background: this returns at once even when the server is down, and the
/// client keeps retrying (with async-nats' capped backoff) for as long as the process lives.
pub async fn connect(
    config: &NatsConfig,
    name: &str,
) -> Result<Connection, async_nats::ConnectError> {
    // Validation has accepted the same list; this only fails for an unvalidated config.
    let servers = config.servers().map_err(|invalid| {
        async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::ServerParse, invalid)
    })?;
    let (events, _) = broadcast::channel(64);
    // Any URL may turn out to need TLS (a server can require it), so the provider is set
    // before the first connection attempt rather than on demand.
    crate::tls::install_default_provider();
    let mut options = match &config.credentials_file {
        Some(path) => ConnectOptions::with_credentials_file(path).await?,
        None => ConnectOptions::new(),
    };
    if !config.user.is_empty() {
        options =
            options.user_and_password(config.user.clone(), config.password.expose().to_owned());
    }
    if !config.token.is_empty() {
        options = options.token(config.token.expose().to_owned());
    }
    if let Some(ca) = &config.tls_ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let sender = events.clone();
    let client = options
        .name(name)
        .require_tls(config.tls_required)
        .connection_timeout(config.connect_timeout)
        .request_timeout(Some(config.request_timeout))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .event_callback(move |event| {
            match &event {
                Event::Connected => tracing::info!("nats connected"),
                Event::Disconnected => tracing::warn!("nats disconnected"),
                other => tracing::warn!(event = %other, "nats event"),
            }
            let _ = sender.send(event);
            async {}
        })
        .connect(servers)
        .await?;
    Ok(Connection { client, events })
}
