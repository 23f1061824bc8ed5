//! The open-file limit. Every stream and every REST connection holds a descriptor, and most
//! systems start a process with a soft limit of 1,024 (hard limits are far higher), below
//! the default `streams.max_streams` of 20,000: without raising it, accepting would fail with
//! "too many open files" long before the documented 503.

/// Descriptors kept for what is not a client connection: NATS, Redis, the listener, logs,
/// and REST clients while the stream cap is reached.
const HEADROOM: u64 = 1024;

/// Raises the soft limit towards `max_streams` plus [`HEADROOM`], up to the hard limit, and
/// warns when even the hard limit is lower (the cap then cannot be reached).
pub fn raise_for(max_streams: u32) {
    let want = u64::from(max_streams) + HEADROOM;
    match rlimit::increase_nofile_limit(want) {
        Ok(limit) if limit >= want => tracing::debug!(limit, "open-file limit"),
        Ok(limit) => tracing::warn!(
            limit,
            want,
            "the open-file limit (hard limit, `ulimit -Hn`) is below streams.max_streams plus \
             {HEADROOM}: clients beyond it are refused with `too many open files`"
        ),
        Err(error) => tracing::warn!(%error, "could not read or raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_what_the_streams_need_when_the_hard_limit_allows() {
        let (_, hard) = rlimit::Resource::NOFILE.get().expect("getrlimit");
        // A typical starting point; the other tests of this process need far fewer.
        rlimit::Resource::NOFILE
            .set(1024.min(hard), hard)
            .expect("lowering the soft limit");
        let want = hard.min(4096);
        raise_for(u32::try_from(want.saturating_sub(HEADROOM)).expect("small"));
        let (soft, _) = rlimit::Resource::NOFILE.get().expect("getrlimit");
        assert!(soft >= want, "soft {soft} < {want} (hard {hard})");
    }
}
