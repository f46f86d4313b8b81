//! GraphQL errors with `extensions.code`, mapped once from the domain and
//! store errors, so the same input is refused the same way as over REST.
//! Internal errors are logged with their detail and answered without it.

use async_graphql::{Error, ErrorExtensions};

use crate::domain::DomainError;
use crate::store::StoreError;

pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const NOT_FOUND: &str = "NOT_FOUND";
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

/// The REST parameter names the domain's messages use, and their GraphQL
/// spellings: the rule and its words are shared, only the names differ.
const FIELD_NAMES: [(&str, &str); 3] = [
    ("from_date", "fromDate"),
    ("to_date", "toDate"),
    ("user_name", "userName"),
];

/// An error with `code` in its extensions.
pub fn coded(message: impl Into<String>, code: &'static str) -> Error {
    Error::new(message).extend_with(|_, extensions| extensions.set("code", code))
}

/// A domain refusal as a GraphQL error; `field` is named in its extensions.
pub fn domain_error(error: DomainError) -> Error {
    let code = match &error {
        DomainError::InvalidInput { .. } => BAD_USER_INPUT,
        DomainError::Unauthenticated(_) => UNAUTHENTICATED,
        DomainError::NotFound(_) => NOT_FOUND,
    };
    let message = FIELD_NAMES
        .iter()
        .fold(error.to_string(), |text, (rest, graphql)| {
            text.replace(rest, graphql)
        });
    let field = match &error {
        DomainError::InvalidInput { field, .. } => Some(graphql_name(field)),
        _ => None,
    };
    Error::new(message).extend_with(move |_, extensions| {
        extensions.set("code", code);
        if let Some(field) = &field {
            extensions.set("field", field.as_str());
        }
    })
}

/// A store failure: logged in full, answered as a bare internal error.
pub fn store_error(error: StoreError) -> Error {
    if let StoreError::Unavailable { retry_after, .. } = &error {
        tracing::warn!(%error, "post refused");
        let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        return coded(
            "the message could not be written in time and was not stored; try again",
            SERVICE_UNAVAILABLE,
        )
        .extend_with(|_, extensions| extensions.set("retryAfter", seconds));
    }
    tracing::error!(%error, "store failure");
    coded("internal server error", INTERNAL_SERVER_ERROR)
}

fn graphql_name(field: &str) -> String {
    FIELD_NAMES
        .iter()
        .find(|(rest, _)| *rest == field)
        .map_or_else(|| field.to_owned(), |(_, graphql)| (*graphql).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_refusals_keep_their_words_with_graphql_names() {
        let error = domain_error(DomainError::invalid(
            "to_date",
            "must be later than from_date",
        ));
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
    fn store_errors_hide_their_detail() {
        let error = store_error(StoreError::Database(
            "password authentication failed".into(),
        ));
        assert_eq!(error.message, "internal server error");
    }
}
