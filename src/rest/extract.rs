//! Extractors whose refusals speak the API's own error format: the JSON body
//! (read whatever its content type, as the historical service did, so
//! `curl -d` works without `-H 'Content-Type: application/json'`), the query
//! string, the author from the `Authorization` header, and the
//! `Idempotency-Key` header.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::auth::Identified;
use crate::domain::{DomainError, Field, Reason, UserName};
use crate::guard::Guards;

/// A JSON request body.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::bad_request(format!("request body: {error}")))
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than {} bytes",
                super::MAX_BODY_BYTES
            ),
        )
    } else {
        ApiError::new(
            rejection.status(),
            format!("request body: {}", rejection.body_text()),
        )
    }
}

/// Query parameters; a malformed query string is a 400 that says why.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| QueryParams(params))
            .map_err(|rejection| {
                ApiError::bad_request(format!("query string: {}", rejection.body_text()))
            })
    }
}

/// The user a request posts as, from its bearer token: 401 without a
/// valid one, 403 for a token that may only read.
pub struct Author(pub UserName);

impl<S> FromRequestParts<S> for Author
where
    S: Send + Sync,
    Guards: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The rate limit layer has read the token already on REST routes.
        let identity = match parts.extensions.get::<Identified>() {
            Some(Identified(identified)) => identified.clone(),
            None => Guards::from_ref(state)
                .auth
                .identify_header(parts.headers.get(header::AUTHORIZATION)),
        }?;
        Ok(Author(identity.poster()?))
    }
}

/// The header that names a post for safe retries.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header that marks an answer replayed from an earlier post with the
/// same `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` header as sent, if any; validated with the body
/// whose hash goes with it (see `domain::idempotency`). Bytes that are not
/// ASCII are kept (lossily) so that the key's own rule refuses them. Sent
/// twice, it is a 400: which one the client meant is unknown.
pub struct IdempotencyHeader(pub Option<String>);

impl<S> FromRequestParts<S> for IdempotencyHeader
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyHeader(None));
        };
        if values.next().is_some() {
            return Err(DomainError::InvalidInput {
                field: Field::IdempotencyKey,
                reason: Reason::Rule("must be given once".to_owned()),
            }
            .into());
        }
        Ok(IdempotencyHeader(Some(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )))
    }
}
