//! Every HTTP status this API answers with is decided in this file: [`ApiError`] for failures
//! (status, code, message, headers and body), [`Answer`] for answers whose status depends on how
//! much of the request succeeded.
//!
//! Client errors say what was wrong with the request; server-side failures get a fixed,
//! documented message and code, while the full error chain goes to the log with the request id.
//! Internal error text never reaches a client.

use salvo::http::StatusCode;
use salvo::http::header::{ALLOW, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use salvo::{Response, async_trait};

use super::bodies::{self, AuthErrorBody, ErrorBody, RateLimitBody, RateLimitDetails};
use super::request_id;
use crate::bus::RefreshError;
use crate::params::ParamError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A bad `pair`/`pairs` parameter.
    #[error(transparent)]
    InvalidParameter(#[from] ParamError),
    /// No such route.
    #[error("not found")]
    NotFound,
    /// The route exists with the listed methods only.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// Path and query longer than `limits.max_url_bytes`.
    #[error("request URL longer than {0} bytes")]
    UriTooLong(u32),
    /// Headers larger than `limits.max_header_bytes`.
    #[error("request headers larger than {0} bytes")]
    HeadersTooLarge(u32),
    /// Authentication is on and the request carries no key.
    #[error("API key missing")]
    ApiKeyMissing,
    /// A key that is not one of the configured ones.
    #[error("Invalid API key")]
    ApiKeyInvalid,
    /// The client's token bucket is empty.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next request would be allowed (`Retry-After`).
        retry_after: u32,
    },
    /// The refresh request failed before any reply.
    #[error("refresh failed")]
    Refresh(#[source] RefreshError),
    /// The cache could not be read or written.
    #[error("cache unavailable")]
    CacheUnavailable(#[source] Option<crate::cache::Error>),
    /// Handling took longer than `limits.request_timeout`.
    #[error("request timed out")]
    Timeout,
}

impl ApiError {
    /// Status, `error` code and client-facing message.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use ApiError::*;
        let fixed = |status, code, message: &str| (status, code, message.to_owned());
        match self {
            InvalidParameter(e) => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER", e.to_string()),
            NotFound => fixed(StatusCode::NOT_FOUND, "NOT_FOUND", "no such resource"),
            MethodNotAllowed(allow) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("method not allowed; allowed: {allow}"),
            ),
            UriTooLong(_) => (StatusCode::URI_TOO_LONG, "URI_TOO_LONG", self.to_string()),
            HeadersTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "HEADERS_TOO_LARGE",
                self.to_string(),
            ),
            // The seed's 401: the `error` is a phrase, the code is in `code` (`auth_code`).
            ApiKeyMissing | ApiKeyInvalid => (
                StatusCode::UNAUTHORIZED,
                "Authentication Failed",
                self.to_string(),
            ),
            RateLimited { .. } => fixed(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "Rate limit exceeded. Please slow down your requests.",
            ),
            Refresh(err) => refresh_parts(err),
            CacheUnavailable(_) => fixed(
                StatusCode::SERVICE_UNAVAILABLE,
                "CACHE_ERROR",
                "the price cache is unavailable",
            ),
            Timeout => fixed(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                "the request took too long",
            ),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// `API_KEY_MISSING` or `API_KEY_INVALID` for a refused key (the 401 body's `code` and
    /// the auth failure metric's label); `None` for any other error.
    pub fn auth_code(&self) -> Option<&'static str> {
        match self {
            ApiError::ApiKeyMissing => Some("API_KEY_MISSING"),
            ApiError::ApiKeyInvalid => Some("API_KEY_INVALID"),
            _ => None,
        }
    }

    /// Writes status, headers and body to `res`; server-side failures are logged with the
    /// request id already on the response.
    pub fn write_to(&self, res: &mut Response) {
        let (status, error, message) = self.parts();
        if status.is_server_error() {
            let request_id = request_id::of(res);
            tracing::warn!(request_id, status = status.as_u16(), error = ?self, "request failed");
        }
        let headers = res.headers_mut();
        let body = match self {
            ApiError::RateLimited { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
                bodies::to_json(&RateLimitBody {
                    code: status.as_u16(),
                    details: RateLimitDetails {
                        limit_info: "Please reduce your request rate and try again".into(),
                        retry_after_seconds: *retry_after,
                    },
                    error: error.into(),
                    message,
                })
            }
            _ => match self.auth_code() {
                Some(code) => {
                    headers.insert(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"api\""),
                    );
                    bodies::to_json(&AuthErrorBody {
                        error: error.into(),
                        message,
                        code: code.into(),
                    })
                }
                None => bodies::to_json(&ErrorBody {
                    error: error.into(),
                    message,
                }),
            },
        };
        if let ApiError::MethodNotAllowed(allow) = self {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        bodies::write(res, status, body);
    }
}

