//! Relay global ids: opaque, URL-safe tokens that name the type and the key
//! of a node (`Message` by its ULID, `User` by its numeric id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::domain::{DomainError, MessageId};

/// What a global id points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalId {
    Message(MessageId),
    User(i64),
}

impl GlobalId {
    pub fn encode(&self) -> String {
        let plain = match self {
            GlobalId::Message(id) => format!("Message:{id}"),
            GlobalId::User(id) => format!("User:{id}"),
        };
        URL_SAFE_NO_PAD.encode(plain)
    }

    /// Decodes a global id; `field` names the argument in the error.
    pub fn parse(field: &str, token: &str) -> Result<GlobalId, DomainError> {
        let invalid = || DomainError::invalid(field, "is not a valid id");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let plain = String::from_utf8(bytes).map_err(|_| invalid())?;
        match plain.split_once(':') {
            Some(("Message", key)) => MessageId::parse(field, key)
                .map(GlobalId::Message)
                .map_err(|_| invalid()),
            Some(("User", key)) => key.parse().map(GlobalId::User).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_opaque() {
        let message = GlobalId::Message(MessageId::from_ulid(ulid::Ulid::new()));
        let user = GlobalId::User(42);
        for id in [message, user] {
            let token = id.encode();
            assert!(!token.contains(':'), "{token}");
            assert_eq!(GlobalId::parse("id", &token), Ok(id));
        }
    }

    #[test]
    fn anything_else_is_refused_by_name() {
        for token in ["", "!!", "VXNlcjp4", "Zm9vOjE"] {
            assert_eq!(
                GlobalId::parse("id", token),
                Err(DomainError::invalid("id", "is not a valid id")),
                "{token}"
            );
        }
    }
}
