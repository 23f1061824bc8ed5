//! The ordering decision over random interleavings (docs/architecture.md, "Ordering"): two
//! ingestors with random clock offsets, each running its pair state and offset estimate,
//! take socket frames, REST answers (late ones too) and re-publishes in any order; a consumer
//! keeps the message [`PriceMessage::supersedes`] says. Trade `j` has price `j`, so "newer
//! trade" is "larger price". Kraken's clock is `true time + kraken_ms`, ingestor `i`'s is
//! `true time + ours_ms[i]`.
//!
//! What must hold after every step:
//! - the served trade is at least every trade a socket delivered to any ingestor;
//! - for every REST answer delivered, the served trade is at least every trade Kraken
//!   stamped before that answer's `as_of` (all of them were in the answer);
//! - and at the end, once the last trade reached a socket, it is the one served.

use std::sync::Arc;
use std::time::Duration;

use common::message::Price;
use common::{Pair, PriceMessage, Source};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use tokio::time::Instant;

use super::pair_state::{Decision, PairState, Quote};
use crate::kraken::offset::OffsetEstimate;

/// What happens to one ingestor, at a true time in ms.
#[derive(Debug, Clone)]
enum Action {
    /// The socket delivers trade `trade`, `latency` ms after it happened (frames of one
    /// ingestor stay in order).
    Frame { trade: usize, latency: u64 },
    /// A REST request sent at `sent`, reaching Kraken `arrive` ms later, its answer back
    /// `back` ms after that.
    Rest { sent: u64, arrive: u64, back: u64 },
    /// A re-publish of the current price at `at`.
    Republish { at: u64 },
}

#[derive(Debug, Clone)]
struct Case {
    /// Gaps between trades, ms; trade 0 is at 0 ms.
    gaps: Vec<u64>,
    kraken_ms: i64,
    ours_ms: [i64; 2],
    actions: [Vec<Action>; 2],
    duplicate_every: usize,
}

