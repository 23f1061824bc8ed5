//! Kraken WebSocket v2 frames: classification (docs/kraken-wire.md §1.11), the fields we use.
//!
//! Parsing borrows from the frame text and never goes through `f64`: the ticker's `last` is
//! taken as the exact JSON token (`58033`, `0.00044780`), or the content of a decimal string,
//! which some clients report Kraken also sends. Unknown fields, channels and methods are
//! tolerated, and nothing here panics on any input (a property test checks it).

use std::borrow::Cow;
use std::fmt;

use common::Pair;
use common::message::{Price, PriceError};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One classified frame from the socket.
#[derive(Debug)]
pub enum Frame<'a> {
    /// `channel: status`: sent on connect and when the engine status changes.
    Status(Status<'a>),
    /// A reply to `subscribe` / `unsubscribe`: one per symbol.
    Ack(Ack<'a>),
    /// A reply to our application-level `ping`.
    Pong {
        /// The `req_id` echoed, when it is an integer.
        req_id: Option<u64>,
        /// Kraken's `time_out`: when it sent the pong, on its clock.
        time_out: Option<jiff::Timestamp>,
    },
    /// `channel: heartbeat`: about once a second on an idle subscribed socket.
    Heartbeat,
    /// `channel: ticker`, `type` snapshot or update.
    Ticker(Tickers<'a>),
    /// Anything else (other channels, unknown methods, non-object JSON): ignored.
    Other,
}

/// Why a frame could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("malformed frame: {0}")]
pub struct FrameError(#[from] serde_json::Error);

/// The engine status carried by a `status` frame.
#[derive(Debug, Default)]
pub struct Status<'a> {
    /// `online`, `maintenance`, `cancel_only`, `post_only`, or anything new.
    pub system: Option<Cow<'a, str>>,
    /// Connection id for debugging; above `i64::MAX` in real captures, hence `u64`.
    pub connection_id: Option<u64>,
    /// WebSocket service version.
    pub version: Option<Cow<'a, str>>,
}

impl Status<'_> {
    /// Whether the engine reported `online` (anything else calls for slower reconnects).
    pub fn is_online(&self) -> bool {
        self.system.as_deref() == Some("online")
    }
}

/// A subscription acknowledgement.
#[derive(Debug)]
pub struct Ack<'a> {
    /// `subscribe` or `unsubscribe`.
    pub method: Cow<'a, str>,
    /// `true` only when `success` is the JSON literal `true` (absent or odd = failure).
    pub success: bool,
    /// The symbol: `result.symbol` on success, the top-level echo on errors.
    pub symbol: Option<Cow<'a, str>>,
    /// Kraken's error text (`Currency pair not supported XBT/USD`, `Already subscribed`, …).
    pub error: Option<Cow<'a, str>>,
    /// Our `req_id`, when echoed as an integer.
    pub req_id: Option<u64>,
    /// Kraken's `time_out`: when it sent the ack, on its clock.
    pub time_out: Option<jiff::Timestamp>,
}

impl Ack<'_> {
    /// `Already subscribed` means the symbol is subscribed: as good as a success.
    pub fn already_subscribed(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with("Already subscribed"))
    }

    /// A rate-related rejection is worth retrying; a bad name is not.
    pub fn rate_limited(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().contains("rate"))
    }
}

/// Whether a ticker frame is the snapshot sent after subscribing or a later update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickerKind {
    /// First message after a subscribe.
    Snapshot,
    /// Sent on each trade (or BBO change with `event_trigger: bbo`).
    Update,
}

/// The ticker objects of one frame: Kraken sends exactly one, but more are accepted.
/// The first is held inline so the usual frame costs no allocation.
#[derive(Debug)]
pub struct Tickers<'a> {
    /// Snapshot or update.
    pub kind: TickerKind,
    first: Option<Ticker<'a>>,
    rest: Vec<Ticker<'a>>,
}

impl<'a> Tickers<'a> {
    /// Every ticker object in the frame, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Ticker<'a>> {
        self.first.iter().chain(self.rest.iter())
    }
}

