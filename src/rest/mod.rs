//! The REST compatibility routes, with the exact JSON of the service Dunder
//! replaces: `POST /message`, `GET /message`, `GET /message/{id}`,
//! `GET /trend`; and `GET /message/stream` (Server-Sent Events). A thin
//! face: it parses, calls the domain, the store and the live feeds, and
//! shapes the answer.

mod error;
mod extract;
mod json;
mod messages;
mod openapi;
mod params;
mod stream;
mod trend;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::get;
use axum::Router;

pub use error::ApiError;

use crate::guard::Guards;
use crate::live::Live;
use crate::store::Store;

/// The largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A known route asked with a method it does not take, in the API's own
/// error format.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}

/// The most characters a message text may have (configurable): the one
/// setting of the application state the REST handlers read besides its
/// handles, given its own type so that it can be taken with `State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxTextChars(pub usize);

/// The REST routes, over any application state that holds the parts they
/// take (`State<Store>`, `State<Live>`, `State<Guards>`,
/// `State<MaxTextChars>`), ready to be merged into the application's router.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Store: FromRef<S>,
    Live: FromRef<S>,
    Guards: FromRef<S>,
    MaxTextChars: FromRef<S>,
{
    Router::new()
        .route("/message", get(messages::list).post(messages::post))
        .route("/message/stream", get(stream::stream))
        .route("/message/{id}", get(messages::get_one))
        .route("/trend", get(trend::trend))
        .route("/openapi.json", get(openapi::serve))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