fn action(trades: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        (0..trades, 0..500_u64).prop_map(|(trade, latency)| Action::Frame { trade, latency }),
        (0..20_000_u64, 0..300_u64, 0..3_000_u64).prop_map(|(sent, arrive, back)| Action::Rest {
            sent,
            arrive,
            back
        }),
        (0..20_000_u64).prop_map(|at| Action::Republish { at }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (2..10_usize).prop_flat_map(|trades| {
        (
            prop::collection::vec(1..2_000_u64, trades - 1),
            -20_000..20_000_i64,
            [-2_000..2_000_i64, -2_000..2_000_i64],
            [
                prop::collection::vec(action(trades), 0..12),
                prop::collection::vec(action(trades), 0..12),
            ],
            2..6_usize,
        )
            .prop_map(
                |(gaps, kraken_ms, ours_ms, actions, duplicate_every)| Case {
                    gaps,
                    kraken_ms,
                    ours_ms,
                    actions,
                    duplicate_every,
                },
            )
    })
}

/// One scheduled delivery.
struct Event {
    at: u64,
    ingestor: usize,
    what: Action,
}

struct World {
    base: Timestamp,
    start: Instant,
    times: Vec<u64>,
    kraken_ms: i64,
    ours_ms: [i64; 2],
    pair: Pair,
    ids: [Arc<str>; 2],
    states: [PairState; 2],
    offsets: [OffsetEstimate; 2],
    served: Option<PriceMessage>,
    /// Largest trade a socket delivered to anyone.
    socket_max: Option<usize>,
    /// Largest trade some delivered REST answer vouches for (stamped before its `as_of`).
    rest_vouched: Option<usize>,
    published: usize,
    duplicate_every: usize,
}

impl World {
    fn new(case: &Case) -> World {
        let mut times = vec![0];
        for gap in &case.gaps {
            times.push(times.last().copied().unwrap_or(0) + gap);
        }
        let pair = Pair::parse("BTC/USD").expect("known");
        let start = Instant::now();
        World {
            base: "2026-01-01T00:00:00Z".parse().expect("ts"),
            start,
            times,
            kraken_ms: case.kraken_ms,
            ours_ms: case.ours_ms,
            pair,
            ids: [Arc::from("a"), Arc::from("b")],
            states: [PairState::new(pair, start), PairState::new(pair, start)],
            offsets: [OffsetEstimate::default(), OffsetEstimate::default()],
            served: None,
            socket_max: None,
            rest_vouched: None,
            published: 0,
            duplicate_every: case.duplicate_every,
        }
    }

    fn kraken(&self, at: u64) -> Timestamp {
        self.base + SignedDuration::from_millis(at as i64 + self.kraken_ms)
    }

    fn ours(&self, i: usize, at: u64) -> Timestamp {
        self.base + SignedDuration::from_millis(at as i64 + self.ours_ms[i])
    }

    fn instant(&self, at: u64) -> Instant {
        self.start + Duration::from_millis(at)
    }

    /// The last trade at or before `at`.
    fn trade_at(&self, at: u64) -> usize {
        self.times.iter().rposition(|t| *t <= at).unwrap_or(0)
    }

    fn price(trade: usize) -> Price {
        Price::parse(&(trade + 1).to_string()).expect("positive")
    }

    fn trade_of(msg: &PriceMessage) -> usize {
        msg.price.as_str().parse::<usize>().expect("whole") - 1
    }

    fn schedule(&self, case: &Case) -> Vec<Event> {
        let mut events = Vec::new();
        for (i, actions) in case.actions.iter().enumerate() {
            // Socket frames of one ingestor arrive in trade order.
            let mut frames: Vec<(usize, u64)> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Frame { trade, latency } => Some((*trade, *latency)),
                    _ => None,
                })
                .collect();
            frames.sort();
            let mut last = 0;
            for (trade, latency) in frames {
                last = (self.times[trade] + latency).max(last);
                events.push(Event {
                    at: last,
                    ingestor: i,
                    what: Action::Frame { trade, latency },
                });
            }
            for a in actions {
                let at = match a {
                    Action::Frame { .. } => continue,
                    Action::Rest { sent, arrive, back } => sent + arrive + back,
                    Action::Republish { at } => *at,
                };
                events.push(Event {
                    at,
                    ingestor: i,
                    what: a.clone(),
                });
            }
        }
        events.sort_by_key(|e| e.at);
        events
    }

    fn run(&mut self, event: &Event) -> Result<(), TestCaseError> {
        let i = event.ingestor;
        let now = self.instant(event.at);
        let received = self.ours(i, event.at);
        let decision = match event.what {
            Action::Frame { trade, .. } => {
                let stamp = self.kraken(self.times[trade]);
                self.offsets[i].observe(stamp, received, now);
                self.socket_max = self.socket_max.max(Some(trade));
                let quote = Quote {
                    price: Self::price(trade),
                    source: Source::Ws,
                    exchange_time: Some(stamp),
                    as_of: stamp,
                    received_at: received,
                };
                self.states[i].offer(quote, &self.ids[i], received)
            }
            Action::Rest { sent, arrive, .. } => {
                // The fetcher asks `Time` first when the socket gave nothing recently.
                if self.offsets[i].time_due(self.instant(sent)) {
                    let unixtime = self.kraken(sent + arrive).as_second();
                    let back = self.ours(i, sent + 2 * arrive);
                    self.offsets[i].observe_unixtime(unixtime, back, self.instant(sent));
                }
                let sent_at = self.ours(i, sent);
                let as_of = self.offsets[i].to_kraken(sent_at, now);
                let vouched = self.times.iter().rposition(|t| self.kraken(*t) < as_of);
                self.rest_vouched = self.rest_vouched.max(vouched);
                let quote = Quote {
                    price: Self::price(self.trade_at(sent + arrive)),
                    source: Source::Rest,
                    exchange_time: None,
                    as_of,
                    received_at: sent_at,
                };
                self.states[i].offer(quote, &self.ids[i], received)
            }
            Action::Republish { .. } => {
                match self.states[i].republish(now, received, Duration::ZERO) {
                    Some(msg) => Decision::Publish(msg),
                    None => Decision::Confirm,
                }
            }
        };
        if let Decision::Publish(msg) = decision {
            self.deliver(&msg);
            self.published += 1;
            if self.published.is_multiple_of(self.duplicate_every) {
                self.deliver(&msg);
            }
        }
        self.check()
    }

    fn deliver(&mut self, msg: &PriceMessage) {
        assert_eq!(msg.pair, self.pair);
        if self.served.as_ref().is_none_or(|cur| msg.supersedes(cur)) {
            self.served = Some(msg.clone());
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let served = self.served.as_ref().map(Self::trade_of);
        prop_assert!(
            served >= self.socket_max,
            "served {served:?}, a socket delivered {:?}",
            self.socket_max
        );
        prop_assert!(
            served >= self.rest_vouched,
            "served {served:?}, REST vouched for {:?}",
            self.rest_vouched
        );
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_served_price_is_the_latest_trade_any_source_vouches_for(case in case()) {
        let mut world = World::new(&case);
        let events = world.schedule(&case);
        for event in &events {
            world.run(event)?;
        }
        // The socket finally delivers the last trade to the first ingestor.
        let last = world.times.len() - 1;
        let at = events.last().map_or(0, |e| e.at).max(world.times[last]) + 1;
        world.run(&Event { at, ingestor: 0, what: Action::Frame { trade: last, latency: 0 } })?;
        prop_assert_eq!(world.served.as_ref().map(World::trade_of), Some(last));
    }
}
