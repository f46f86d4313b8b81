//! The one error type of the domain layer: what a client did wrong, in words
//! that name the field. The web faces map it to a status or a GraphQL code.

use std::fmt;

/// A request the domain refuses. Each variant carries a message meant for the
/// client: it names the offending field and never leaks internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// Input that breaks a rule: `field` names the parameter or JSON field.
    InvalidInput { field: String, message: String },
    /// No credentials, or credentials that do not identify a user.
    Unauthenticated(String),
    /// The thing asked for does not exist.
    NotFound(String),
}

impl DomainError {
    /// Input error for `field`, e.g. `invalid("limit", "must be between 1 and 1000")`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        DomainError::Unauthenticated(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        DomainError::NotFound(message.into())
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::InvalidInput { field, message } => write!(f, "{field}: {message}"),
            DomainError::Unauthenticated(message) | DomainError::NotFound(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for DomainError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_names_the_field_first() {
        let error = DomainError::invalid("limit", "must be between 1 and 1000");
        assert_eq!(error.to_string(), "limit: must be between 1 and 1000");
    }
}
