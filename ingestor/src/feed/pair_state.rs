//! The state of one pair and its pure decisions: which source serves it, whether a price is
//! new enough to publish, when a confirmed price is re-published, when it is unavailable.
//! The feed does the I/O around these decisions.

use std::sync::Arc;
use std::time::Duration;

use common::message::{Price, SCHEMA_VERSION};
use common::{Pair, PriceMessage, Source};
use jiff::Timestamp;
use tokio::time::Instant;

/// Which source serves the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Waiting for the socket to deliver the pair (start-up, or just subscribed); REST takes
    /// over if nothing comes within the grace period.
    Waiting { since: Instant },
    /// The socket is healthy and has delivered the pair since it (re)subscribed.
    Ws,
    /// Polled over REST (socket down or stalled, subscription rejected, no data).
    Rest,
}

/// A price as a source delivered it, before the feed decides about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The last traded price, Kraken's exact text.
    pub price: Price,
    pub source: Source,
    /// Kraken's own stamp of the ticker data (WebSocket only).
    pub exchange_time: Option<Timestamp>,
    /// On Kraken's clock, when the price was the last trade: the frame's stamp, or the REST
    /// request's send time shifted by a lower bound of the clock offset (so a slow answer
    /// never looks newer than a WebSocket update that arrived meanwhile).
    pub as_of: Timestamp,
    /// When the ingestor received it (our clock); for REST, when the request was sent.
    pub received_at: Timestamp,
}

/// What to do with a price a source delivered.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Publish this new message (already the pair's current one).
    Publish(PriceMessage),
    /// Same price as the current one: only a confirmation that it is still the last.
    Confirm,
    /// Older than the current price (a late REST answer): ignore.
    Older,
}

/// Everything the feed knows about one pair.
#[derive(Debug)]
pub struct PairState {
    pub pair: Pair,
    pub mode: Mode,
    /// Latest accepted message (what the bus has, or will have once NATS is back).
    pub current: Option<PriceMessage>,
    /// Last `seq` used.
    pub seq: u64,
    /// Last time a source confirmed the price beyond its own receipt: a REST answer (its
    /// request time), or the socket's frames while the pair is streamed.
    pub confirmed: Option<Timestamp>,
    /// When the current message was last handed to NATS.
    pub last_publish: Option<Instant>,
    /// The current message never reached NATS (it was down): send it when it is back.
    pub unsent: bool,
    /// Whether a source currently confirms the price (false: re-publishing stopped).
    pub available: bool,
}

impl PairState {
    /// A pair waiting for its first data since `now`.
    pub fn new(pair: Pair, now: Instant) -> PairState {
        PairState {
            pair,
            mode: Mode::Waiting { since: now },
            current: None,
            seq: 0,
            confirmed: None,
            last_publish: None,
            unsent: false,
            available: true,
        }
    }

    /// Decides about a price from `source`, published at `now` if new. A price never replaces
    /// a newer one (compared as consumers do: `as_of` on Kraken's clock, then receive time);
    /// the same price from REST is a confirmation, a new message only when it moves `as_of`
    /// on, while a WS update is a trade and always a new message.
    pub fn offer(&mut self, quote: Quote, instance: &Arc<str>, now: Timestamp) -> Decision {
        let Quote {
            price,
            source,
            exchange_time,
            as_of,
            received_at,
        } = quote;
        if let Some(cur) = &self.current {
            if (as_of, received_at) < (cur.event_time(), cur.received_at) {
                return Decision::Older;
            }
            // REST pads decimals (`65000.10000` for the socket's `65000.1`): compare values.
            if source == Source::Rest && same_decimal(cur.price.as_str(), price.as_str()) {
                if as_of <= cur.event_time() {
                    return Decision::Confirm;
                }
                // Kraken vouches for the same price at a later time: the message moves its
                // `as_of` on (and goes out now, confirmed at the request's time), so a
                // consumer holding an older trade from another ingestor, ordered after our
                // earlier `as_of`, gets the last one.
                self.seq += 1;
                let mut msg = cur.clone();
                msg.as_of = Some(as_of);
                msg.seq = self.seq;
                msg.published_at = received_at.max(cur.published_at);
                self.current = Some(msg.clone());
                return Decision::Publish(msg);
            }
        }
        self.seq += 1;
        let msg = PriceMessage {
            v: SCHEMA_VERSION,
            pair: self.pair,
            price,
            source,
            exchange_time,
            as_of: Some(as_of),
            received_at,
            published_at: now,
            seq: self.seq,
            ingestor: instance.clone(),
        };
        self.current = Some(msg.clone());
        Decision::Publish(msg)
    }