/// One ticker object; only the fields we need are read.
#[derive(Debug, Deserialize)]
pub struct Ticker<'a> {
    /// WS v2 symbol, e.g. `BTC/USD`.
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// Last traded price, as the raw JSON token (a number, or a decimal in a string).
    #[serde(borrow, default)]
    pub last: Option<&'a RawValue>,
    /// RFC 3339 time of the ticker data; optional (older feeds omit it).
    #[serde(borrow, default)]
    pub timestamp: Option<Text<'a>>,
}

/// Why a ticker object did not yield a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TickerError {
    /// The symbol is not in our table (or not a v2 symbol).
    #[error("unknown symbol {0:?}")]
    UnknownSymbol(String),
    /// No `last` field (Kraken: only guaranteed after a trade within 24 hours).
    #[error("no last price")]
    NoLast,
    /// `last` is not a positive decimal.
    #[error("bad last price: {0}")]
    BadPrice(#[from] PriceError),
}

impl Ticker<'_> {
    /// The pair this ticker is about.
    pub fn pair(&self) -> Result<Pair, TickerError> {
        Pair::from_symbol(&self.symbol)
            .ok_or_else(|| TickerError::UnknownSymbol(self.symbol.chars().take(32).collect()))
    }

    /// The last traded price, exact.
    pub fn last_price(&self) -> Result<Price, TickerError> {
        let raw = self.last.ok_or(TickerError::NoLast)?;
        Ok(decimal_token(raw)?)
    }

    /// Kraken's timestamp, when present and valid RFC 3339.
    pub fn exchange_time(&self) -> Option<jiff::Timestamp> {
        self.timestamp.as_ref().and_then(|t| t.0.parse().ok())
    }
}

/// A price from a raw JSON token: a number literal as written, or the content of a string.
pub fn decimal_token(raw: &RawValue) -> Result<Price, PriceError> {
    let text = raw.get();
    if text.starts_with('"') {
        let inner = serde_json::from_str::<Text<'_>>(text)
            .map_err(|_| PriceError::Malformed(text.chars().take(64).collect()))?;
        Price::parse(&inner.0)
    } else {
        Price::parse(text)
    }
}

/// Every field any v2 frame may carry at the top level, all optional, all borrowed.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    method: Option<Text<'a>>,
    #[serde(borrow, default)]
    channel: Option<Text<'a>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    success: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    symbol: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    req_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    time_out: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct AckResult<'a> {
    #[serde(borrow, default)]
    symbol: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StatusData<'a> {
    #[serde(borrow, default)]
    system: Option<&'a RawValue>,
    #[serde(borrow, default)]
    connection_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    version: Option<&'a RawValue>,
}

/// Classifies and reads one text frame.
pub fn parse(text: &str) -> Result<Frame<'_>, FrameError> {
    // A derived struct would also accept a JSON array positionally: only objects are frames.
    if !text.trim_start().starts_with('{') {
        serde_json::from_str::<de::IgnoredAny>(text)?;
        return Ok(Frame::Other);
    }
    let mut env: Envelope<'_> = serde_json::from_str(text)?;
    if let Some(Text(method)) = env.method.take() {
        return Ok(match method.as_ref() {
            "subscribe" | "unsubscribe" => Frame::Ack(ack(method, &env)),
            "pong" => Frame::Pong {
                req_id: env.req_id.and_then(integer),
                time_out: env.time_out.and_then(timestamp),
            },
            _ => Frame::Other,
        });
    }
    let channel = env.channel.as_ref().map(|t| t.0.as_ref());
    Ok(match (channel, env.kind.as_ref().map(|t| t.0.as_ref())) {
        (Some("heartbeat"), _) => Frame::Heartbeat,
        (Some("status"), _) => Frame::Status(status(env.data)),
        (Some("ticker"), Some(kind @ ("snapshot" | "update"))) => {
            let kind = if kind == "snapshot" {
                TickerKind::Snapshot
            } else {
                TickerKind::Update
            };
            let items = match env.data {
                Some(raw) => serde_json::from_str::<Items<'_>>(raw.get())?,
                None => Items::default(),
            };
            Frame::Ticker(Tickers {
                kind,
                first: items.first,
                rest: items.rest,
            })
        }
        _ => Frame::Other,
    })
}

