//! The router: API routes, operations routes, the OpenAPI document and its UI, and a JSON
//! fallback for unknown paths (404) and known paths with another method (405 + `Allow`).
//!
//! A catch-all route makes every request match, so the middleware hoops (request id, CORS,
//! metrics, rate limit, auth) run for 404s too, whether or not the app is wrapped in a
//! `Service` with a catcher.

use bytes::Bytes;
use salvo::http::header::CONTENT_TYPE;
use salvo::http::{ResBody, StatusCode};
use salvo::oapi::OpenApi;
use salvo::oapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use salvo_oapi::swagger_ui::SwaggerUi;

use crate::error::{ApiError, JSON};
use crate::handlers::{GetCached, GetLtp, GetMetrics, Health, PostRefresh, Ready};
use crate::middleware::{Edge, Guard};
use crate::state::AppState;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// Route templates, the `path` label of metrics and the `route` of access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1/ltp`
    Ltp,
    /// `/api/v1/ltp/refresh`
    Refresh,
    /// `/api/v1/ltp/cached`
    Cached,
    /// `/health`
    Health,
    /// `/ready`
    Ready,
    /// `/metrics`
    Metrics,
    /// `/openapi.json`
    OpenApi,
    /// `/docs` and its assets
    Docs,
    /// Anything else under `/api/v1/`
    ApiOther,
    /// Anything else
    Unknown,
}

impl Route {
    /// Number of variants.
    pub const COUNT: usize = 10;

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
            "/health" => Route::Health,
            "/ready" => Route::Ready,
            "/metrics" => Route::Metrics,
            OPENAPI_PATH => Route::OpenApi,
            "/docs" => Route::Docs,
            p if p.starts_with("/docs/") => Route::Docs,
            p if Route::is_api(p) => Route::ApiOther,
            _ => Route::Unknown,
        }
    }

    /// Whether a path is under `/api/v1` (rate limited).
    pub fn is_api(path: &str) -> bool {
        path.strip_prefix("/api/v1")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The label.
    pub fn label(self) -> &'static str {
        match self {
            Route::Ltp => "/api/v1/ltp",
            Route::Refresh => "/api/v1/ltp/refresh",
            Route::Cached => "/api/v1/ltp/cached",
            Route::Health => "/health",
            Route::Ready => "/ready",
            Route::Metrics => "/metrics",
            Route::OpenApi => OPENAPI_PATH,
            Route::Docs => "/docs",
            Route::ApiOther => "/api/v1/*",
            Route::Unknown => "/unknown",
        }
    }

    /// Methods a known route answers, for 405's `Allow`.
    fn allow(self) -> Option<&'static str> {
        match self {
            Route::Refresh => Some("POST"),
            Route::ApiOther | Route::Unknown => None,
            _ => Some("GET, HEAD"),
        }
    }
}

/// The whole application as a router (middleware included), for a server or for in-process
/// tests with `TestClient`.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .push(
            Router::with_path("api/v1/ltp")
                .get(GetLtp(state.clone()))
                .head(GetLtp(state.clone()))
                .push(
                    Router::with_path("cached")
                        .get(GetCached(state.clone()))
                        .head(GetCached(state.clone())),
                )
                .push(Router::with_path("refresh").post(PostRefresh(state.clone()))),
        )
        .push(Router::with_path("health").get(Health).head(Health))
        .push(
            Router::with_path("ready")
                .get(Ready(state.clone()))
                .head(Ready(state.clone())),
        )
        .push(
            Router::with_path("metrics")
                .get(GetMetrics(state.clone()))
                .head(GetMetrics(state.clone())),
        );
    let doc = openapi(&app, &state);
    let mut root = Router::new().hoop(Edge::new(state.clone()));
    if let Some(guard) = Guard::new(state) {
        root = root.hoop(guard);
    }
    root.push(app)
        .push(Router::with_path(OPENAPI_PATH).get(doc.clone()).head(doc))
        .push(
            SwaggerUi::new(OPENAPI_PATH)
                .title("ltp query-api")
                .into_router("docs"),
        )
        .push(Router::with_path("{**rest}").goal(Fallback))
}

