//! Refusals before any GraphQL runs, in GraphQL's error shape, and the
//! request body read through async-graphql-axum's extractor with Dunder's
//! own rejection, so that a body it cannot read is answered the same way.

use async_graphql::{BatchRequest, ParseRequestError};
use async_graphql_axum::GraphQLBatchRequest;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::media::Media;
use crate::graphql::errors::{BAD_REQUEST, PAYLOAD_TOO_LARGE};
use crate::guard::Guards;

/// A refusal before any GraphQL ran, answered as a GraphQL response.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) media: Media,
    pub(super) status: StatusCode,
    pub(super) message: String,
    pub(super) code: &'static str,
    /// The methods to name in `Allow` (with 405).
    pub(super) allow: Option<&'static str>,
}

impl Refusal {
    pub(super) fn new(
        media: Media,
        status: StatusCode,
        message: impl Into<String>,
        code: &'static str,
    ) -> Self {
        Refusal {
            media,
            status,
            message: message.into(),
            code,
            allow: None,
        }
    }

    pub(super) fn bad_request(media: Media, message: impl Into<String>) -> Self {
        Refusal::new(media, StatusCode::BAD_REQUEST, message, BAD_REQUEST)
    }

    /// 405, naming the methods that are taken.
    pub(super) fn method_not_allowed(media: Media, message: &str, allow: &'static str) -> Self {
        Refusal {
            allow: Some(allow),
            ..Refusal::new(media, StatusCode::METHOD_NOT_ALLOWED, message, BAD_REQUEST)
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body =
            json!({ "errors": [{ "message": self.message, "extensions": { "code": self.code } }] });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, self.media.content_type())],
            body.to_string(),
        )
            .into_response();
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// The rejection of async-graphql-axum's extractor: the body is not a
/// GraphQL request. Answered by the handler in the negotiated media type
/// (see [`Unreadable::refusal`]); on its own, in `application/json`.
pub(super) struct Unreadable(ParseRequestError);

impl From<ParseRequestError> for Unreadable {
    fn from(error: ParseRequestError) -> Self {
        Unreadable(error)
    }
}

impl IntoResponse for Unreadable {
    fn into_response(self) -> Response {
        self.refusal(Media::Json).into_response()
    }
}

impl Unreadable {
    fn refusal(self, media: Media) -> Refusal {
        let message = match &self.0 {
            ParseRequestError::InvalidRequest(error) => {
                match error.downcast_ref::<serde_json::Error>() {
                    // Well-formed JSON of the wrong shape: serde can only say
                    // that no variant of async-graphql's untagged batch type
                    // matched, so say what is expected instead.
                    Some(error) if error.is_data() => "the body must be a GraphQL request: an object with a string `query` (and optionally `operationName`, a string, and `variables` and `extensions`, objects), or an array of them".to_string(),
                    _ => format!("request body is not JSON: {error}"),
                }
            }
            other => format!("request body: {other}"),
        };
        Refusal::bad_request(media, message)
    }
}

/// The batch (or single request) a POST carries. The body is read under the
/// router's body limit first (413 past it): the extractor streams the body
/// without looking at that limit.
pub(super) async fn read_body(
    request: Request,
    media: Media,
    guards: &Guards,
) -> Result<BatchRequest, Refusal> {
    let (parts, body) = request.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                guards.refusals.count(PAYLOAD_TOO_LARGE);
                let message = format!(
                    "request body is larger than {} bytes",
                    crate::rest::MAX_BODY_BYTES
                );
                Refusal::new(
                    media,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    message,
                    PAYLOAD_TOO_LARGE,
                )
            } else {
                Refusal::new(
                    media,
                    rejection.status(),
                    rejection.body_text(),
                    BAD_REQUEST,
                )
            }
        })?;
    let request = Request::from_parts(parts, Body::from(bytes));
    GraphQLBatchRequest::<Unreadable>::from_request(request, &())
        .await
        .map(GraphQLBatchRequest::into_inner)
        .map_err(|unreadable| unreadable.refusal(media))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HttpLimits, RateLimits};

    async fn read(body: &'static str) -> Result<BatchRequest, Refusal> {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let guards = Guards::new(RateLimits::default(), HttpLimits::default());
        read_body(request, Media::GraphqlResponse, &guards).await
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_request_is_refused_in_dunders_shape() {
        let refused = read("{ \"not a JSON").await.unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.media, Media::GraphqlResponse);
        assert!(refused.message.starts_with("request body is not JSON"));
        for body in [
            r#"{"query": 1}"#,
            r#"{"query": "{a}", "variables": "x"}"#,
            "0",
        ] {
            let refused = read(body).await.unwrap_err();
            assert!(
                refused.message.contains("a string `query`"),
                "{body}: {}",
                refused.message
            );
        }
    }

    #[tokio::test]
    async fn null_parameters_are_allowed() {
        let body =
            r#"{"query": "{a}", "operationName": null, "variables": null, "extensions": null}"#;
        let Ok(BatchRequest::Single(request)) = read(body).await else {
            panic!("a single request");
        };
        assert_eq!(request.query, "{a}");
        assert!(request.operation_name.is_none());
        assert!(matches!(
            read(r#"[{"query": "{a}"}, {"query": "{b}"}]"#).await,
            Ok(BatchRequest::Batch(requests)) if requests.len() == 2
        ));
    }
}
