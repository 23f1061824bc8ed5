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
                       X-RateLimit-Remaining, X-RateLimit-Reset";

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
        let header = |items: &[String]| {
            HeaderValue::from_str(&items.join(", ")).unwrap_or(HeaderValue::from_static(""))
        };
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
