//! [`Control`]: the in-process handle for fault injection, price scripting and counters.
//! Every method is also reachable over HTTP (`/control/...`, answered in `serve::control`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use common::Pair;
use common::pair::PairError;
use jiff::SignedDuration;
use serde::Serialize;

use super::state::{Shared, WriteAck, lock};
use crate::config::Rate;
use crate::decimal::{self, Decimal};
use crate::faults::{Bucket, CloseOrder, RestFault, RestLimit, Stall, SystemStatus};
use crate::stats::{Endpoint, Stats};
use crate::wire::OffsetError;

/// How long [`Control::trade_now`] waits for subscribed sockets to write its update.
const TRADE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a control call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Not a pair of the built-in table.
    #[error(transparent)]
    Pair(#[from] PairError),
    /// In the table but not offered by this simulator.
    #[error("pair not offered by this simulator: {0}")]
    NotOffered(&'static str),
    /// Not a positive plain decimal.
    #[error("invalid price {0:?} (expected a positive plain decimal such as 65000.1)")]
    Price(String),
    /// Not a close code a server may send (1000–4999 except 1004–1006 and 1015), or a reason
    /// longer than 123 bytes.
    #[error(
        "invalid close frame: code {0} (1000-4999 except 1004-1006, 1015; reason <= 123 bytes)"
    )]
    CloseCode(u16),
    /// Upgrades can only be refused with a 4xx or 5xx status.
    #[error("invalid refusal status {0} (expected 400-599)")]
    Status(u16),
    /// A clock offset beyond a day.
    #[error(transparent)]
    ClockOffset(#[from] OffsetError),
}

/// What [`Control::trade_now`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeReport {
    /// The pair (`BTC/USD`).
    pub pair: String,
    /// The last price as the update carries it.
    pub price: String,
    /// The update's `timestamp`.
    pub timestamp: String,
    /// Sockets that wrote and flushed the update before the call returned.
    pub written_to: usize,
}