fn ack<'a>(method: Cow<'a, str>, env: &Envelope<'a>) -> Ack<'a> {
    let success = env.success.is_some_and(|s| s.get() == "true");
    let result_symbol = env
        .result
        .and_then(|r| serde_json::from_str::<AckResult<'_>>(r.get()).ok())
        .and_then(|r| r.symbol)
        .and_then(string);
    Ack {
        method,
        success,
        symbol: result_symbol.or_else(|| env.symbol.and_then(string)),
        error: env.error.and_then(string),
        req_id: env.req_id.and_then(integer),
        time_out: env.time_out.and_then(timestamp),
    }
}

fn status(data: Option<&RawValue>) -> Status<'_> {
    // `data` is an array of one object; anything else leaves the fields empty.
    let first = data
        .and_then(|d| serde_json::from_str::<Vec<&RawValue>>(d.get()).ok())
        .and_then(|v| v.into_iter().next())
        .and_then(|o| serde_json::from_str::<StatusData<'_>>(o.get()).ok());
    match first {
        Some(d) => Status {
            system: d.system.and_then(string),
            connection_id: d.connection_id.and_then(integer),
            version: d.version.and_then(string),
        },
        None => Status::default(),
    }
}

/// A JSON string borrowed from the frame (copied only when it contains escapes). serde's own
/// `Cow` support borrows only for a bare `Cow` field, not inside an `Option`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

/// A JSON string token's content; `None` for any other token.
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Text<'_>>(raw.get())
        .ok()
        .map(|t| t.0)
}

/// An RFC 3339 string token (`time_in`, `time_out`); `None` for anything else.
fn timestamp(raw: &RawValue) -> Option<jiff::Timestamp> {
    string(raw).and_then(|t| t.parse().ok())
}

/// A non-negative integer token that fits in `u64`; `None` otherwise.
fn integer(raw: &RawValue) -> Option<u64> {
    raw.get().parse().ok()
}

/// The `data` array of a ticker frame; the first element inline, the rest (rare) in a Vec.
#[derive(Default)]
struct Items<'a> {
    first: Option<Ticker<'a>>,
    rest: Vec<Ticker<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Items<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ItemsVisitor<'a> {
            type Value = Items<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of ticker objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items<'a>, A::Error> {
                let first = seq.next_element()?;
                let mut rest = Vec::new();
                while let Some(item) = seq.next_element()? {
                    rest.push(item);
                }
                Ok(Items { first, rest })
            }
        }
        deserializer.deserialize_seq(ItemsVisitor(std::marker::PhantomData))
    }
}

/// The one subscribe request we send: every pair, one frame (docs/kraken-wire.md §1.9).
#[derive(Serialize)]
pub struct Subscribe<'a> {
    method: &'static str,
    params: SubscribeParams<'a>,
    req_id: u64,
}

#[derive(Serialize)]
struct SubscribeParams<'a> {
    channel: &'static str,
    symbol: &'a [&'static str],
    event_trigger: &'static str,
    snapshot: bool,
}

impl<'a> Subscribe<'a> {
    /// A ticker subscription for `symbols` with a snapshot, so every pair is delivered at once.
    pub fn ticker(symbols: &'a [&'static str], event_trigger: &'static str, req_id: u64) -> Self {
        Subscribe {
            method: "subscribe",
            params: SubscribeParams {
                channel: "ticker",
                symbol: symbols,
                event_trigger,
                snapshot: true,
            },
            req_id,
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Only strings, bools and integers: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The application-level ping Kraken recommends (keeps the idle timer happy).
pub fn ping(req_id: u64) -> String {
    format!(r#"{{"method":"ping","req_id":{req_id}}}"#)
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
