//! The one error type of the domain layer: what a client did wrong, as data
//! (the field and the reason) that each web face renders in its own words:
//! REST names fields as the historical service did (`to_date`), GraphQL as
//! its schema does (`toDate`). The faces map the kind to a status or a
//! GraphQL code.

use std::fmt;

/// A request the domain refuses. Each variant carries what the client is
/// told: which field, and why; never internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// Input that breaks a rule: `field` names the parameter or JSON field.
    InvalidInput { field: Field, reason: Reason },
    /// No credentials, or credentials that do not identify a user.
    Unauthenticated(String),
    /// The thing asked for does not exist.
    NotFound(String),
    /// Credentials that identify a user, but do not allow this (a token of
    /// `read` scope asked to post).
    Forbidden(String),
    /// An idempotency key (named by `field`) already used by this user for
    /// a post with a different body: the post is refused, nothing written.
    KeyReused { field: Field },
}

/// A field of a request. The fields both faces share under different
/// spellings are variants, so that each face names them its own way; any
/// other field is named by the caller, spelled the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The start of a date range.
    FromDate,
    /// The end of a date range.
    ToDate,
    /// The user a listing is filtered by.
    UserName,
    /// A post's idempotency key (a header over REST, an input field over
    /// GraphQL).
    IdempotencyKey,
    /// A field named by the caller (`limit`, `hashtags[3]`, `after`).
    Named(String),
}

impl Field {
    /// The name in the domain's own spelling (snake case, which the REST
    /// routes keep from the historical service).
    pub fn name(&self) -> &str {
        match self {
            Field::FromDate => "from_date",
            Field::ToDate => "to_date",
            Field::UserName => "user_name",
            Field::IdempotencyKey => "Idempotency-Key",
            Field::Named(name) => name,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<&str> for Field {
    fn from(name: &str) -> Self {
        Field::Named(name.to_owned())
    }
}

impl From<String> for Field {
    fn from(name: String) -> Self {
        Field::Named(name)
    }
}

impl PartialEq<&str> for Field {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

/// Why a field was refused. A reason that names another field keeps it as
/// a [`Field`], so that the faces can spell it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A rule in words that name no other field.
    Rule(String),
    /// The end of a range that must come after its start.
    LaterThan(Field),
    /// The end of a range that must not come before its start.
    NotEarlierThan(Field),
}

impl Reason {
    /// The reason in words, with other fields named by `name`.
    pub fn describe(&self, name: impl Fn(&Field) -> String) -> String {
        match self {
            Reason::Rule(words) => words.clone(),
            Reason::LaterThan(other) => format!("must be later than {}", name(other)),
            Reason::NotEarlierThan(other) => format!("must not be earlier than {}", name(other)),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(|field| field.name().to_owned()))
    }
}

impl DomainError {
    /// Input error for `field`, e.g. `invalid("limit", "must be between 1 and 1000")`.
    pub fn invalid(field: impl Into<Field>, message: impl Into<String>) -> Self {
        DomainError::InvalidInput {
            field: field.into(),
            reason: Reason::Rule(message.into()),
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        DomainError::Unauthenticated(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        DomainError::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        DomainError::NotFound(message.into())
    }

    /// The message with fields named by `name`: `"{field}: {reason}"` for
    /// invalid input, the message itself otherwise.
    pub fn describe(&self, name: impl Fn(&Field) -> String) -> String {
        match self {
            DomainError::InvalidInput { field, reason } => {
                format!("{}: {}", name(field), reason.describe(name))
            }
            DomainError::KeyReused { field } => format!(
                "{}: this key was already used for a post with a different body (text or hashtags); a new message needs a new key",
                name(field)
            ),
            DomainError::Unauthenticated(message)
            | DomainError::NotFound(message)
            | DomainError::Forbidden(message) => message.clone(),
        }
    }
}

/// In the domain's own spelling of field names (see [`Field::name`]).
impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(|field| field.name().to_owned()))
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

    #[test]
    fn each_face_spells_the_fields_its_own_way() {
        let error = DomainError::InvalidInput {
            field: Field::ToDate,
            reason: Reason::LaterThan(Field::FromDate),
        };
        assert_eq!(error.to_string(), "to_date: must be later than from_date");
        let shouting = error.describe(|field| field.name().to_uppercase());
        assert_eq!(shouting, "TO_DATE: must be later than FROM_DATE");
    }
}
