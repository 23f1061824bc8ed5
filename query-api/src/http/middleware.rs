//! Middleware, as two hoops so a request pays for as few dynamic calls as possible:
//!
//! * [`Edge`] (always): request id, size limits, CORS and preflight, then — after the
//!   handler — metrics and the access log.
//! * [`Guard`] (only when rate limiting or authentication is on): rate limit on `/api/v1/*`,
//!   then the API key. Rate limiting comes first so key guessing is throttled too; buckets are
//!   per client, so an unauthenticated client only spends its own tokens.

mod access_log;
mod auth;
mod client_ip;
mod cors;
mod limits;
mod rate_limit;

use std::time::Instant;

use salvo::http::{HeaderValue, StatusCode};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

use self::auth::ApiKeys;
pub use self::client_ip::TrustedProxies;
use self::cors::Cors;
pub use self::limits::read_buffer;
use self::rate_limit::{Decision, RateLimiter};
use super::request_id;
use super::state::AppState;
use super::status::{Answer, ApiError};
use crate::route::Route;

/// Response headers room is made for up front.
const RESPONSE_HEADERS: usize = 16;

/// Request id, limits, CORS, metrics and access log.
pub struct Edge {
    state: AppState,
    cors: Cors,
    proxies: TrustedProxies,
}

impl Edge {
    /// Prepares the hoop from the configuration.
    pub fn new(state: AppState) -> Edge {
        Edge {
            cors: Cors::new(&state.config.cors),
            proxies: TrustedProxies::new(state.access.trusted_proxies.clone()),
            state,
        }
    }
}

#[async_trait]
impl Handler for Edge {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let started = Instant::now();
        // A price answer carries 8 headers (request id, 4 CORS, content type, ETag,
        // Cache-Control), 15 with rate-limit headers: one allocation for all of them instead
        // of the default table's growth at the seventh (a rehash per request, seen by
        // callgrind: docs/benchmarks.md, "Instructions per request").
        res.headers_mut().reserve(RESPONSE_HEADERS);
        request_id::assign(req, res);
        self.cors.apply(req, res);
        if Cors::is_preflight(req) {
            Cors::preflight(res);
            res.status_code(Answer::Done.status());
            ctrl.skip_rest();
        } else if let Err(err) = limits::check(req, &self.state.config.limits) {
            err.write_to(res);
            ctrl.skip_rest();
        } else {
            ctrl.call_next(req, depot, res).await;
        }
        let status = res.status_code.unwrap_or(StatusCode::OK).as_u16();
        let route = Route::of(req.uri().path());
        let elapsed = started.elapsed();
        let method = req.method().as_str();
        self.state
            .metrics
            .http_request(route, method, status, elapsed.as_secs_f64());
        let level = self.state.config.access_log.level;
        if access_log::enabled(level) {
            access_log::write(
                level,
                &access_log::Line {
                    method,
                    route,
                    status,
                    duration: elapsed,
                    request_id: request_id::of(res),
                    client_ip: self.proxies.client_ip(req),
                },
            );
        }
    }
}

/// Rate limit and API key.
pub struct Guard {
    state: AppState,
    limiter: Option<RateLimiter>,
    keys: Option<ApiKeys>,
    proxies: TrustedProxies,
}

impl Guard {
    /// `None` when neither rate limiting nor authentication is on: then no hoop runs at all.
    pub fn new(state: AppState) -> Option<Guard> {
        let config = &state.config;
        let limiter = config
            .rate_limit
            .enabled
            .then(|| RateLimiter::new(&config.rate_limit));
        let access = &state.access;
        let keys = access
            .api_keys
            .as_ref()
            .map(|keys| ApiKeys::new(&config.auth, access.key_header.clone(), keys));
        if limiter.is_none() && keys.is_none() {
            return None;
        }
        Some(Guard {
            proxies: TrustedProxies::new(access.trusted_proxies.clone()),
            limiter,
            keys,
            state,
        })
    }

    /// Applies the rate limit; `Err` when the request is refused.
    fn limit(
        &self,
        limiter: &RateLimiter,
        req: &Request,
        res: &mut Response,
    ) -> Result<(), ApiError> {
        let decision = limiter.check(self.proxies.client_ip(req), Instant::now());
        self.state.metrics.rate_limit(
            matches!(decision, Decision::Allowed { .. }),
            limiter.clients(),
        );
        let (remaining, reset) = match decision {
            Decision::Allowed { remaining, reset } => (remaining, reset),
            Decision::Blocked { retry_after } => (0, retry_after),
        };
        let headers = res.headers_mut();
        let limit = HeaderValue::from(limiter.capacity());
        let remaining = HeaderValue::from(remaining);
        let reset = HeaderValue::from(reset);
        headers.insert("x-ratelimit-limit", limit.clone());
        headers.insert("x-ratelimit-remaining", remaining.clone());
        headers.insert("x-ratelimit-reset", reset.clone());
        headers.insert("ratelimit-limit", limit);
        headers.insert("ratelimit-remaining", remaining);
        headers.insert("ratelimit-reset", reset);
        if let Ok(policy) =
            HeaderValue::from_str(&format!("{};w={}", limiter.capacity(), limiter.window()))
        {
            headers.insert("ratelimit-policy", policy);
        }
        match decision {
            Decision::Allowed { .. } => Ok(()),
            Decision::Blocked { retry_after } => {
                tracing::debug!(
                    request_id = request_id::of(res),
                    client_ip = %self.proxies.client_ip(req),
                    "rate limited"
                );
                Err(ApiError::RateLimited { retry_after })
            }
        }
    }
}

#[async_trait]
impl Handler for Guard {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let path = req.uri().path();
        let mut verdict = Ok(());
        if let Some(limiter) = &self.limiter
            && Route::is_api(path)
        {
            verdict = self.limit(limiter, req, res);
        }
        if verdict.is_ok()
            && let Some(keys) = &self.keys
            && !keys.is_exempt(path)
            && !Route::is_board(path)
        {
            verdict = keys.check(req);
            if let Some(code) = verdict.as_ref().err().and_then(ApiError::auth_code) {
                self.state.metrics.auth_failure(code);
                tracing::warn!(
                    request_id = request_id::of(res),
                    client_ip = %self.proxies.client_ip(req),
                    code,
                    "api key refused"
                );
            }
        }
        match verdict {
            Ok(()) => {
                ctrl.call_next(req, depot, res).await;
            }
            Err(err) => {
                err.write_to(res);
                ctrl.skip_rest();
            }
        }
    }
}
