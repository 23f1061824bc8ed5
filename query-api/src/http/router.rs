//! The routing table: which handler answers which path and method, the two middleware hoops
//! around them, the OpenAPI document and its UI, and a JSON fallback for unknown paths (404)
//! and known paths with another method (405 + `Allow`).
//!
//! A catch-all route makes every request match, so the middleware hoops (request id, CORS,
//! metrics, rate limit, auth) run for 404s too, whether or not the app is wrapped in a
//! `Service` with a catcher.

use salvo::http::header::ACCEPT_ENCODING;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use salvo_compression::{Compression, CompressionLevel};
use salvo_oapi::swagger_ui::SwaggerUi;

use super::handlers::{
    BoardAsset, BoardPage, GetCached, GetLtp, GetMetrics, GetPairs, GetStatus, GetStream, GetWs,
    Health, PostRefresh, Ready,
};
use super::middleware::{Edge, Guard};
use super::openapi;
use super::state::AppState;
use super::status::ApiError;
use crate::route::{OPENAPI_PATH, Route};

/// Smallest body compressed. One pair's answer is at most about 300 bytes, so it is never
/// compressed (the hot path pays only a length check); below 512 bytes gzip saves too little to
/// be worth its CPU. salvo never compresses a 206 (it takes it for a range answer).
pub const COMPRESS_MIN_BYTES: usize = 512;

/// The whole application as a router (middleware included), for a server or for in-process
/// tests with `TestClient`.
pub fn router(state: AppState) -> Router {
    let compression = Compress(
        Compression::new()
            .disable_all()
            .enable_gzip(CompressionLevel::Fastest)
            .min_length(COMPRESS_MIN_BYTES),
    );
    let app = Router::new()
        .push(
            Router::with_path("api/v1/ltp")
                .hoop(compression.clone())
                .get(GetLtp(state.clone()))
                .head(GetLtp(state.clone()))
                .push(
                    Router::with_path("cached")
                        .get(GetCached(state.clone()))
                        .head(GetCached(state.clone())),
                )
                .push(Router::with_path("refresh").post(PostRefresh(state.clone())))
                .push(Router::with_path("stream").get(GetStream::new(state.clone())))
                .push(Router::with_path("ws").get(GetWs::new(state.clone()))),
        )
        .push(
            Router::with_path("api/v1/status")
                .get(GetStatus(state.clone()))
                .head(GetStatus(state.clone())),
        )
        .push(
            Router::with_path("api/v1/pairs")
                .hoop(compression)
                .get(GetPairs(state.clone()))
                .head(GetPairs(state.clone())),
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
    let doc = openapi::document(&app, &state);
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
        .push(Router::new().get(BoardPage).head(BoardPage))
        .push(
            Router::with_path("board/{name}")
                .get(BoardAsset)
                .head(BoardAsset),
        )
        // The seed's documentation path: the same UI.
        .push(
            SwaggerUi::new(OPENAPI_PATH)
                .title("ltp query-api")
                .into_router("swagger"),
        )
        .push(Router::with_path("{**rest}").goal(Fallback))
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

/// salvo's compression for requests that accept an encoding; the others skip it, since
/// salvo-compression inspects the response's headers (`Cache-Control`, `Content-Encoding`,
/// `Content-Range`) before it looks at the request: ~900 instructions of a ~35,000-instruction
/// single-pair answer that could never be compressed (docs/benchmarks.md, "Instructions per
/// request").
#[derive(Clone)]
struct Compress(Compression);

#[async_trait]
impl Handler for Compress {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        if req.headers().contains_key(ACCEPT_ENCODING) {
            self.0.handle(req, depot, res, ctrl).await;
        } else {
            ctrl.call_next(req, depot, res).await;
        }
    }
}