/// The OpenAPI 3 document of `app`, serialised once, with the pair lists described exactly
/// as this deployment accepts them.
fn openapi(app: &Router, state: &AppState) -> Document {
    let doc = OpenApi::new("ltp query-api", env!("CARGO_PKG_VERSION"))
        .info(
            salvo::oapi::Info::new("ltp query-api", env!("CARGO_PKG_VERSION")).description(
                "Last traded prices of Kraken pairs, fed by the ingestor over NATS and cached \
                 in memory or Redis. Every price carries its time and age; a price older than \
                 the cache TTL is never served.",
            ),
        )
        .add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        )
        .merge_router(app);
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    let served: Vec<&str> = state.served.pairs.iter().map(|p| p.as_str()).collect();
    describe_pair_lists(&mut value, &served, state.config.limits.max_pairs);
    let json = serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec());
    Document(Bytes::from(json))
}

/// Replaces the free-text schema of the `pair` and `pairs` query parameters with what the
/// handlers accept: empty, or a comma-separated list of at most `max_pairs` served pairs, as a
/// `pattern` (a plain string would promise that any text is valid, while anything but served
/// pairs is a 400). The pattern gives the canonical form; the handlers also accept lower case,
/// spaces around elements and empty elements. Not an array with `explode: false`: its `[""]`
/// and `[]` are the same `pair=`, so no schema of items can say which is valid.
fn describe_pair_lists(doc: &mut serde_json::Value, served: &[&str], max_pairs: u32) {
    // Pair names are upper-case letters and digits around a `/`: nothing to escape.
    let one = format!("(?:{})", served.join("|"));
    let more = max_pairs.saturating_sub(1);
    let schema = serde_json::json!({
        "type": "string",
        "pattern": format!("^(?:{one}(?:,{one}){{0,{more}}})?$"),
    });
    for (path, name) in [("/api/v1/ltp", "pair"), ("/api/v1/ltp/refresh", "pairs")] {
        let item = doc.get_mut("paths").and_then(|p| p.get_mut(path));
        let Some(item) = item.and_then(|i| i.as_object_mut()) else {
            continue;
        };
        for operation in item.values_mut() {
            let parameters = operation.get_mut("parameters");
            let Some(parameters) = parameters.and_then(|p| p.as_array_mut()) else {
                continue;
            };
            for parameter in parameters.iter_mut().filter(|p| p["name"] == name) {
                parameter["schema"] = schema.clone();
            }
        }
    }
}

/// Serves the prepared OpenAPI document.
#[derive(Debug, Clone)]
struct Document(Bytes);

#[async_trait]
impl Handler for Document {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        res.status_code(StatusCode::OK);
        res.headers_mut().insert(CONTENT_TYPE, JSON);
        res.replace_body(ResBody::Once(self.0.clone()));
    }
}

/// 404 for unknown paths, 405 with `Allow` for known ones asked with another method.
struct Fallback;

#[async_trait]
impl Handler for Fallback {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let error = match Route::of(req.uri().path()).allow() {
            Some(allow) => ApiError::MethodNotAllowed(allow),
            None => ApiError::NotFound,
        };
        error.write_to(res);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_labels() {
        assert_eq!(Route::of("/api/v1/ltp"), Route::Ltp);
        assert_eq!(Route::of("/api/v1/ltp/"), Route::Ltp);
        assert_eq!(Route::of("/"), Route::Unknown);
        assert_eq!(Route::of("/api/v1"), Route::ApiOther);
        assert_eq!(Route::of("/api/v1x"), Route::Unknown);
        assert_eq!(Route::of("/docs/swagger-ui.css"), Route::Docs);
        assert_eq!(Route::of("/anything").label(), "/unknown");
        assert_eq!(Route::Unknown as usize + 1, Route::COUNT);
    }
}
