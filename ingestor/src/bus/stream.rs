//! The last-value stream on the bus (docs/architecture.md, "Last value on the bus"): JetStream
//! keeps the latest message of every price subject, so a new reader starts with every price.

use async_nats::Client;
use async_nats::jetstream::{self, stream};
use common::Subjects;
use common::config::{NatsConfig, StreamStorage};

/// Makes sure the last-value stream exists. Returns whether JetStream is in use; a server without JetStream is not an error.
pub async fn ensure_stream(client: &Client, subjects: &Subjects, config: &NatsConfig) -> bool {
    if !config.jetstream {
        return false;
    }
    // No account probe first: `query_account` cannot parse the answers of older servers
    // (2.9); a server without JetStream fails the stream request with "no responders".
    let js = jetstream::new(client.clone());
    let wanted = stream::Config {
        name: subjects.stream_name(),
        subjects: vec![subjects.prices_all()],
        max_messages_per_subject: 1,
        allow_direct: true,
        discard: stream::DiscardPolicy::Old,
        storage: match config.stream_storage {
            StreamStorage::File => stream::StorageType::File,
            StreamStorage::Memory => stream::StorageType::Memory,
        },
        description: Some("Last price of every pair (one message per subject)".into()),
        ..Default::default()
    };
    match js.get_or_create_stream(wanted).await {
        Ok(mut s) => {
            if let Ok(info) = s.info().await
                && info.config.max_messages_per_subject != 1
            {
                tracing::warn!(
                    stream = %info.config.name,
                    max_messages_per_subject = info.config.max_messages_per_subject,
                    "the existing price stream keeps more than one message per subject"
                );
            }
            true
        }
        Err(e) => {
            let text = e.to_string();
            if text.contains("no responders") {
                tracing::info!("no JetStream on this server: publishing on core NATS only");
            } else {
                tracing::warn!(error = %text, stream = %subjects.stream_name(), "cannot ensure the price stream: core NATS only");
            }
            false
        }
    }
}