/// A refresh that got no usable reply: whose fault it was decides the status.
fn refresh_parts(err: &RefreshError) -> (StatusCode, &'static str, String) {
    let (status, code, message) = match err {
        RefreshError::NoResponders => (
            StatusCode::SERVICE_UNAVAILABLE,
            "NO_INGESTOR",
            "no ingestor is running to refresh prices",
        ),
        RefreshError::TimedOut => (
            StatusCode::GATEWAY_TIMEOUT,
            "INGESTOR_TIMEOUT",
            "the ingestor did not answer in time",
        ),
        RefreshError::Nats(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "NATS_UNAVAILABLE",
            "the message bus is unavailable",
        ),
        RefreshError::Encode(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "the refresh request could not be prepared",
        ),
        RefreshError::BadReply(_) => (
            StatusCode::BAD_GATEWAY,
            "BAD_INGESTOR_REPLY",
            "the ingestor sent an invalid reply",
        ),
    };
    (status, code, message.to_owned())
}

#[async_trait]
impl salvo::Writer for ApiError {
    async fn write(self, _req: &mut salvo::Request, _depot: &mut salvo::Depot, res: &mut Response) {
        self.write_to(res);
    }
}

/// An answer that is not an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `/health`, `/metrics`, the OpenAPI document, `/api/v1/ltp/cached` and CORS preflights.
    Done,
    /// `GET /api/v1/ltp`: `fresh` of the `asked` pairs have a price to serve.
    Prices {
        /// Pairs answered with a fresh price.
        fresh: usize,
        /// Distinct pairs asked for.
        asked: usize,
    },
    /// `POST /api/v1/ltp/refresh` with a reply: `failed` pairs could not be refreshed.
    Refreshed {
        /// Pairs the ingestor could not refresh.
        failed: usize,
    },
    /// `/ready`.
    Ready(bool),
    /// A conditional read whose `If-None-Match` matches the current answer.
    Unchanged,
}

impl Answer {
    /// 200 when everything asked for is there. Otherwise: prices 206 when some are, 503 when
    /// none is (the seed's rules); a refresh with failures 502 (never 200 for a failure); not
    /// ready 503; an unchanged answer 304.
    pub fn status(self) -> StatusCode {
        match self {
            Answer::Done | Answer::Ready(true) | Answer::Refreshed { failed: 0 } => StatusCode::OK,
            Answer::Prices { fresh, asked } if fresh == asked => StatusCode::OK,
            Answer::Prices { fresh: 0, .. } | Answer::Ready(false) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Answer::Prices { .. } => StatusCode::PARTIAL_CONTENT,
            Answer::Refreshed { .. } => StatusCode::BAD_GATEWAY,
            Answer::Unchanged => StatusCode::NOT_MODIFIED,
        }
    }
}

#[cfg(test)]
mod tests {
    use salvo::http::ResBody;

    use super::*;

    fn body(err: ApiError) -> (u16, String) {
        let mut res = Response::new();
        err.write_to(&mut res);
        let bytes = match res.take_body() {
            ResBody::Once(b) => b,
            other => panic!("unexpected body {other:?}"),
        };
        (
            res.status_code.map(|s| s.as_u16()).unwrap_or(0),
            String::from_utf8(bytes.to_vec()).expect("utf8"),
        )
    }

    #[test]
    fn server_errors_never_show_internal_text() {
        let (status, text) = body(ApiError::Refresh(RefreshError::BadReply(
            serde_json::from_str::<u8>("secret internal detail").expect_err("bad"),
        )));
        assert_eq!(status, 502);
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn an_unencodable_request_is_our_fault_not_the_ingestors() {
        let (status, text) = body(ApiError::Refresh(RefreshError::Encode(
            serde_json::from_str::<u8>("x").expect_err("bad"),
        )));
        assert_eq!(status, 500);
        assert!(
            text.contains("INTERNAL_ERROR") && !text.contains("reply"),
            "{text}"
        );
    }

    #[test]
    fn seed_bodies() {
        assert_eq!(
            body(ApiError::ApiKeyMissing).1,
            "{\"error\":\"Authentication Failed\",\"message\":\"API key missing\",\"code\":\"API_KEY_MISSING\"}\n"
        );
        assert_eq!(
            body(ApiError::RateLimited { retry_after: 1 }).1,
            "{\"code\":429,\"details\":{\"limit_info\":\"Please reduce your request rate and try again\",\"retry_after_seconds\":1},\"error\":\"RATE_LIMIT_EXCEEDED\",\"message\":\"Rate limit exceeded. Please slow down your requests.\"}\n"
        );
        assert_eq!(
            body(ApiError::InvalidParameter(ParamError::Empty)),
            (
                400,
                "{\"error\":\"INVALID_PARAMETER\",\"message\":\"no valid pairs provided\"}\n"
                    .into()
            )
        );
    }

    #[test]
    fn partial_answers() {
        let prices = |fresh, asked| Answer::Prices { fresh, asked }.status().as_u16();
        assert_eq!((prices(3, 3), prices(1, 3), prices(0, 3)), (200, 206, 503));
        assert_eq!(Answer::Unchanged.status(), StatusCode::NOT_MODIFIED);
        let refreshed = |failed| Answer::Refreshed { failed }.status().as_u16();
        assert_eq!((refreshed(0), refreshed(2)), (200, 502));
        assert_eq!(
            (Answer::Ready(true).status(), Answer::Ready(false).status()),
            (StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE)
        );
    }
}
