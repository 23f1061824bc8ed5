//! Client requests on a WS v2 socket and the frames they produce: `subscribe` and
//! `unsubscribe` for `ticker` (one ack per symbol, then snapshots), `ping`, and an error reply
//! for anything else. Never panics, whatever the client sends.

use std::sync::atomic::Ordering::Relaxed;

use common::Pair;
use serde_json::{Map, Number, Value};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::exchange::state::{Shared, lock};
use crate::wire::{self, AckResult, Clock, Reply, Stamp};

/// Error text for requests that are not valid JSON objects or have unusable params (Kraken's
/// exact text for these is not captured; this mirrors its REST wording).
pub const INVALID_ARGUMENTS: &str = "EGeneral:Invalid arguments";
/// Error text for an unknown `method` (not captured either).
pub const METHOD_NOT_FOUND: &str = "Method not found";

/// `event_trigger` of a ticker subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An update on every trade (Kraken's default).
    Trades,
    /// An update on best-bid-offer changes; the simulator changes the BBO on every trade, so
    /// this behaves like `trades`.
    Bbo,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Trades => "trades",
            Trigger::Bbo => "bbo",
        }
    }
}

/// One ticker subscription on one socket.
#[derive(Debug, Clone, Copy)]
pub struct Sub {
    pub trigger: Trigger,
    /// Updates up to this trade sequence number are covered by the snapshot already sent.
    pub covered: u64,
}

/// The ticker subscriptions of one socket, indexed by `Pair::index`.
#[derive(Debug)]
pub struct Subscriptions {
    by_pair: Vec<Option<Sub>>,
    count: usize,
}

impl Subscriptions {
    pub fn new() -> Subscriptions {
        Subscriptions {
            by_pair: vec![None; Pair::all().len()],
            count: 0,
        }
    }

    /// The subscription to the pair with this index.
    pub fn get(&self, pair: usize) -> Option<Sub> {
        self.by_pair.get(pair).copied().flatten()
    }

    /// How many pairs are subscribed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Indexes of the subscribed pairs.
    pub fn pairs(&self) -> impl Iterator<Item = usize> + '_ {
        self.by_pair
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|_| i))
    }
}

/// A frame to send; `ticker` names the pair when it is a ticker snapshot (for the counters).
#[derive(Debug)]
pub struct Frame {
    pub text: Utf8Bytes,
    /// `Pair::index` of a snapshot.
    pub ticker: Option<usize>,
}

impl Frame {
    fn reply(reply: &Reply<'_>) -> Frame {
        Frame {
            text: Utf8Bytes::from(reply.to_text()),
            ticker: None,
        }
    }
}

/// Handles one text frame from the client of the socket with this wire `connection_id`.
pub fn handle(
    text: &str,
    subs: &mut Subscriptions,
    shared: &Shared,
    connection_id: u64,
    time_in: Stamp,
) -> Vec<Frame> {
    let time_in = time_in.micros();
    // An error reply to this request: Kraken's shape, stamped on the simulator's clock.
    let fail = |method: Option<&str>, req_id: Option<&Number>, text: &str| {
        error(&shared.clock, &time_in, method, req_id, text)
    };
    let request = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => {
            return vec![fail(None, None, INVALID_ARGUMENTS)];
        }
    };
    let req_id = match request.get("req_id") {
        None => None,
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n),
        Some(_) => {
            let method = request.get("method").and_then(Value::as_str);
            return vec![fail(method, None, INVALID_ARGUMENTS)];
        }
    };
    match request.get("method").and_then(Value::as_str) {
        Some("ping") => vec![Frame::reply(&Reply {
            error: None,
            method: Some("pong"),
            req_id,
            result: None,
            success: None,
            symbol: None,
            time_in: &time_in,
            time_out: &shared.clock.now().micros(),
        })],
        Some(method @ ("subscribe" | "unsubscribe")) => {
            if method == "subscribe" {
                shared.counters.subscribe_requests.fetch_add(1, Relaxed);
            }
            let params = request.get("params").and_then(Value::as_object);
            match params
                .and_then(|p| p.get("channel"))
                .and_then(Value::as_str)
            {
                Some("ticker") => ticker(
                    method == "subscribe",
                    params.unwrap_or(&Map::new()),
                    req_id,
                    subs,
                    shared,
                    &time_in,
                ),
                Some("status") if method == "subscribe" => {
                    // Kraken pushes the status payload and then refuses the subscription.
                    let status = wire::status(shared.faults.borrow().system, connection_id);
                    vec![
                        Frame {
                            text: Utf8Bytes::from(status),
                            ticker: None,
                        },
                        fail(Some(method), req_id, "Symbol(s) not found"),
                    ]
                }
                Some(_) => vec![fail(Some(method), req_id, "Subscription name invalid")],
                None => vec![fail(Some(method), req_id, INVALID_ARGUMENTS)],
            }
        }
        Some(other) => vec![fail(Some(other), req_id, METHOD_NOT_FOUND)],
        None => vec![fail(None, req_id, INVALID_ARGUMENTS)],
    }
}

