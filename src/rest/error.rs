//! The REST error: a status and a message, answered as `{"error": "..."}`.
//! Domain errors map to 4xx with their own words; store errors keep their
//! cause, which is logged once, when the error becomes a response, and
//! never answered.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::domain::DomainError;
use crate::guard::RateLimited;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Extra headers: `Retry-After` and the `RateLimit` pair on 429 and 503.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The server fault behind a 5xx, for the log.
    pub cause: Option<StoreError>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// With `Retry-After` in whole seconds (at least 1).
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        self.headers
            .push((axum::http::header::RETRY_AFTER, HeaderValue::from(seconds)));
        self
    }

    /// A 429 for a spent rate-limit budget, with its headers.
    pub fn rate_limited(refusal: &RateLimited) -> Self {
        let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, refusal.message());
        error.headers.extend(refusal.headers());
        error
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let status = match error {
            DomainError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            DomainError::NotFound(_) => StatusCode::NOT_FOUND,
            DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
            DomainError::KeyReused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        // REST names fields as the domain does: the historical service's
        // snake case (`to_date`).
        ApiError::new(status, error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let answer = match &error {
            StoreError::Unavailable { retry_after, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the message could not be written in time and was not stored; try again",
            )
            .retry_after(*retry_after),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"),
        };
        ApiError {
            cause: Some(error),
            ..answer
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The one place a REST server fault is logged, with its cause.
        match &self.cause {
            Some(error @ StoreError::Unavailable { .. }) => {
                tracing::warn!(%error, "post refused")
            }
            Some(error) => tracing::error!(%error, "store failure"),
            None => {}
        }
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        response.headers_mut().extend(self.headers);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Field, Reason};

    #[test]
    fn domain_refusals_use_the_rest_names() {
        let error = ApiError::from(DomainError::InvalidInput {
            field: Field::ToDate,
            reason: Reason::LaterThan(Field::FromDate),
        });
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.message, "to_date: must be later than from_date");
        assert!(error.cause.is_none());
    }

    #[test]
    fn a_reused_idempotency_key_is_a_422_naming_the_header() {
        let error = ApiError::from(DomainError::KeyReused {
            field: Field::IdempotencyKey,
        });
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            error
                .message
                .starts_with("Idempotency-Key: this key was already used"),
            "{}",
            error.message
        );
    }

    #[test]
    fn store_failures_keep_their_cause_for_the_log_only() {
        let cause = sea_orm::DbErr::Custom("relation \"messages\" does not exist".into());
        let error = ApiError::from(StoreError::from(cause));
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.message, "internal server error");
        let kept = error.cause.as_ref().map(ToString::to_string).unwrap();
        assert!(kept.contains("relation \"messages\""), "{kept}");
    }
}
