//! The control API over HTTP, for scripts and compose: every [`Control`] method as
//! `POST /control/<name>?<params>` (`GET /control/stats` for the counters). Parameters are
//! query parameters so plain `curl -X POST` works; see `docs/kraken-sim.md`.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use super::response::json_response;
use crate::config::Rate;
use crate::exchange::Control;
use crate::faults::{RestFault, RestLimit, SystemStatus};

type Reply = Response<Full<Bytes>>;

/// Answers one `/control/...` request.
pub(crate) async fn handle(
    method: &Method,
    path: &str,
    query: Option<&str>,
    control: &Control,
) -> Reply {
    let params: HashMap<String, String> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let name = path.trim_start_matches("/control/").trim_end_matches('/');
    if name == "stats" {
        return if method == Method::GET {
            json_response(StatusCode::OK, &control.stats())
        } else {
            not_allowed()
        };
    }
    if method != Method::POST {
        return not_allowed();
    }
    match run(name, &params, control).await {
        Ok(Some(reply)) => reply,
        Ok(None) => json_response(StatusCode::OK, &json!({ "ok": true })),
        Err(Failure::NotFound) => json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no control named {name:?}") }),
        ),
        Err(Failure::Bad(message)) => {
            json_response(StatusCode::BAD_REQUEST, &json!({ "error": message }))
        }
    }
}

enum Failure {
    NotFound,
    Bad(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure::Bad(err.to_string())
    }
}

async fn run(
    name: &str,
    params: &HashMap<String, String>,
    control: &Control,
) -> Result<Option<Reply>, Failure> {
    let get = |key: &str| params.get(key).map(String::as_str);
    let need = |key: &str| get(key).ok_or_else(|| Failure::Bad(format!("missing parameter {key}")));
    let flag = |key: &str| -> Result<bool, Failure> {
        match get(key) {
            None | Some("true" | "1" | "on") => Ok(true),
            Some("false" | "0" | "off") => Ok(false),
            Some(other) => Err(Failure::Bad(format!(
                "{key} must be true or false, not {other:?}"
            ))),
        }
    };
    match name {
        "reset" => control.reset(),
        "drop" => control.drop_connections(),
        "close" => {
            let code = get("code").unwrap_or("1000").parse::<u16>()?;
            control.close_connections(code, get("reason").unwrap_or(""))?;
        }
        "stall" => match get("scope") {
            None | Some("all") => control.stall(),
            Some("open") => control.stall_open_sockets(),
            Some(other) => {
                return Err(Failure::Bad(format!(
                    "scope must be all or open, not {other:?}"
                )));
            }
        },
        "unstall" => control.unstall(),
        "refuse" => control.refuse_upgrades(get("status").unwrap_or("503").parse::<u16>()?)?,
        "accept" => control.accept_upgrades(),
        "system" => control.set_system_status(need("status")?.parse::<SystemStatus>()?),
        "rest-fault" => control.set_rest_fault(rest_fault(&get)?),
        "rest-limit" => {
            let limit = match get("burst") {
                None => None,
                Some(burst) => Some(RestLimit {
                    burst: burst.parse()?,
                    refill: humantime::parse_duration(get("refill").unwrap_or("1s"))?,
                }),
            };
            control.set_rest_limit(limit);
        }
        "reject" => control.reject_pair(need("pair")?, flag("on")?)?,
        "subscribe-error" => control.set_subscribe_error(get("error").filter(|e| !e.is_empty())),
        "price" => control.set_next_price(need("pair")?, need("price")?)?,
        "quiet" => control.set_quiet(need("pair")?, flag("on")?)?,
        "trade" => {
            let report = control.trade_now(need("pair")?, get("price")).await?;
            return Ok(Some(json_response(StatusCode::OK, &report)));
        }
        "rate" => control.set_rate(rate(params)?),
        "clock" => {
            let ms = need("offset_ms")?.parse::<i64>()?;
            control.set_clock_offset(jiff::SignedDuration::from_millis(ms))?;
        }
        "rest-delay" => control.set_rest_delay(humantime::parse_duration(need("delay")?)?),
        _ => return Err(Failure::NotFound),
    }
    Ok(None)
}

/// `kind=none|too-many-requests|unavailable|error&error=TEXT|http&status=NNN`.
fn rest_fault<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<Option<RestFault>, Failure> {
    let need = |key: &str| get(key).ok_or_else(|| Failure::Bad(format!("missing parameter {key}")));
    Ok(match need("kind")? {
        "none" => None,
        "too-many-requests" => Some(RestFault::TooManyRequests),
        "unavailable" => Some(RestFault::Unavailable),
        "error" => Some(RestFault::Error(need("error")?.to_owned())),
        "http" => {
            let status = get("status").unwrap_or("502").parse::<u16>()?;
            if !(400..=599).contains(&status) {
                return Err(Failure::Bad(format!(
                    "status must be 400-599, not {status}"
                )));
            }
            Some(RestFault::Http(status))
        }
        other => {
            return Err(Failure::Bad(format!(
                "kind must be none, too-many-requests, unavailable, error or http, not {other:?}"
            )));
        }
    })
}

/// `per_second=N`, `interval=DURATION` or `manual`.
fn rate(params: &HashMap<String, String>) -> Result<Rate, Failure> {
    if let Some(n) = params.get("per_second") {
        return Ok(Rate::Total(n.parse()?));
    }
    if let Some(interval) = params.get("interval") {
        let interval: Duration = humantime::parse_duration(interval)?;
        if interval.is_zero() {
            return Err(Failure::Bad("interval must be above zero".into()));
        }
        return Ok(Rate::PerPair(interval));
    }
    if params.contains_key("manual") {
        return Ok(Rate::Manual);
    }
    Err(Failure::Bad(
        "give per_second=N, interval=DURATION or manual".into(),
    ))
}

fn not_allowed() -> Reply {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({ "error": "use POST (GET only for /control/stats)" }),
    )
}