/// `subscribe`/`unsubscribe` on the ticker channel: one reply per symbol, then (subscribe with
/// `snapshot`) one snapshot per newly subscribed symbol.
fn ticker(
    subscribe: bool,
    params: &Map<String, Value>,
    req_id: Option<&Number>,
    subs: &mut Subscriptions,
    shared: &Shared,
    time_in: &str,
) -> Vec<Frame> {
    let method = if subscribe {
        "subscribe"
    } else {
        "unsubscribe"
    };
    let Some(TickerParams {
        symbols,
        trigger,
        snapshot,
    }) = ticker_params(params)
    else {
        return vec![error(
            &shared.clock,
            time_in,
            Some(method),
            req_id,
            INVALID_ARGUMENTS,
        )];
    };
    let mut frames = Vec::with_capacity(symbols.len() * 2);
    let mut snapshots = Vec::new();
    let forced_error = lock(&shared.subscribe_error).clone();
    for symbol in symbols {
        let pair = shared.offered_symbol(symbol);
        let outcome = if subscribe {
            subscribe_one(pair, symbol, trigger, forced_error.as_deref(), subs, shared)
        } else {
            unsubscribe_one(pair, subs, shared)
        };
        let ack = Ack {
            method,
            req_id,
            symbol,
            snapshot: subscribe.then_some(snapshot),
        };
        frames.push(ack.frame(&outcome, time_in, &shared.clock));
        if let (Ok(_), Some(pair), true, true) = (&outcome, pair, subscribe, snapshot) {
            snapshots.push(pair);
        }
    }
    for pair in snapshots {
        let (text, seq) = shared.snapshot(pair);
        if let Some(Some(sub)) = subs.by_pair.get_mut(pair.index()) {
            sub.covered = seq;
        }
        frames.push(Frame {
            text,
            ticker: Some(pair.index()),
        });
    }
    frames
}

/// What a ticker request asks for.
struct TickerParams<'a> {
    symbols: Vec<&'a str>,
    trigger: Trigger,
    /// Whether a snapshot follows each new subscription (Kraken's default: yes).
    snapshot: bool,
}

/// The ticker request's `params`, or `None` when they are unusable.
fn ticker_params(params: &Map<String, Value>) -> Option<TickerParams<'_>> {
    let symbols: Vec<&str> = params
        .get("symbol")
        .and_then(Value::as_array)
        .and_then(|list| list.iter().map(Value::as_str).collect())
        .filter(|s: &Vec<&str>| !s.is_empty())?;
    let trigger = match params.get("event_trigger") {
        None => Trigger::Trades,
        Some(Value::String(s)) if s == "trades" => Trigger::Trades,
        Some(Value::String(s)) if s == "bbo" => Trigger::Bbo,
        Some(_) => return None,
    };
    let snapshot = match params.get("snapshot") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return None,
    };
    Some(TickerParams {
        symbols,
        trigger,
        snapshot,
    })
}

/// The reply to one symbol of a ticker (un)subscribe.
struct Ack<'a> {
    method: &'a str,
    req_id: Option<&'a Number>,
    symbol: &'a str,
    /// Echoed in a successful subscribe's `result`.
    snapshot: Option<bool>,
}

impl Ack<'_> {
    fn frame(&self, outcome: &Result<Trigger, String>, time_in: &str, clock: &Clock) -> Frame {
        let time_out = clock.now().micros();
        let reply = match outcome {
            Ok(trigger) => Reply {
                error: None,
                method: Some(self.method),
                req_id: self.req_id,
                result: Some(AckResult {
                    channel: "ticker",
                    event_trigger: trigger.as_str(),
                    snapshot: self.snapshot,
                    symbol: self.symbol,
                }),
                success: Some(true),
                symbol: None,
                time_in,
                time_out: &time_out,
            },
            Err(text) => Reply {
                error: Some(text),
                // Kraken answers a failed unsubscribe with "method":"subscribe" (captured).
                method: Some("subscribe"),
                req_id: self.req_id,
                result: None,
                success: Some(false),
                symbol: Some(self.symbol),
                time_in,
                time_out: &time_out,
            },
        };
        Frame::reply(&reply)
    }
}

fn subscribe_one(
    pair: Option<Pair>,
    symbol: &str,
    trigger: Trigger,
    forced_error: Option<&str>,
    subs: &mut Subscriptions,
    shared: &Shared,
) -> Result<Trigger, String> {
    if let Some(text) = forced_error {
        return Err(text.to_owned());
    }
    let pair = pair
        .filter(|p| !shared.rejected[p.index()].load(Relaxed))
        .ok_or_else(|| format!("Currency pair not supported {symbol}"))?;
    let slot = &mut subs.by_pair[pair.index()];
    if slot.is_some() {
        return Err("Already subscribed".to_owned());
    }
    // Without a snapshot, the socket follows updates from the current trade on.
    let covered = lock(&shared.markets[pair.index()]).seq;
    *slot = Some(Sub { trigger, covered });
    subs.count += 1;
    shared.subscribers[pair.index()].fetch_add(1, Relaxed);
    Ok(trigger)
}

fn unsubscribe_one(
    pair: Option<Pair>,
    subs: &mut Subscriptions,
    shared: &Shared,
) -> Result<Trigger, String> {
    let not_found = || "Subscription Not Found".to_owned();
    let pair = pair.ok_or_else(not_found)?;
    let sub = subs.by_pair[pair.index()].take().ok_or_else(not_found)?;
    subs.count -= 1;
    shared.subscribers[pair.index()].fetch_sub(1, Relaxed);
    Ok(sub.trigger)
}

/// A request-level error (per-symbol errors are [`Ack`]s).
fn error(
    clock: &Clock,
    time_in: &str,
    method: Option<&str>,
    req_id: Option<&Number>,
    text: &str,
) -> Frame {
    Frame::reply(&Reply {
        error: Some(text),
        method,
        req_id,
        result: None,
        success: Some(false),
        symbol: None,
        time_in,
        time_out: &clock.now().micros(),
    })
}
