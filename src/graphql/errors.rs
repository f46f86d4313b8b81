//! GraphQL errors with `extensions.code`: the domain's and the store's
//! errors become GraphQL errors through their `ErrorExtensions`, so that
//! resolvers only write `.extend()`, and the same input is refused the same
//! way as over REST. Internal errors are answered without their detail and
//! logged with it, once ([`log_cause`]).

use std::sync::Arc;

use async_graphql::{Error, ErrorExtensions, ServerError};

use crate::domain::{DomainError, Field};
use crate::store::StoreError;

pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
pub const TOO_MANY_DIRECTIVES: &str = "TOO_MANY_DIRECTIVES";
pub const INTROSPECTION_TOO_DEEP: &str = "INTROSPECTION_TOO_DEEP";
pub const TOO_MANY_DOCUMENT_DIRECTIVES: &str = "TOO_MANY_DOCUMENT_DIRECTIVES";
pub const TOO_MANY_TOKENS: &str = "TOO_MANY_TOKENS";
pub const TOO_MANY_FIELDS: &str = "TOO_MANY_FIELDS";
pub const VALUES_TOO_DEEP: &str = "VALUES_TOO_DEEP";
pub const REQUEST_TOO_COMPLEX: &str = "REQUEST_TOO_COMPLEX";
pub const BATCH_TOO_LARGE: &str = "BATCH_TOO_LARGE";
pub const RATE_LIMITED: &str = "RATE_LIMITED";
pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
pub const BAD_REQUEST: &str = "BAD_REQUEST";
pub const LAGGED: &str = "LAGGED";
pub const REPLAY_LIMIT: &str = "REPLAY_LIMIT";
pub const TOO_MANY_OPERATIONS: &str = "TOO_MANY_OPERATIONS";
pub const TOO_MANY_STREAMS: &str = "TOO_MANY_STREAMS";
pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
/// An idempotency key this user already used for a different post (REST
/// answers it 422).
pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";

/// An error with `code` in its extensions.
pub fn coded(message: impl Into<String>, code: &'static str) -> Error {
    Error::new(message).extend_with(|_, extensions| extensions.set("code", code))
}

/// The GraphQL spelling of a field: the schema's camel case for the fields
/// whose REST names are snake case, the caller's name for any other.
pub fn graphql_name(field: &Field) -> String {
    match field {
        Field::FromDate => "fromDate".to_owned(),
        Field::ToDate => "toDate".to_owned(),
        Field::UserName => "userName".to_owned(),
        Field::IdempotencyKey => "idempotencyKey".to_owned(),
        Field::Named(name) => name.clone(),
    }
}

/// A domain refusal, in the same words as over REST but with GraphQL's
/// field names; an invalid field is also named in `extensions.field`.
impl ErrorExtensions for DomainError {
    fn extend(&self) -> Error {
        let code = match self {
            DomainError::InvalidInput { .. } => BAD_USER_INPUT,
            DomainError::Unauthenticated(_) => UNAUTHENTICATED,
            DomainError::NotFound(_) => NOT_FOUND,
            DomainError::Forbidden(_) => FORBIDDEN,
            DomainError::KeyReused { .. } => IDEMPOTENCY_KEY_REUSED,
        };
        let field = match self {
            DomainError::InvalidInput { field, .. } | DomainError::KeyReused { field } => {
                Some(graphql_name(field))
            }
            _ => None,
        };
        Error::new(self.describe(graphql_name)).extend_with(move |_, extensions| {
            extensions.set("code", code);
            if let Some(field) = field {
                extensions.set("field", field);
            }
        })
    }
}

/// A store failure, answered without its detail. The error keeps the
/// store's error as its source, so that the cause is logged once, where
/// every response passes (see `limits`), and nowhere else.
impl ErrorExtensions for StoreError {
    fn extend(&self) -> Error {
        let answer = match self {
            StoreError::Unavailable { retry_after, .. } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                coded(
                    "the message could not be written in time and was not stored; try again",
                    SERVICE_UNAVAILABLE,
                )
                .extend_with(|_, extensions| extensions.set("retryAfter", seconds))
            }
            _ => coded("internal server error", INTERNAL_SERVER_ERROR),
        };
        Error {
            source: Some(Arc::new(self.clone())),
            ..answer
        }
    }
}

