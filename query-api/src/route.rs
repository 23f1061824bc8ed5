//! The routes as a closed set: what metrics label a request with, what the access log shows as
//! its `route`, and which methods a 405 lists. The router (`http/router.rs`) maps the same paths
//! to their handlers.

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// A request's route template: never the raw path, which can be long and hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1/ltp`
    Ltp,
    /// `/api/v1/ltp/refresh`
    Refresh,
    /// `/api/v1/ltp/cached`
    Cached,
    /// `/api/v1/status`
    Status,
    /// `/` (the board) and its assets under `/board/`
    Board,
    /// `/api/v1/pairs`
    Pairs,
    /// `/api/v1/ltp/stream` (SSE)
    Stream,
    /// `/api/v1/ltp/ws` (WebSocket)
    Ws,
    /// `/health`
    Health,
    /// `/ready`
    Ready,
    /// `/metrics`
    Metrics,
    /// `/openapi.json`
    OpenApi,
    /// `/docs` and its assets, and the same under `/swagger` (the seed's path)
    Docs,
    /// Anything else under `/api/v1/`
    ApiOther,
    /// Anything else
    Unknown,
}

impl Route {
    /// Number of variants (metrics size their per-route tables with it).
    pub const COUNT: usize = 15;

    /// The route of a request path (a trailing `/` is ignored, as the router does).
    pub fn of(path: &str) -> Route {
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        match path {
            "/api/v1/ltp" => Route::Ltp,
            "/api/v1/ltp/refresh" => Route::Refresh,
            "/api/v1/ltp/cached" => Route::Cached,
            "/api/v1/status" => Route::Status,
            "/" => Route::Board,
            p if p.starts_with("/board/") => Route::Board,
            "/api/v1/pairs" => Route::Pairs,
            "/api/v1/ltp/stream" => Route::Stream,
            "/api/v1/ltp/ws" => Route::Ws,
            "/health" => Route::Health,
            "/ready" => Route::Ready,
            "/metrics" => Route::Metrics,
            OPENAPI_PATH => Route::OpenApi,
            "/docs" => Route::Docs,
            p if p.starts_with("/docs/") => Route::Docs,
            "/swagger" => Route::Docs,
            p if p.starts_with("/swagger/") => Route::Docs,
            p if Route::is_api(p) => Route::ApiOther,
            _ => Route::Unknown,
        }
    }

    /// Whether a path is a stream endpoint (the API key may also come as `api_key` in the
    /// query, since browsers' `EventSource` cannot set headers).
    pub fn is_stream(path: &str) -> bool {
        matches!(Route::of(path), Route::Stream | Route::Ws)
    }

    /// Whether a path is the board or one of its assets: public even when auth is on (they
    /// hold no data; the page asks for the key and sends it with its API calls).
    pub fn is_board(path: &str) -> bool {
        path == "/" || path.starts_with("/board/")
    }

    /// Whether a path is under `/api/v1` (rate limited).
    pub fn is_api(path: &str) -> bool {
        path.strip_prefix("/api/v1")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The template as metrics (`path` label) and the access log (`route`) show it.
    pub fn label(self) -> &'static str {
        match self {
            Route::Ltp => "/api/v1/ltp",
            Route::Refresh => "/api/v1/ltp/refresh",
            Route::Cached => "/api/v1/ltp/cached",
            Route::Status => "/api/v1/status",
            Route::Board => "/",
            Route::Pairs => "/api/v1/pairs",
            Route::Stream => "/api/v1/ltp/stream",
            Route::Ws => "/api/v1/ltp/ws",
            Route::Health => "/health",
            Route::Ready => "/ready",
            Route::Metrics => "/metrics",
            Route::OpenApi => OPENAPI_PATH,
            Route::Docs => "/docs",
            Route::ApiOther => "/api/v1/*",
            Route::Unknown => "/unknown",
        }
    }

    /// Methods a known route answers, for a 405's `Allow`; `None` for unknown paths (404).
    pub fn allow(self) -> Option<&'static str> {
        match self {
            Route::Refresh => Some("POST"),
            Route::Stream | Route::Ws => Some("GET"),
            Route::ApiOther | Route::Unknown => None,
            _ => Some("GET, HEAD"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_labels() {
        assert_eq!(Route::of("/api/v1/ltp"), Route::Ltp);
        assert_eq!(Route::of("/api/v1/ltp/"), Route::Ltp);
        assert_eq!(Route::of("/"), Route::Board);
        assert_eq!(Route::of("/board/board.0123456789.js"), Route::Board);
        assert_eq!(Route::of("/boardx"), Route::Unknown);
        assert_eq!(Route::of("/api/v1/status"), Route::Status);
        assert_eq!(Route::of("/api/v1"), Route::ApiOther);
        assert_eq!(Route::of("/api/v1x"), Route::Unknown);
        assert_eq!(Route::of("/docs/swagger-ui.css"), Route::Docs);
        assert_eq!(Route::of("/swagger/index.html"), Route::Docs);
        assert_eq!(Route::of("/api/v1/pairs"), Route::Pairs);
        assert_eq!(Route::of("/anything").label(), "/unknown");
        assert_eq!(Route::Unknown as usize + 1, Route::COUNT);
    }
}
