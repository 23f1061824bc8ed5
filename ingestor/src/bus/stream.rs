//! The last-value stream on the bus (docs/architecture.md, "Last value on the bus"): JetStream
//! keeps the latest message of every price subject, so a new reader starts with every price.
//! This module ensures it, with the settings ltp wants, and brings a stream that already exists
//! in line with them.
//!
//! An existing stream is never deleted and re-created (that would lose the last values). Each
//! setting that differs is changed with an update of its own, so a change NATS refuses (a
//! stream keeps its storage type for life) does not hold back the others, and every outcome is
//! one log line naming the setting, the existing value and the wanted one — with NATS's reason
//! when it refused.

use async_nats::Client;
use async_nats::jetstream::{self, stream};
use common::Subjects;
use common::config::{NatsConfig, StreamStorage, format_duration};

/// The stream ltp wants for `subjects` with `config`'s storage and replica count.
pub fn wanted(subjects: &Subjects, config: &NatsConfig) -> stream::Config {
    stream::Config {
        name: subjects.stream_name(),
        subjects: vec![subjects.prices_all()],
        max_messages_per_subject: 1,
        allow_direct: true,
        discard: stream::DiscardPolicy::Old,
        storage: match config.stream_storage {
            StreamStorage::File => stream::StorageType::File,
            StreamStorage::Memory => stream::StorageType::Memory,
        },
        num_replicas: usize::try_from(config.stream_replicas).unwrap_or(1),
        description: Some("Last price of every pair (one message per subject)".into()),
        ..Default::default()
    }
}

/// One stream setting ltp cares about: how to show it and how to take the wanted value.
struct Setting {
    name: &'static str,
    show: fn(&stream::Config) -> String,
    take: fn(&mut stream::Config, &stream::Config),
}

/// Every setting [`wanted`] chooses. `max_age` is not chosen (0: prices are kept until
/// replaced) but is compared too: an age limit would drop the last value of a quiet pair.
const SETTINGS: &[Setting] = &[
    Setting {
        name: "subjects",
        show: |c| c.subjects.join(","),
        take: |c, w| c.subjects.clone_from(&w.subjects),
    },
    Setting {
        name: "max_messages_per_subject",
        show: |c| c.max_messages_per_subject.to_string(),
        take: |c, w| c.max_messages_per_subject = w.max_messages_per_subject,
    },
    Setting {
        name: "discard",
        show: |c| format!("{:?}", c.discard).to_lowercase(),
        take: |c, w| c.discard = w.discard,
    },
    Setting {
        name: "allow_direct",
        show: |c| c.allow_direct.to_string(),
        take: |c, w| c.allow_direct = w.allow_direct,
    },
    Setting {
        name: "max_age",
        show: |c| {
            if c.max_age.is_zero() {
                "unlimited".into()
            } else {
                format_duration(c.max_age)
            }
        },
        take: |c, w| c.max_age = w.max_age,
    },
    Setting {
        name: "storage",
        show: |c| format!("{:?}", c.storage).to_lowercase(),
        take: |c, w| c.storage = w.storage,
    },
    Setting {
        // NATS reports a single copy as 1; 0 in a request means the same.
        name: "num_replicas",
        show: |c| c.num_replicas.max(1).to_string(),
        take: |c, w| c.num_replicas = w.num_replicas,
    },
];

/// A setting whose existing value differs from the wanted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The stream setting, as NATS names it (`num_replicas`, `storage`, …).
    pub setting: &'static str,
    /// Its value in the existing stream.
    pub existing: String,
    /// The value ltp wants.
    pub wanted: String,
}

/// The settings of `existing` that differ from `wanted`, in [`SETTINGS`] order.
pub fn differences(existing: &stream::Config, wanted: &stream::Config) -> Vec<Difference> {
    SETTINGS
        .iter()
        .filter_map(|s| {
            let (existing, wanted) = ((s.show)(existing), (s.show)(wanted));
            (existing != wanted).then_some(Difference {
                setting: s.name,
                existing,
                wanted,
            })
        })
        .collect()
}

