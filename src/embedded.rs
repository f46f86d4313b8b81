//! Pages and files compiled into the binary and served as they are: the
//! GraphiQL playground and the dashboard. What both answer alike lives
//! here: an asset looked up by name with its content type and caching,
//! and an HTML page with its Content-Security-Policy and the headers that
//! go with one.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";

/// `Cache-Control` of a file whose name carries its version: the bytes
/// under it never change, so a year without asking again.
pub const VERSIONED: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of Dunder's own files, which change with Dunder under
/// the same name: asked for again each time (they are small).
pub const REVALIDATE: &str = "no-cache";

/// One file a page may load.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub body: &'static [u8],
}

/// The asset of `assets` named `name`, never sniffed for another type; a
/// 404 saying `missing` when there is none.
pub fn asset(assets: &[Asset], name: &str, missing: &'static str) -> Response {
    let Some(asset) = assets.iter().find(|asset| asset.name == name) else {
        return (StatusCode::NOT_FOUND, missing).into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, asset.cache_control),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

/// `html`, asked for again each time, under `policy`: never framed (also
/// for browsers that predate `frame-ancestors`), no referrer, no sniffing.
pub fn page(html: &'static str, policy: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, REVALIDATE),
        ],
        html,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    with_policy(response, policy)
}

/// `response` under the Content-Security-Policy `policy`.
pub fn with_policy(mut response: Response, policy: &'static str) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    response
}
