//! Layers every route passes through: the request timeout of the
//! non-streaming routes, and the rate limits of the REST routes (GraphQL
//! spends its own budgets per operation and per mutation field).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::Identified;
use crate::guard::{client_address, Access, Guards};
use crate::rest::ApiError;

/// Routes whose answer is a stream that lives as long as the client wants:
/// no request timeout there (their own limits are the stream caps, the
/// send timeout and the feed's queue).
fn is_streaming(path: &str) -> bool {
    matches!(path, "/message/stream" | "/graphql/ws")
}

/// Answers 503 when a non-streaming request takes longer than `timeout`:
/// `{"error"}` on REST, a GraphQL error with code `REQUEST_TIMEOUT` on
/// `/graphql`. The handler is dropped, so nothing more of it runs; a post
/// still waiting for the writer is then skipped by it.
pub async fn request_timeout(
    State((timeout, guards)): State<(Duration, Guards)>,
    request: Request,
    next: Next,
) -> Response {
    if is_streaming(request.uri().path()) {
        return next.run(request).await;
    }
    let graphql = request.uri().path() == "/graphql";
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            guards.refusals.count("REQUEST_TIMEOUT");
            let message = format!(
                "the request took longer than {} ms and was stopped",
                timeout.as_millis()
            );
            let mut response = if graphql {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "application/json")],
                    json!({"errors": [{"message": message, "extensions": {"code": "REQUEST_TIMEOUT"}}]})
                        .to_string(),
                )
                    .into_response()
            } else {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response()
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(1u64));
            response
        }
    }
}

/// What a REST request spends: posting is a write, any other REST route a
/// read. GraphQL, health, metrics and the OpenAPI document spend nothing
/// here.
fn rest_access(method: &Method, path: &str) -> Option<Access> {
    let rest = path == "/message" || path.starts_with("/message/") || path == "/trend";
    match (rest, method) {
        (true, &Method::POST) => Some(Access::Write),
        (true, _) => Some(Access::Read),
        (false, _) => None,
    }
}

/// Spends the REST request's budget for its client address and, when it
/// carries a token that names one, its user; 429 with `Retry-After` and the
/// `RateLimit` headers when spent.
pub async fn rest_rate_limit(
    State(guards): State<Guards>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(access) = rest_access(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    // Read once here; the route's own extractor takes it from the
    // extensions rather than verify a signed token a second time.
    let identified = guards
        .auth
        .identify_header(request.headers().get(header::AUTHORIZATION));
    let user = identified
        .as_ref()
        .ok()
        .map(|identity| identity.user.clone());
    request.extensions_mut().insert(Identified(identified));
    let address = client_address(request.extensions());
    if let Err(refused) = guards
        .rate
        .check(access, user.as_ref().map(|u| u.as_str()), address)
    {
        guards.refusals.count("RATE_LIMITED");
        return ApiError::rate_limited(&refused).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_routes_spend_reads_and_writes_and_the_rest_nothing() {
        assert_eq!(rest_access(&Method::POST, "/message"), Some(Access::Write));
        assert_eq!(rest_access(&Method::GET, "/message"), Some(Access::Read));
        assert_eq!(
            rest_access(&Method::GET, "/message/01ABC"),
            Some(Access::Read)
        );
        assert_eq!(
            rest_access(&Method::GET, "/message/stream"),
            Some(Access::Read)
        );
        assert_eq!(rest_access(&Method::GET, "/trend"), Some(Access::Read));
        assert_eq!(rest_access(&Method::POST, "/graphql"), None);
        assert_eq!(rest_access(&Method::GET, "/healthz"), None);
        assert_eq!(rest_access(&Method::GET, "/messages"), None);
        // The dashboard's page and files: served to anyone, spending nothing.
        assert_eq!(rest_access(&Method::GET, "/"), None);
        assert_eq!(rest_access(&Method::GET, "/dashboard/assets/main.js"), None);
        assert!(is_streaming("/message/stream"));
        assert!(!is_streaming("/message"));
    }
}
