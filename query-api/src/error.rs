//! The one place where errors become HTTP responses.
//!
//! Client errors say what was wrong with the request; server-side failures get a fixed,
//! documented message and code, while the full error chain goes to the log with the request id.
//! Internal error text never reaches a client.

use salvo::http::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use salvo::http::{ResBody, StatusCode};
use salvo::{Response, async_trait};

use crate::json;
use crate::params::ParamError;
use crate::refresh::RefreshError;

/// `Content-Type` of every JSON body (as the seed: no charset parameter).
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A bad `pair`/`pairs` parameter.
    #[error(transparent)]
    InvalidParameter(#[from] ParamError),
    /// No such route.
    #[error("not found")]
    NotFound,
    /// The route exists with other methods (listed).
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// Path and query longer than `limits.max_url_bytes`.
    #[error("request URL longer than {0} bytes")]
    UriTooLong(u32),
    /// Headers larger than `limits.max_header_bytes`.
    #[error("request headers larger than {0} bytes")]
    HeadersTooLarge(u32),
    /// No API key sent.
    #[error("API key missing")]
    ApiKeyMissing,
    /// A key that is not one of the configured ones.
    #[error("Invalid API key")]
    ApiKeyInvalid,
    /// The client's token bucket is empty.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next request would be allowed.
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
        match self {
            InvalidParameter(e) => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER", e.to_string()),
            NotFound => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such resource".into(),
            ),
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
            ApiKeyMissing | ApiKeyInvalid => (
                StatusCode::UNAUTHORIZED,
                "Authentication Failed",
                self.to_string(),
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "Rate limit exceeded. Please slow down your requests.".into(),
            ),
            Refresh(RefreshError::NoResponders) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "NO_INGESTOR",
                "no ingestor is running to refresh prices".into(),
            ),
            Refresh(RefreshError::TimedOut) => (
                StatusCode::GATEWAY_TIMEOUT,
                "INGESTOR_TIMEOUT",
                "the ingestor did not answer in time".into(),
            ),
            Refresh(RefreshError::Nats(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "NATS_UNAVAILABLE",
                "the message bus is unavailable".into(),
            ),
            Refresh(RefreshError::BadReply(_)) => (
                StatusCode::BAD_GATEWAY,
                "BAD_INGESTOR_REPLY",
                "the ingestor sent an invalid reply".into(),
            ),
            CacheUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "CACHE_ERROR",
                "the price cache is unavailable".into(),
            ),
            Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                "the request took too long".into(),
            ),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// Writes status, headers and body to `res`; server-side failures are logged with the
    /// request id already on the response.
    pub fn write_to(&self, res: &mut Response) {
        let (status, error, message) = self.parts();
        if status.is_server_error() {
            let request_id = res
                .headers()
                .get(crate::middleware::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::warn!(request_id, status = status.as_u16(), error = ?self, "request failed");
        }
        let mut body = Vec::with_capacity(160);
        match self {
            ApiError::ApiKeyMissing | ApiError::ApiKeyInvalid => {
                let code = if matches!(self, ApiError::ApiKeyMissing) {
                    "API_KEY_MISSING"
                } else {
                    "API_KEY_INVALID"
                };
                body.extend_from_slice(b"{\"error\":\"Authentication Failed\",\"message\":");
                json::push_str(&mut body, &message);
                body.extend_from_slice(b",\"code\":\"");
                body.extend_from_slice(code.as_bytes());
                body.extend_from_slice(b"\"}\n");
                res.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"api\""),
                );
            }
            ApiError::RateLimited { retry_after } => {
                // The seed's body, key for key (its `code` is the integer 429).
                body.extend_from_slice(
                    b"{\"code\":429,\"details\":{\"limit_info\":\"Please reduce your request rate and try again\",\"retry_after_seconds\":",
                );
                json::push_u64(&mut body, u64::from(*retry_after));
                body.extend_from_slice(b"},\"error\":\"RATE_LIMIT_EXCEEDED\",\"message\":");
                json::push_str(&mut body, &message);
                body.extend_from_slice(b"}\n");
                res.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {
                body.extend_from_slice(b"{\"error\":\"");
                body.extend_from_slice(error.as_bytes());
                body.extend_from_slice(b"\",\"message\":");
                json::push_str(&mut body, &message);
                body.extend_from_slice(b"}\n");
            }
        }
        if let ApiError::MethodNotAllowed(allow) = self {
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        write_json(res, status, body);
    }
}

/// Sets a JSON body with its status.
pub fn write_json(res: &mut Response, status: StatusCode, body: impl Into<bytes::Bytes>) {
    res.status_code(status);
    res.headers_mut().insert(CONTENT_TYPE, JSON);
    res.replace_body(ResBody::Once(body.into()));
}

#[async_trait]
impl salvo::Writer for ApiError {
    async fn write(self, _req: &mut salvo::Request, _depot: &mut salvo::Depot, res: &mut Response) {
        self.write_to(res);
    }
}

#[cfg(test)]
mod tests {
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
}