    /// Records a confirmation at `at` (never moves back).
    pub fn confirm(&mut self, at: Timestamp) {
        self.confirmed = Some(self.confirmed.map_or(at, |t| t.max(at)));
    }

    /// When the price was last confirmed: its own receipt, or a later confirmation.
    pub fn confirmed_at(&self) -> Option<Timestamp> {
        let cur = self.current.as_ref()?;
        Some(
            self.confirmed
                .map_or(cur.received_at, |t| t.max(cur.received_at)),
        )
    }

    /// A re-publish due now, as the message to send: the same price with the confirmation
    /// time as `published_at` and the next `seq`. Due when NATS missed the current message,
    /// or when `every` has passed since the last publish and the price was confirmed since.
    pub fn republish(
        &mut self,
        now: Instant,
        confirmed: Timestamp,
        every: Duration,
    ) -> Option<PriceMessage> {
        let cur = self.current.as_ref()?;
        let quiet_long_enough = self
            .last_publish
            .is_none_or(|t| now.saturating_duration_since(t) >= every);
        let newly_confirmed = confirmed > cur.published_at;
        if !(self.unsent || (quiet_long_enough && newly_confirmed)) {
            return None;
        }
        self.seq += 1;
        let mut msg = cur.clone();
        msg.seq = self.seq;
        msg.published_at = confirmed.max(cur.published_at);
        self.current = Some(msg.clone());
        Some(msg)
    }

    /// Records what NATS did with the current message.
    pub fn sent(&mut self, now: Instant, handed_to_nats: bool) {
        self.unsent = !handed_to_nats;
        if handed_to_nats {
            self.last_publish = Some(now);
        }
    }
}

