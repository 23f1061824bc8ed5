//! CORS: the seed's headers on every response (any origin, its methods and headers, plus
//! `X-API-Key` so browsers can send a key), configurable origins, and preflight answers.

use salvo::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use salvo::http::{HeaderValue, Method};
use salvo::{Request, Response};

use crate::config::CorsConfig;

/// Response headers a browser script may read.
const EXPOSED: &str = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, \
                       RateLimit-Reset, RateLimit-Policy, X-RateLimit-Limit, \
                       X-RateLimit-Remaining, X-RateLimit-Reset, ETag, X-Cache-Degraded";

/// The CORS headers, prepared once.
#[derive(Debug, Clone)]
pub struct Cors {
    any_origin: bool,
    origins: Vec<HeaderValue>,
    methods: HeaderValue,
    headers: HeaderValue,
}

impl Cors {
    /// From the `cors` section.
    pub fn new(config: &CorsConfig) -> Cors {
        let header = |items: &[String]| static_value(items.join(", "));
        Cors {
            any_origin: config.allowed_origins.iter().any(|o| o == "*"),
            origins: config
                .allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
                .collect(),
            methods: header(&config.allowed_methods),
            headers: header(&config.allowed_headers),
        }
    }

    /// Adds the CORS headers to `res`.
    pub fn apply(&self, req: &Request, res: &mut Response) {
        let headers = res.headers_mut();
        if self.any_origin {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else {
            headers.insert(VARY, HeaderValue::from_static("Origin"));
            if let Some(origin) = req.headers().get(ORIGIN)
                && self.origins.iter().any(|o| o == origin)
            {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            }
        }
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, self.headers.clone());
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
    }

    /// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`): answered 200 with
    /// an empty body, as the seed did, before authentication or rate limiting.
    pub fn is_preflight(req: &Request) -> bool {
        req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// Headers only a preflight answer carries.
    pub fn preflight(res: &mut Response) {
        res.headers_mut()
            .insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
}

/// A header value that lives as long as the process: cloning it for every response is then a
/// copy of a pointer, where a shared one costs two atomic operations on a counter that both
/// worker threads keep taking from each other (docs/benchmarks.md). Built once per app.
fn static_value(text: String) -> HeaderValue {
    // `from_static` takes visible ASCII only; anything else keeps a shared value.
    if text
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        HeaderValue::from_static(Box::leak(text.into_boxed_str()))
    } else {
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_keep_their_text() {
        assert_eq!(static_value("GET, POST".into()), "GET, POST");
        assert_eq!(static_value(String::new()), "");
        // Not visible ASCII: kept as a shared value, or empty when not a header value at all.
        assert_eq!(static_value("Xé".into()).as_bytes(), "Xé".as_bytes());
        assert_eq!(static_value("a\nb".into()), "");
    }
}
