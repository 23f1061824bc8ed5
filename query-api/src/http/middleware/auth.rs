//! API-key authentication (off by default).
//!
//! The key comes from `auth.header_name` (default `X-API-Key`) or, to match the seed's
//! `WWW-Authenticate: Bearer` challenge, from `Authorization: Bearer <key>`. Keys are compared
//! as SHA-256 digests, every configured key every time, with no early exit: the time taken says
//! nothing about how much of a key was right, nor its length. Keys are never logged.

use common::secret::Secret;
use salvo::Request;
use salvo::http::HeaderName;
use salvo::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use crate::config::AuthConfig;
use crate::http::status::ApiError;
use crate::params::query_param;
use crate::route::Route;

/// The accepted keys and the paths that need none.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
    header: HeaderName,
    exempt: Vec<String>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

impl ApiKeys {
    /// The validated `keys` (at least one), read from `header` (`auth.header_name`) or
    /// `Authorization: Bearer`, with the `auth` section's exempt paths.
    pub fn new(config: &AuthConfig, header: HeaderName, keys: &[Secret]) -> ApiKeys {
        ApiKeys {
            digests: keys.iter().map(|k| digest(k.expose().as_bytes())).collect(),
            header,
            exempt: config.unauth_paths.clone(),
        }
    }

    /// Whether `path` needs no key: an exempt path itself, anything below it, or anything
    /// starting with an exempt entry that ends in `/`.
    pub fn is_exempt(&self, path: &str) -> bool {
        self.exempt.iter().any(|e| {
            path == e
                || (e.ends_with('/') && path.starts_with(e.as_str()))
                || path
                    .strip_prefix(e.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Accepts the request or says which 401 it gets. On the stream endpoints the key may
    /// also be the `api_key` query parameter (browsers' `EventSource` cannot set headers).
    pub fn check(&self, req: &Request) -> Result<(), ApiError> {
        let in_query = Route::is_stream(req.uri().path())
            .then(|| query_param(req.uri().query(), "api_key").ok().flatten())
            .flatten();
        let presented = req
            .headers()
            .get(&self.header)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty())
            .or_else(|| {
                req.headers()
                    .get(AUTHORIZATION)
                    .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
                    .filter(|v| !v.is_empty())
            })
            .or_else(|| {
                in_query
                    .as_deref()
                    .map(str::as_bytes)
                    .filter(|v| !v.is_empty())
            })
            .ok_or(ApiError::ApiKeyMissing)?;
        let presented = digest(presented);
        let mut matched = 0u8;
        for known in &self.digests {
            matched |= same(known, &presented);
        }
        if std::hint::black_box(matched) == 1 {
            Ok(())
        } else {
            Err(ApiError::ApiKeyInvalid)
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// 1 when equal, else 0, looking at every byte.
fn same(a: &[u8; 32], b: &[u8; 32]) -> u8 {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    u8::from(std::hint::black_box(diff) == 0)
}

#[cfg(test)]
mod tests {
    use salvo::test::TestClient;

    use super::*;
    use crate::config::Config;

    fn keys() -> ApiKeys {
        let mut config = Config::default();
        config.auth.enabled = true;
        config.auth.api_key = Secret::new("alpha, beta");
        let (config, derived) = config.validated().expect("valid").into_parts();
        let access = derived.access;
        ApiKeys::new(
            &config.auth,
            access.key_header,
            &access.api_keys.expect("enabled"),
        )
    }

    fn with(header: &'static str, value: &str) -> Request {
        TestClient::get("http://localhost/api/v1/ltp")
            .add_header(header, value, true)
            .build()
    }

    #[test]
    fn disabled_means_no_check_at_all() {
        let (_, derived) = Config::default().validated().expect("valid").into_parts();
        assert!(derived.access.api_keys.is_none());
    }

    #[test]
    fn any_configured_key_is_accepted() {
        let k = keys();
        assert!(k.check(&with("X-API-Key", "alpha")).is_ok());
        assert!(k.check(&with("x-api-key", "beta")).is_ok());
        assert!(k.check(&with("Authorization", "Bearer beta")).is_ok());
        assert!(matches!(
            k.check(&with("X-API-Key", "alph")),
            Err(ApiError::ApiKeyInvalid)
        ));
        assert!(matches!(
            k.check(&with("X-API-Key", "alpha, beta")),
            Err(ApiError::ApiKeyInvalid)
        ));
        assert!(matches!(
            k.check(&with("X-Other", "alpha")),
            Err(ApiError::ApiKeyMissing)
        ));
        assert!(matches!(
            k.check(&with("X-API-Key", "")),
            Err(ApiError::ApiKeyMissing)
        ));
    }

    #[test]
    fn the_query_key_counts_on_stream_endpoints_only() {
        let k = keys();
        let get = |url: &str| TestClient::get(url).build();
        assert!(
            k.check(&get("http://h/api/v1/ltp/stream?api_key=alpha"))
                .is_ok()
        );
        assert!(
            k.check(&get("http://h/api/v1/ltp/ws?pair=X&api_key=beta"))
                .is_ok()
        );
        assert!(matches!(
            k.check(&get("http://h/api/v1/ltp/stream?api_key=gamma")),
            Err(ApiError::ApiKeyInvalid)
        ));
        assert!(matches!(
            k.check(&get("http://h/api/v1/ltp?api_key=alpha")),
            Err(ApiError::ApiKeyMissing)
        ));
    }

    #[test]
    fn exempt_paths_match_whole_segments() {
        let k = keys();
        for ok in [
            "/health",
            "/ready",
            "/metrics",
            "/docs",
            "/docs/index.html",
            "/openapi.json",
        ] {
            assert!(k.is_exempt(ok), "{ok}");
        }
        for no in ["/healthz", "/api/v1/ltp", "/", "/openapi.json.bak"] {
            assert!(!k.is_exempt(no), "{no}");
        }
    }

    #[test]
    fn debug_shows_no_key() {
        assert_eq!(format!("{:?}", keys()), "ApiKeys(2 keys)");
    }
}
