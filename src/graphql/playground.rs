//! The GraphiQL playground that `GET /graphql` shows a browser: the page
//! and, under `/graphql/assets/`, everything it loads. GraphiQL, React and
//! ReactDOM are compiled into the binary (refreshed from the npm registry by
//! `scripts/refresh-graphiql`, versions and checksums in
//! `assets/graphiql/VERSIONS.md`), so the playground works without internet
//! access and the page can forbid every other origin.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::embedded::{self, Asset, CSS, JAVASCRIPT, REVALIDATE, VERSIONED};

/// What the page may load and where it may connect: only this server.
/// `connect-src 'self'` also admits `ws:`/`wss:` to the same host and port
/// (Content Security Policy Level 3), which is where `/graphql/ws` is. The
/// bundled stylesheet inlines its fonts and icons, hence `data:` for those.
/// No inline script: the page's own script is served as a file. One inline
/// style is admitted by its hash: the scroll lock that GraphiQL's dialogs
/// (settings, keyboard shortcuts) add as a `<style>` element, whose text is
/// fixed because the page never scrolls (no scroll bar to make room for).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; \
    script-src 'self'; \
    style-src 'self' 'sha256-nzTgYzXYDNe6BAHiiI7NNlfK8n/auuOAhh2t92YvuXo='; \
    img-src 'self' data:; \
    font-src 'self' data:; \
    connect-src 'self'; \
    base-uri 'none'; \
    form-action 'none'; \
    frame-ancestors 'none'";

/// Where the assets are served; the page refers to them by these paths.
pub const ASSETS_PATH: &str = "/graphql/assets";

const PAGE: &str = include_str!("../../assets/playground/index.html");

/// Every file the page may load. The vendored names are rewritten by
/// `scripts/refresh-graphiql` when the versions change.
const ASSETS: &[Asset] = &[
    Asset {
        name: "react-18.3.1.production.min.js",
        content_type: JAVASCRIPT,
        cache_control: VERSIONED,
        body: include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
    },
    Asset {
        name: "react-dom-18.3.1.production.min.js",
        content_type: JAVASCRIPT,
        cache_control: VERSIONED,
        body: include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
    },
    Asset {
        name: "graphiql-4.1.2.min.js",
        content_type: JAVASCRIPT,
        cache_control: VERSIONED,
        body: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.js"),
    },
    Asset {
        name: "graphiql-4.1.2.min.css",
        content_type: CSS,
        cache_control: VERSIONED,
        body: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.css"),
    },
    Asset {
        name: "playground.js",
        content_type: JAVASCRIPT,
        cache_control: REVALIDATE,
        body: include_bytes!("../../assets/playground/playground.js"),
    },
    Asset {
        name: "playground.css",
        content_type: CSS,
        cache_control: REVALIDATE,
        body: include_bytes!("../../assets/playground/playground.css"),
    },
];

/// The playground page, with its Content-Security-Policy.
pub fn page() -> Response {
    let mut response = embedded::page(PAGE, CONTENT_SECURITY_POLICY);
    // The same URL answers JSON to other clients.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// `GET /graphql/assets/{name}`: the page's scripts and stylesheets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(&format!("{ASSETS_PATH}/{{name}}"), get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    embedded::asset(ASSETS, &name, "no such playground asset")
}