/// Changes each differing setting of the existing stream (`existing` is its configuration) to
/// the wanted value, one update per setting, and logs one line per setting: updated, or kept
/// with NATS's reason. Returns the settings NATS refused to change.
pub async fn reconcile(
    js: &jetstream::Context,
    mut existing: stream::Config,
    wanted: &stream::Config,
) -> Vec<Difference> {
    let mut refused = Vec::new();
    for difference in differences(&existing, wanted) {
        let Some(setting) = SETTINGS.iter().find(|s| s.name == difference.setting) else {
            continue;
        };
        let Difference {
            existing: was,
            wanted: want,
            ..
        } = &difference;
        let mut changed = existing.clone();
        (setting.take)(&mut changed, wanted);
        match js.update_stream(&changed).await {
            Ok(info) => {
                tracing::info!(stream = %existing.name, setting = %setting.name, existing = %was, wanted = %want, "price stream setting updated");
                existing = info.config;
            }
            Err(e) => {
                tracing::warn!(stream = %existing.name, setting = %setting.name, existing = %was, wanted = %want, reason = %e, "price stream setting kept: NATS refused the change");
                refused.push(difference);
            }
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(replicas: u32, storage: StreamStorage) -> NatsConfig {
        NatsConfig {
            stream_replicas: replicas,
            stream_storage: storage,
            ..NatsConfig::default()
        }
    }

    #[test]
    fn the_wanted_stream_keeps_one_message_per_subject_with_the_configured_copies() {
        let subjects = Subjects::new("ltp").expect("prefix");
        let w = wanted(&subjects, &config(3, StreamStorage::Memory));
        assert_eq!(w.name, "LTP_PRICES");
        assert_eq!(w.subjects, ["ltp.prices.>"]);
        assert_eq!(w.max_messages_per_subject, 1);
        assert_eq!(w.num_replicas, 3);
        assert_eq!(w.storage, stream::StorageType::Memory);
        assert!(w.allow_direct && w.max_age.is_zero());
        assert_eq!(differences(&w, &w), []);
    }

    #[test]
    fn differences_name_each_setting_with_both_values() {
        let subjects = Subjects::new("ltp").expect("prefix");
        let w = wanted(&subjects, &config(3, StreamStorage::File));
        let existing = stream::Config {
            num_replicas: 0,
            storage: stream::StorageType::Memory,
            max_age: Duration::from_secs(3600),
            ..w.clone()
        };
        let show = |d: &Difference| format!("{} {} -> {}", d.setting, d.existing, d.wanted);
        let got: Vec<String> = differences(&existing, &w).iter().map(show).collect();
        assert_eq!(
            got,
            [
                "max_age 1h -> unlimited",
                "storage memory -> file",
                "num_replicas 1 -> 3"
            ]
        );
        // One copy is 1 whether NATS or a request spells it 0.
        let single = wanted(&subjects, &config(1, StreamStorage::File));
        let spelled_zero = stream::Config {
            num_replicas: 0,
            ..single.clone()
        };
        assert_eq!(differences(&spelled_zero, &single), []);
    }
}

/// What [`ensure_stream`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// The stream exists (created now or before); its settings were reconciled.
    Ensured,
    /// No JetStream here (disabled in the configuration, or the server has none): core NATS
    /// only, and asking again is pointless.
    NoJetStream,
    /// JetStream is there but did not do it (a cluster electing a leader, a conflicting
    /// stream, …): worth asking again later.
    Failed,
}

/// Makes sure the last-value stream exists (architecture.md, "Last value on the bus") with the
/// wanted settings where NATS allows changing them ([`reconcile`]).
/// A server without JetStream is not an error.
pub async fn ensure_stream(
    client: &Client,
    subjects: &Subjects,
    config: &NatsConfig,
) -> StreamState {
    if !config.jetstream {
        return StreamState::NoJetStream;
    }
    // No account probe first: `query_account` cannot parse the answers of older servers
    // (2.9); a server without JetStream fails the stream request with "no responders".
    let js = jetstream::new(client.clone());
    let wanted = wanted(subjects, config);
    match js.get_or_create_stream(wanted.clone()).await {
        Ok(s) => {
            reconcile(&js, s.cached_info().config.clone(), &wanted).await;
            StreamState::Ensured
        }
        Err(e) => {
            let text = e.to_string();
            if text.contains("no responders") {
                tracing::info!("no JetStream on this server: publishing on core NATS only");
                StreamState::NoJetStream
            } else {
                tracing::warn!(error = %text, stream = %subjects.stream_name(), "cannot ensure the price stream yet: publishing on core NATS, trying again");
                StreamState::Failed
            }
        }
    }
}