/// Gives an error made from a domain or store error by a plain `?` (which
/// async-graphql turns into an error without extensions, keeping the value
/// as its source) what `.extend()` would have given it: the same error
/// then reads the same whichever way a resolver returned it.
pub fn extend_from_source(error: &mut ServerError) {
    if error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
    {
        return;
    }
    let extended = if let Some(refusal) = error.source::<DomainError>() {
        refusal.extend()
    } else if let Some(failure) = error.source::<StoreError>() {
        failure.extend()
    } else {
        return;
    };
    error.message = extended.message;
    error.extensions = extended.extensions;
    error.source = extended.source;
}

/// Logs the store failure behind `error`, if any, and forgets it: called
/// on every error that leaves, so each cause is logged exactly once.
pub fn log_cause(error: &mut ServerError) {
    match error.source::<StoreError>() {
        Some(cause @ StoreError::Unavailable { .. }) => {
            tracing::warn!(error = %cause, "post refused")
        }
        Some(cause) => tracing::error!(error = %cause, "store failure"),
        None => return,
    }
    error.source = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Reason;

    #[test]
    fn domain_refusals_keep_their_words_with_graphql_names() {
        let error = DomainError::InvalidInput {
            field: Field::ToDate,
            reason: Reason::LaterThan(Field::FromDate),
        }
        .extend();
        assert_eq!(error.message, "toDate: must be later than fromDate");
        let extensions = error.extensions.unwrap();
        assert_eq!(
            extensions.get("code"),
            Some(&async_graphql::Value::from(BAD_USER_INPUT))
        );
        assert_eq!(
            extensions.get("field"),
            Some(&async_graphql::Value::from("toDate"))
        );
    }

    #[test]
    fn a_reused_idempotency_key_has_its_own_code_and_names_the_field() {
        let error = DomainError::KeyReused {
            field: Field::IdempotencyKey,
        }
        .extend();
        assert!(
            error
                .message
                .starts_with("idempotencyKey: this key was already used"),
            "{}",
            error.message
        );
        let extensions = error.extensions.unwrap();
        assert_eq!(
            extensions.get("code"),
            Some(&async_graphql::Value::from(IDEMPOTENCY_KEY_REUSED))
        );
        assert_eq!(
            extensions.get("field"),
            Some(&async_graphql::Value::from("idempotencyKey"))
        );
    }

    #[test]
    fn other_fields_keep_the_name_they_were_given() {
        let error = DomainError::invalid("hashtags[2]", "hashtag must not be empty").extend();
        assert_eq!(error.message, "hashtags[2]: hashtag must not be empty");
    }

    #[test]
    fn store_errors_hide_their_detail() {
        let cause = sea_orm::DbErr::Custom("password authentication failed".into());
        let error = StoreError::from(cause).extend();
        assert_eq!(error.message, "internal server error");
        let mut server = error.into_server_error(async_graphql::Pos::default());
        assert!(matches!(
            server.source::<StoreError>(),
            Some(StoreError::Database(_))
        ));
        log_cause(&mut server);
        assert!(server.source.is_none(), "logged once, then forgotten");
    }

    #[test]
    fn a_plain_question_mark_reads_as_extend_would() {
        let refusal = DomainError::InvalidInput {
            field: Field::UserName,
            reason: Reason::Rule("must not be empty".into()),
        };
        let pos = async_graphql::Pos::default();
        let mut plain = Error::from(refusal.clone()).into_server_error(pos);
        extend_from_source(&mut plain);
        assert_eq!(plain, refusal.extend().into_server_error(pos));
        assert_eq!(plain.message, "userName: must not be empty");

        let failure = StoreError::WriterStopped;
        let mut plain = Error::from(failure.clone()).into_server_error(pos);
        extend_from_source(&mut plain);
        assert_eq!(plain, failure.extend().into_server_error(pos));
        assert!(plain.source::<StoreError>().is_some(), "kept for the log");
    }
}
