//! The live dashboard at `GET /`: the latest messages as they are posted,
//! a hashtag filter, the trend of the chosen hashtag, the trending hashtags
//! and a post form. The page, its stylesheet and its ES modules are written
//! by hand under `assets/dashboard/` and compiled into the binary: no build
//! step, nothing fetched from another host, so it works offline and the
//! page can forbid every other origin. It speaks to the server the way any
//! client does (`POST /graphql`, subscriptions on `/graphql/ws`), so it
//! needs no route, token or rate limit of its own.

use axum::extract::Path;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::embedded::{self, Asset, CSS, JAVASCRIPT, REVALIDATE};

/// Only this server, for everything. `connect-src 'self'` also admits
/// `ws:`/`wss:` to the same host and port (Content Security Policy Level
/// 3), which is where `/graphql/ws` is. No inline script or style at all:
/// the page draws its chart with SVG attributes and classes. `data:` images
/// for the empty icon, which spares a request for `/favicon.ico`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; \
    script-src 'self'; \
    style-src 'self'; \
    img-src 'self' data:; \
    connect-src 'self'; \
    base-uri 'none'; \
    form-action 'none'; \
    frame-ancestors 'none'";

/// Where the assets are served; the page and its modules refer to them by
/// these paths.
pub const ASSETS_PATH: &str = "/dashboard/assets";

const PAGE: &str = include_str!("../assets/dashboard/index.html");

/// Dunder's own files change with Dunder under the same name, so they are
/// asked for again each time (they are small).
macro_rules! assets {
    ($($name:literal: $content_type:expr),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $content_type,
            cache_control: REVALIDATE,
            body: include_bytes!(concat!("../assets/dashboard/", $name)),
        }),*]
    };
}

/// Every file the page may load.
const ASSETS: &[Asset] = assets! {
    "dashboard.css": CSS,
    "main.js": JAVASCRIPT,
    "graphql.js": JAVASCRIPT,
    "socket.js": JAVASCRIPT,
    "feed.js": JAVASCRIPT,
    "chart.js": JAVASCRIPT,
    "trending.js": JAVASCRIPT,
    "post.js": JAVASCRIPT,
    "dom.js": JAVASCRIPT,
};

/// `GET /` and `GET /dashboard/assets/{name}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route(&format!("{ASSETS_PATH}/{{name}}"), get(asset))
}

async fn page() -> Response {
    embedded::page(PAGE, CONTENT_SECURITY_POLICY)
}

/// The page's files, under the page's policy too.
async fn asset(Path(name): Path<String>) -> Response {
    embedded::with_policy(
        embedded::asset(ASSETS, &name, "no such dashboard asset"),
        CONTENT_SECURITY_POLICY,
    )
}