/// Whether two plain decimals have the same value (`65000.1` = `65000.10000`); other forms
/// (exponents) compare as text.
pub fn same_decimal(a: &str, b: &str) -> bool {
    fn normal(s: &str) -> &str {
        if s.contains(['e', 'E']) || !s.contains('.') {
            return s;
        }
        s.trim_end_matches('0').trim_end_matches('.')
    }
    normal(a) == normal(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn quote(
        price: &str,
        source: Source,
        exchange_time: Option<Timestamp>,
        received_at: Timestamp,
    ) -> Quote {
        Quote {
            price: Price::parse(price).expect("price"),
            source,
            exchange_time,
            as_of: exchange_time.unwrap_or(received_at),
            received_at,
        }
    }

    fn state() -> (PairState, Arc<str>) {
        let pair = Pair::parse("BTC/USD").expect("known");
        (PairState::new(pair, Instant::now()), Arc::from("i-1"))
    }

    #[test]
    fn a_rest_price_never_replaces_a_newer_ws_price() {
        let (mut st, id) = state();
        let ws = st.offer(
            quote(
                "100.0",
                Source::Ws,
                Some(ts("2026-01-01T00:00:10Z")),
                ts("2026-01-01T00:00:10.1Z"),
            ),
            &id,
            Timestamp::now(),
        );
        assert!(matches!(ws, Decision::Publish(ref m) if m.seq == 1));
        // Request sent before the WS trade: its answer is older.
        let late = st.offer(
            quote("99.0", Source::Rest, None, ts("2026-01-01T00:00:09Z")),
            &id,
            Timestamp::now(),
        );
        assert_eq!(late, Decision::Older);
        // Sent after: newer, published, with its source.
        let newer = st.offer(
            quote("101.0", Source::Rest, None, ts("2026-01-01T00:00:11Z")),
            &id,
            Timestamp::now(),
        );
        match newer {
            Decision::Publish(m) => {
                assert_eq!(
                    (m.source, m.seq, m.price.as_str()),
                    (Source::Rest, 2, "101.0")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_same_rest_price_moves_as_of_on_but_a_ws_trade_is_news() {
        let (mut st, id) = state();
        let now = Timestamp::now();
        let rest = |at: &str| {
            let mut q = quote("5.00000", Source::Rest, None, ts(at));
            q.as_of = ts(at) - jiff::SignedDuration::from_secs(10);
            q
        };
        let Decision::Publish(first) = st.offer(rest("2026-01-01T00:00:00Z"), &id, now) else {
            panic!("publish");
        };
        // The same answer again (same as_of): only a confirmation.
        assert_eq!(
            st.offer(rest("2026-01-01T00:00:00Z"), &id, now),
            Decision::Confirm
        );
        // Later: the same trade, vouched for at a later time on Kraken's clock.
        match st.offer(rest("2026-01-01T00:00:02Z"), &id, now) {
            Decision::Publish(m) => {
                assert_eq!(
                    m.as_of,
                    Some(ts("2026-01-01T00:00:02Z") - jiff::SignedDuration::from_secs(10))
                );
                assert_eq!((m.seq, m.received_at), (2, first.received_at));
                assert_eq!(m.price, first.price, "the price as first published");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            st.offer(
                quote("5", Source::Ws, None, ts("2026-01-01T00:00:03Z")),
                &id,
                now
            ),
            Decision::Publish(_)
        ));
    }

    #[test]
    fn decimal_equality_ignores_padding_only() {
        assert!(same_decimal("65000.1", "65000.10000"));
        assert!(same_decimal("58033", "58033.00000"));
        assert!(same_decimal("0.00044780", "0.0004478"));
        assert!(!same_decimal("58033", "5803.3"));
        assert!(!same_decimal("100", "1"));
        assert!(!same_decimal("1.5", "1.50001"));
    }

    #[test]
    fn republish_only_what_a_source_confirmed_since_the_last_publish() {
        let (mut st, id) = state();
        let start = Instant::now();
        let every = Duration::from_secs(10);
        let Decision::Publish(first) = st.offer(
            quote("5", Source::Ws, None, ts("2026-01-01T00:00:00Z")),
            &id,
            Timestamp::now(),
        ) else {
            panic!("publish");
        };
        st.mode = Mode::Ws;
        st.sent(start, true);
        let frame = first.published_at + jiff::SignedDuration::from_secs(5);
        // Too early.
        assert_eq!(
            st.republish(start + Duration::from_secs(5), frame, every),
            None
        );
        // Due, and confirmed since.
        let again = st
            .republish(start + every, frame, every)
            .expect("republish");
        assert_eq!(
            (again.seq, again.published_at, again.price.as_str()),
            (2, frame, "5")
        );
        assert_eq!(
            again.received_at, first.received_at,
            "times of the price unchanged"
        );
        st.sent(start + every, true);
        // Nothing confirmed since: stop.
        assert_eq!(st.republish(start + every * 3, frame, every), None);
    }

    #[test]
    fn an_unsent_price_goes_out_as_soon_as_possible_with_honest_times() {
        let (mut st, id) = state();
        let now = Instant::now();
        let Decision::Publish(msg) = st.offer(
            quote("5", Source::Ws, None, ts("2026-01-01T00:00:00Z")),
            &id,
            Timestamp::now(),
        ) else {
            panic!("publish");
        };
        st.sent(now, false);
        // Not confirmed since (source lost meanwhile): sent with its original publish time.
        let out = st
            .republish(now, ts("2026-01-01T00:00:00Z"), Duration::from_secs(10))
            .expect("unsent goes out");
        assert_eq!(out.published_at, msg.published_at);
        assert_eq!(out.seq, 2);
    }

    #[test]
    fn confirmation_is_the_latest_of_receipt_and_confirmations() {
        let (mut st, id) = state();
        assert_eq!(st.confirmed_at(), None, "no price, nothing to confirm");
        st.offer(
            quote("5", Source::Ws, None, ts("2026-01-01T00:00:10Z")),
            &id,
            Timestamp::now(),
        );
        assert_eq!(st.confirmed_at(), Some(ts("2026-01-01T00:00:10Z")));
        st.confirm(ts("2026-01-01T00:01:00Z"));
        st.confirm(ts("2026-01-01T00:00:30Z"));
        assert_eq!(st.confirmed_at(), Some(ts("2026-01-01T00:01:00Z")));
    }
}