/// Fault injection and introspection for a running [`Simulator`](crate::Simulator). Cheap to
/// clone; every clone controls the same simulator.
#[derive(Debug, Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    pub(crate) fn new(shared: Arc<Shared>) -> Control {
        Control { shared }
    }

    /// Resolves an offered pair from its canonical symbol (case-insensitive, trimmed).
    pub fn pair(&self, symbol: &str) -> Result<Pair, ControlError> {
        let pair = Pair::parse(symbol)?;
        if self.shared.offered[pair.index()] {
            Ok(pair)
        } else {
            Err(ControlError::NotOffered(pair.as_str()))
        }
    }

    /// Drops every open WebSocket abruptly: the TCP connection is closed without a close
    /// frame (the client sees 1006). New connections are accepted as usual.
    pub fn drop_connections(&self) {
        let below = self.shared.next_socket.load(Relaxed);
        self.shared.faults.send_modify(|f| f.drop_below = below);
    }

    /// Closes every open WebSocket with a close frame carrying `code` and `reason`.
    pub fn close_connections(&self, code: u16, reason: &str) -> Result<(), ControlError> {
        let valid = (1000..=4999).contains(&code)
            && !(1004..=1006).contains(&code)
            && code != 1015
            && reason.len() <= 123;
        if !valid {
            return Err(ControlError::CloseCode(code));
        }
        let below = self.shared.next_socket.load(Relaxed);
        self.shared.faults.send_modify(|f| {
            f.close = Some(CloseOrder {
                below,
                code,
                reason: reason.to_owned(),
            });
        });
        Ok(())
    }

    /// Stalls every socket, open now or opened later: nothing is sent (not even heartbeats
    /// or pongs) and nothing is read, while the TCP connection stays open.
    pub fn stall(&self) {
        self.shared.faults.send_modify(|f| f.stall = Stall::All);
    }

    /// Stalls only the sockets open now; new connections work normally.
    pub fn stall_open_sockets(&self) {
        let below = self.shared.next_socket.load(Relaxed);
        self.shared
            .faults
            .send_modify(|f| f.stall = Stall::Below(below));
    }

    /// Ends a stall. Updates that happened during it are not replayed.
    pub fn unstall(&self) {
        self.shared.faults.send_modify(|f| f.stall = Stall::Off);
    }

    /// Answers WebSocket upgrades with `status` (429 and 503 are what Cloudflare sends).
    pub fn refuse_upgrades(&self, status: u16) -> Result<(), ControlError> {
        if !(400..=599).contains(&status) {
            return Err(ControlError::Status(status));
        }
        self.shared.refuse.store(status, Relaxed);
        Ok(())
    }

    /// Accepts WebSocket upgrades again.
    pub fn accept_upgrades(&self) {
        self.shared.refuse.store(0, Relaxed);
    }

    /// Switches the engine status: open sockets get a `status` message, REST `SystemStatus`
    /// reports it.
    pub fn set_system_status(&self, status: SystemStatus) {
        self.shared.faults.send_modify(|f| f.system = status);
    }

    /// The current engine status.
    pub fn system_status(&self) -> SystemStatus {
        self.shared.faults.borrow().system
    }

    /// Refuses subscriptions to `pair` with `Currency pair not supported <pair>` (`on`), or
    /// accepts them again. Open subscriptions are not affected; REST still serves the pair.
    pub fn reject_pair(&self, pair: &str, on: bool) -> Result<(), ControlError> {
        let pair = self.pair(pair)?;
        self.shared.rejected[pair.index()].store(on, Relaxed);
        Ok(())
    }

    /// Answers every subscribe (per symbol) with this error, e.g. `Exceeded msg rate`;
    /// `None` ends it.
    pub fn set_subscribe_error(&self, error: Option<&str>) {
        *lock(&self.shared.subscribe_error) = error.map(str::to_owned);
    }

    /// Makes every REST request fail this way; `None` ends it.
    pub fn set_rest_fault(&self, fault: Option<RestFault>) {
        *lock(&self.shared.rest_fault) = fault;
    }

    /// Emulates Kraken's public REST throttle; `None` removes it.
    pub fn set_rest_limit(&self, limit: Option<RestLimit>) {
        *lock(&self.shared.rest_limit) = limit.map(Bucket::new);
    }

    /// Makes the next trade of `pair` happen at `price`, written exactly as given
    /// (`"65000.10"` keeps its trailing zero).
    pub fn set_next_price(&self, pair: &str, price: &str) -> Result<(), ControlError> {
        let pair = self.pair(pair)?;
        let price = parse_price(price)?;
        lock(&self.shared.markets[pair.index()]).pending = Some(price);
        Ok(())
    }

    /// Stops (`true`) or resumes automatic trades of `pair`; heartbeats continue.
    pub fn set_quiet(&self, pair: &str, quiet: bool) -> Result<(), ControlError> {
        let pair = self.pair(pair)?;
        self.shared.quiet[pair.index()].store(quiet, Relaxed);
        Ok(())
    }

    /// Trades `pair` now (at `price`, or the pending/next scripted price) and returns once
    /// every socket subscribed to it has written the update (or after 2 s).
    pub async fn trade_now(
        &self,
        pair: &str,
        price: Option<&str>,
    ) -> Result<TradeReport, ControlError> {
        let pair = self.pair(pair)?;
        let price = price.map(parse_price).transpose()?;
        let ack = Arc::new(WriteAck::default());
        let emitted = self.shared.trade(pair, price, Some(ack.clone()));
        let expected = self.shared.subscribers[pair.index()].load(Relaxed);
        let deadline = tokio::time::Instant::now() + TRADE_WRITE_TIMEOUT;
        while ack.processed.load(Relaxed) < expected {
            if tokio::time::timeout_at(deadline, ack.notify.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        Ok(TradeReport {
            pair: pair.as_str().to_owned(),
            price: emitted.last,
            timestamp: emitted.at.micros(),
            written_to: ack.written.load(Relaxed),
        })
    }

    /// Shifts Kraken's clock to `offset` from the host's (positive: ahead), at once: every
    /// stamp written from now on (ticker `timestamp`, `time_in`/`time_out`, REST `Time`).
    pub fn set_clock_offset(&self, offset: SignedDuration) -> Result<(), ControlError> {
        Ok(self.shared.clock.set_offset(offset)?)
    }

    /// How far Kraken's clock is ahead of the host's.
    pub fn clock_offset(&self) -> SignedDuration {
        self.shared.clock.offset()
    }

    /// Holds every REST answer for `delay` after computing it: the answer reflects the market
    /// when the request arrived but reaches the client late. Zero ends it.
    pub fn set_rest_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.rest_delay_ms.store(ms, Relaxed);
    }

    /// Changes the automatic trade rate.
    pub fn set_rate(&self, rate: Rate) {
        self.shared.rate.send_replace(rate);
    }

    /// The current automatic trade rate.
    pub fn rate(&self) -> Rate {
        *self.shared.rate.borrow()
    }

    /// Ends every fault: stall, refusals, REST faults, limit and delay, rejected and quiet
    /// pairs, subscribe error; status back to `online`. Counters, prices and the clock offset
    /// are kept.
    pub fn reset(&self) {
        self.unstall();
        self.set_rest_delay(Duration::ZERO);
        self.accept_upgrades();
        self.set_rest_fault(None);
        self.set_rest_limit(None);
        self.set_subscribe_error(None);
        for flag in self.shared.rejected.iter().chain(&self.shared.quiet) {
            flag.store(false, Relaxed);
        }
        if self.system_status() != SystemStatus::Online {
            self.set_system_status(SystemStatus::Online);
        }
    }

    /// Every counter at once, with the last price of each offered pair.
    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.counters.snapshot();
        stats.last_prices = self
            .shared
            .offered_pairs()
            .map(|p| (p.as_str().to_owned(), self.shared.last_price(p)))
            .collect();
        stats
    }

    /// WebSocket connections accepted since start.
    pub fn connections_opened(&self) -> u64 {
        self.shared.counters.ws_opened.load(Relaxed)
    }

    /// WebSocket connections open now.
    pub fn connections_open(&self) -> u64 {
        self.shared.counters.ws_open.load(Relaxed)
    }

    /// `subscribe` request frames received.
    pub fn subscribe_requests(&self) -> u64 {
        self.shared.counters.subscribe_requests.load(Relaxed)
    }

    /// Ticker messages (snapshots and updates) written, summed over sockets.
    pub fn ticker_messages_sent(&self) -> u64 {
        self.shared.counters.ticker_sent.load(Relaxed)
    }

    /// Ticker messages of `pair` written, summed over sockets (0 for an unknown pair).
    pub fn ticker_messages_sent_for(&self, pair: &str) -> u64 {
        Pair::parse(pair)
            .ok()
            .and_then(|p| self.shared.counters.ticker_by_pair.get(p.index()))
            .map_or(0, |c| c.load(Relaxed))
    }

    /// Heartbeats written, summed over sockets.
    pub fn heartbeats_sent(&self) -> u64 {
        self.shared.counters.heartbeats.load(Relaxed)
    }

    /// REST requests received.
    pub fn rest_requests(&self) -> u64 {
        self.shared.counters.rest_total()
    }

    /// REST requests received by one endpoint.
    pub fn rest_requests_for(&self, endpoint: Endpoint) -> u64 {
        self.shared.counters.rest_for(endpoint)
    }

    /// Arrival times of REST requests (all endpoints when `None`), oldest first.
    pub fn rest_request_times(&self, endpoint: Option<Endpoint>) -> Vec<Instant> {
        self.shared.counters.arrivals(endpoint)
    }

    /// The last price of `pair` as the WS ticker writes it (`None` if not offered). REST
    /// reports the same value padded to at least 5 decimals.
    pub fn last_price(&self, pair: &str) -> Option<String> {
        let pair = self.pair(pair).ok()?;
        Some(self.shared.last_price(pair))
    }
}

fn parse_price(text: &str) -> Result<Decimal, ControlError> {
    decimal::parse(text.trim())
        .ok()
        .filter(|d| *d > Decimal::ZERO)
        .ok_or_else(|| ControlError::Price(text.to_owned()))
}
