//! `/health` (liveness), `/ready` (readiness, with a reason per dependency) and `/metrics`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use salvo::Response;
use salvo::http::header::CONTENT_TYPE;
use salvo::http::{HeaderValue, ResBody};
use salvo::oapi::endpoint;

use crate::http::bodies::{self, HealthBody};
use crate::http::state::AppState;
use crate::http::status::Answer;

/// Liveness: needs no state.
#[derive(Debug, Clone)]
pub struct Health;

/// Liveness: the process answers.
///
/// Always 200 while the process runs; it checks no dependency (see `/ready`).
#[endpoint(
    tags("operations"),
    operation_id = "health",
    responses((status_code = 200, description = "Alive", body = HealthBody))
)]
impl Health {
    async fn handle(&self, res: &mut Response) {
        let mut services = BTreeMap::new();
        services.insert("service".to_owned(), "running".to_owned());
        write_body(res, Answer::Done, "healthy", services);
    }
}

/// Readiness, from the flags the background tasks keep and the cache's own state.
#[derive(Debug, Clone)]
pub struct Ready(pub AppState);

/// Readiness: can this replica serve prices?
///
/// 200 when NATS is connected, the cache has answered and the warm-up (last values from
/// JetStream or an ingestor snapshot) is done; otherwise 503 with the reason per dependency.
/// Also 503 while shutting down, so load balancers stop sending requests before the listener
/// closes. When Redis stops answering later, the replica still serves the prices it receives
/// from NATS itself: 200 with `status` `degraded` and `services.cache` saying why.
#[endpoint(
    tags("operations"),
    operation_id = "ready",
    responses(
        (status_code = 200, description = "Ready (`status` `ready`, or `degraded` while Redis is unreachable)", body = HealthBody),
        (status_code = 503, description = "Not ready: `services` says why", body = HealthBody),
    )
)]
impl Ready {
    async fn handle(&self, res: &mut Response) {
        let state = &self.0;
        let checks = state.readiness.checks(state.cache.state());
        let ready = checks.iter().all(|c| c.problem.is_none());
        state.metrics.set_ready(ready);
        let degraded = checks.iter().any(|c| c.degraded.is_some());
        let services = checks
            .iter()
            .map(|c| (c.name.to_owned(), c.detail()))
            .collect();
        let word = match (ready, degraded) {
            (false, _) => "unhealthy",
            (true, true) => "degraded",
            (true, false) => "ready",
        };
        write_body(res, Answer::Ready(ready), word, services);
    }
}

/// The body of `/health` and `/ready`; `word` is its `status`.
fn write_body(res: &mut Response, answer: Answer, word: &str, services: BTreeMap<String, String>) {
    let body = HealthBody {
        status: word.to_owned(),
        timestamp: Timestamp::now().to_string(),
        services,
    };
    bodies::write(res, answer.status(), bodies::to_json(&body));
}

/// Prometheus metrics, with the scrape-time gauges (price ages, fresh keys) updated first.
#[derive(Debug, Clone)]
pub struct GetMetrics(pub AppState);

/// Prometheus metrics (text exposition format).
#[endpoint(
    tags("operations"),
    operation_id = "metrics",
    responses((status_code = 200, description = "Metrics", content_type = "text/plain; version=0.0.4", body = String))
)]
impl GetMetrics {
    async fn handle(&self, res: &mut Response) {
        let state = &self.0;
        let now_ms = Timestamp::now().as_millisecond();
        let ages: Vec<_> = state
            .served
            .pairs
            .iter()
            .map(|&p| (p, state.cache.latest(p).map(|e| e.age_ms(now_ms))))
            .collect();
        state
            .metrics
            .observe_cache(state.cache.backend(), &ages, state.ttl_ms);
        state.metrics.set_nats_connected(state.readiness.nats());
        res.status_code(Answer::Done.status());
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        res.replace_body(ResBody::Once(state.metrics.render().into()));
    }
}
