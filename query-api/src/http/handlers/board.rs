//! The live price board: `/` (the page) and `/board/<name>.<hash>.<ext>` (its script and style
//! sheet), embedded in the binary (`http/board/`). No build step, nothing from another host.
//!
//! The assets' names carry a hash of their content, so they are cached for a year
//! (`immutable`) and a new build changes the names the page links to; the page itself is
//! `no-cache`. Every answer carries a Content-Security-Policy that allows only this origin's
//! script and style sheet (no inline script or style).

use std::sync::LazyLock;

use bytes::Bytes;
use salvo::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use salvo::http::{HeaderValue, ResBody, StatusCode};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use sha2::{Digest, Sha256};

use crate::http::status::ApiError;

/// The policy of the page and its assets: this origin only, no inline script or style, no
/// framing, no plugins.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

const HTML: &str = include_str!("../board/index.html");
const SCRIPT: &[u8] = include_bytes!("../board/board.js");
const STYLE: &[u8] = include_bytes!("../board/board.css");

/// One embedded file under its content-hashed name.
struct Asset {
    name: String,
    content_type: &'static str,
    body: Bytes,
    etag: HeaderValue,
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
        let digest = Sha256::digest(body);
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            name: format!("{stem}.{hash}.{ext}"),
            content_type,
            body: Bytes::from_static(body),
            etag: HeaderValue::from_str(&format!("\"{hash}\""))
                .unwrap_or(HeaderValue::from_static("\"0\"")),
        }
    }
}

struct Files {
    page: Bytes,
    assets: [Asset; 2],
}

static FILES: LazyLock<Files> = LazyLock::new(|| {
    let script = Asset::new("board", "js", "text/javascript; charset=utf-8", SCRIPT);
    let style = Asset::new("board", "css", "text/css; charset=utf-8", STYLE);
    let page = HTML
        .replace("{{board.js}}", &format!("/board/{}", script.name))
        .replace("{{board.css}}", &format!("/board/{}", style.name));
    Files {
        page: Bytes::from(page),
        assets: [script, style],
    }
});

fn common_headers(res: &mut Response, content_type: &'static str) {
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `/`: the page, never cached (it names the current assets).
#[derive(Debug, Clone, Copy)]
pub struct BoardPage;

#[async_trait]
impl Handler for BoardPage {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        common_headers(res, "text/html; charset=utf-8");
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        res.status_code(StatusCode::OK);
        res.replace_body(ResBody::Once(FILES.page.clone()));
    }
}

/// `/board/{name}`: a content-hashed asset, cached for a year; 404 for any other name.
#[derive(Debug, Clone, Copy)]
pub struct BoardAsset;

#[async_trait]
impl Handler for BoardAsset {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let name = req.uri().path().strip_prefix("/board/").unwrap_or_default();
        let Some(asset) = FILES.assets.iter().find(|a| a.name == name) else {
            return ApiError::NotFound.write_to(res);
        };
        common_headers(res, asset.content_type);
        let headers = res.headers_mut();
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
        headers.insert(ETAG, asset.etag.clone());
        if req.headers().get(IF_NONE_MATCH) == Some(&asset.etag) {
            res.status_code(StatusCode::NOT_MODIFIED);
            return;
        }
        res.status_code(StatusCode::OK);
        res.replace_body(ResBody::Once(asset.body.clone()));
    }
}
