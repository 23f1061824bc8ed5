//! The open-loop engine of `load` and `refresh`: requests released on a fixed schedule,
//! whatever the server does, each timed from its *intended* send time.
//!
//! Why not wrk: Debian bookworm has no wrk2, and wrk (closed loop) sends the next request only
//! when the previous one returned, so a server stall hides the requests it delayed
//! ("coordinated omission"). Here a pacer thread releases request *i* at `start + i / rate`
//! whatever happens; any free connection takes the next due request, and its latency runs from
//! that due time to the last byte of the response. A server that falls behind therefore shows
//! its queueing in the percentiles, as wrk2 would report it.
//!
//! The pacer is an OS thread sleeping with `nanosleep` (tens of microseconds of slack) rather
//! than a tokio timer (millisecond wheel), so the schedule itself adds little.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use tokio::sync::Mutex;
use tokio::sync::mpsc::unbounded_channel;

use crate::client::{Conn, Target};

/// What to send, how fast and for how long.
pub struct Plan {
    /// Where.
    pub target: Target,
    /// `GET` for reads, `POST` for refreshes (always without a body).
    pub method: Method,
    /// Requests per second.
    pub rate: f64,
    /// Keep-alive connections, all opened before the first request.
    pub connections: usize,
    /// Seconds sent at the same rate before measuring.
    pub warmup: f64,
    /// Measured seconds.
    pub duration: f64,
}

/// One measured request. Instants are this process's monotonic clock; `*_wall_us` are
/// `CLOCK_REALTIME` microseconds, comparable with other processes on this machine.
pub struct Sample {
    /// When the schedule wanted it sent.
    pub due: Instant,
    /// When a connection actually sent it.
    pub sent: Instant,
    /// When the last byte of the answer arrived.
    pub done: Instant,
    /// `due` on the wall clock.
    pub due_wall_us: u64,
    /// `done` on the wall clock, read when the answer arrived.
    pub done_wall_us: u64,
    /// HTTP status; `None` when the connection failed.
    pub status: Option<u16>,
}

/// The measured requests of one run (warm-up excluded) and its schedule.
pub struct Run {
    /// Requests due in the measured window, in no particular order.
    pub samples: Vec<Sample>,
    /// Start of the measured window on the wall clock.
    pub measure_from_wall_us: u64,
    /// End of the measured window on the wall clock.
    pub end_wall_us: u64,
    /// Time from the end of the window until the last answer arrived.
    pub drain: Duration,
}

/// Wall-clock microseconds now.
pub fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Sends `plan` and returns every measured request.
pub async fn run(plan: &Plan) -> anyhow::Result<Run> {
    anyhow::ensure!(
        plan.rate > 0.0 && plan.connections > 0,
        "rate and connections > 0"
    );
    let mut conns = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        conns.push(Conn::connect(&plan.target.authority).await?);
    }
    let start = Instant::now() + Duration::from_millis(100);
    let start_wall_us = wall_us() + 100_000;
    let to_wall = move |t: Instant| start_wall_us + (t - start).as_micros() as u64;
    let measure_from = start + Duration::from_secs_f64(plan.warmup);
    let end = measure_from + Duration::from_secs_f64(plan.duration);
    let total = ((plan.warmup + plan.duration) * plan.rate) as u64;
    let (tx, rx) = unbounded_channel::<Instant>();
    let rate = plan.rate;
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if tx.send(due).is_err() {
                return;
            }
        }
    });
    let queue = Arc::new(Mutex::new(rx));
    let mut workers = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let queue = queue.clone();
        let target = plan.target.clone();
        let method = plan.method.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let due = { queue.lock().await.recv().await };
                let Some(due) = due else { break };
                let sent = Instant::now();
                let result = conn.send(method.clone(), &target.path).await;
                let done = Instant::now();
                let done_wall_us = wall_us();
                let status = result.as_ref().ok().map(|(status, _)| *status);
                if due >= measure_from && due < end {
                    samples.push(Sample {
                        due,
                        sent,
                        done,
                        due_wall_us: to_wall(due),
                        done_wall_us,
                        status,
                    });
                }
                if result.is_err() {
                    // A broken connection is replaced; the failure is counted once.
                    match Conn::connect(&target.authority).await {
                        Ok(fresh) => conn = fresh,
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await?);
    }
    let _ = pacer.join();
    Ok(Run {
        samples,
        measure_from_wall_us: to_wall(measure_from),
        end_wall_us: to_wall(end),
        drain: Instant::now().saturating_duration_since(end),
    })
}
