//! Pagination cursors: one opaque token for REST `next_cursor`, GraphQL
//! relay cursors and resuming live feeds, so a client can carry a position
//! from one face to another.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{DomainError, MessageId};

/// Leads every encoded cursor, so the format can change later without
/// misreading old tokens.
const VERSION: u8 = 1;

/// Version byte plus the 16 id bytes.
const ENCODED_BYTES: usize = 17;

/// A position in a message listing: the id of the last message seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub id: MessageId,
}

impl Cursor {
    pub fn new(id: MessageId) -> Self {
        Cursor { id }
    }

    /// URL-safe base64 without padding, so the token needs no escaping in a
    /// query string.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; ENCODED_BYTES];
        bytes[0] = VERSION;
        bytes[1..].copy_from_slice(&self.id.to_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads back [`Cursor::encode`]. The engine refuses padding and stray
    /// trailing bits, so each cursor has exactly one spelling.
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        let refuse = || DomainError::invalid(field, "is not a valid cursor");
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| refuse())?;
        match bytes.split_first() {
            Some((&VERSION, id)) => MessageId::from_bytes(id)
                .map(Cursor::new)
                .ok_or_else(refuse),
            _ => Err(refuse()),
        }
    }
}

impl Cursor {
    /// A cursor as REST takes it: the opaque token, or a message id. The
    /// historical service's `next_cursor` was the id of the page's last
    /// message, so its clients pass ids; an id means the same position,
    /// "after this message". The two cannot be confused: a token is 23
    /// characters of base64, an id 26 of Crockford base32.
    pub fn parse_token_or_id(field: &str, s: &str) -> Result<Self, DomainError> {
        Cursor::parse(field, s).or_else(|refused| {
            MessageId::parse(field, s)
                .map(Cursor::new)
                .map_err(|_| refused)
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    /// The historical form (a message id) and the token name the same
    /// position; anything else is refused as before.
    #[test]
    fn rest_takes_a_token_or_a_message_id() {
        let id = MessageId::parse("id", "01D39ZY06FGSCTVN4T2V9PKHFZ").unwrap();
        let token = Cursor::new(id).encode();
        assert_eq!(token.len(), 23);
        assert_eq!(
            Cursor::parse_token_or_id("cursor", &token),
            Ok(Cursor::new(id))
        );
        assert_eq!(
            Cursor::parse_token_or_id("cursor", "01D39ZY06FGSCTVN4T2V9PKHFZ"),
            Ok(Cursor::new(id))
        );
        assert_eq!(
            Cursor::parse_token_or_id("cursor", "01d39zy06fgsctvn4t2v9pkhfz"),
            Ok(Cursor::new(id)),
            "ids are case-insensitive"
        );
        for bad in [
            "",
            "nope",
            "01D39ZY06FGSCTVN4T2V9PKHF",
            "AQGiHwbREd5dsyLdtYV7wj",
        ] {
            assert_eq!(
                Cursor::parse_token_or_id("cursor", bad),
                Cursor::parse("cursor", bad),
                "{bad:?} is refused as before"
            );
            assert!(Cursor::parse_token_or_id("cursor", bad).is_err());
        }
    }

    use ulid::Ulid;

    use super::*;

    fn cursor() -> Cursor {
        Cursor::new(MessageId::parse("id", "01D39ZY06FGSCTVN4T2V9PKHFZ").unwrap())
    }

    fn assert_refused(s: &str) {
        assert_eq!(
            Cursor::parse("after", s),
            Err(DomainError::invalid("after", "is not a valid cursor")),
            "{s:?}"
        );
    }

    #[test]
    fn round_trips() {
        let c = cursor();
        assert_eq!(Cursor::parse("after", &c.encode()), Ok(c));
        for ulid in [Ulid::nil(), Ulid(u128::MAX)] {
            let c = Cursor::new(MessageId::from_ulid(ulid));
            assert_eq!(Cursor::parse("after", &c.encode()), Ok(c));
        }
    }

    #[test]
    fn display_is_encode() {
        assert_eq!(cursor().to_string(), cursor().encode());
    }

    #[test]
    fn encoding_is_query_string_safe() {
        // All-ones bytes exercise the characters that differ from standard
        // base64 ('+' and '/' become '-' and '_').
        let encoded = Cursor::new(MessageId::from_ulid(Ulid(u128::MAX))).encode();
        assert_eq!(encoded.len(), 23);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn encoding_starts_with_version_one() {
        let bytes = URL_SAFE_NO_PAD.decode(cursor().encode()).unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..], &cursor().id.to_bytes());
    }

    #[test]
    fn known_encoding_is_stable() {
        // Clients store cursors; changing this format breaks them.
        assert_eq!(
            Cursor::new(MessageId::from_ulid(Ulid::nil())).encode(),
            "AQAAAAAAAAAAAAAAAAAAAAA"
        );
    }

    #[test]
    fn refuses_bad_base64() {
        assert_refused("");
        assert_refused("not base64!");
        assert_refused(&format!("{}=", cursor().encode()));
        // Standard-alphabet characters are not part of the URL-safe form.
        assert_refused(&cursor().encode().replace(['-', '_'], "+"));
        assert_refused("AQAAAAAAAAAAAAAAAAAAAA+");
        assert_refused(&format!(" {}", cursor().encode()));
    }

    #[test]
    fn refuses_non_canonical_trailing_bits() {
        // Last char 'B' sets a bit beyond the 17 bytes: same bytes as 'A'.
        assert_refused("AQAAAAAAAAAAAAAAAAAAAAB");
    }

    #[test]
    fn refuses_wrong_version() {
        let mut bytes = vec![2u8];
        bytes.extend_from_slice(&cursor().id.to_bytes());
        assert_refused(&URL_SAFE_NO_PAD.encode(&bytes));
        bytes[0] = 0;
        assert_refused(&URL_SAFE_NO_PAD.encode(&bytes));
    }

    #[test]
    fn refuses_wrong_length() {
        let full = URL_SAFE_NO_PAD.decode(cursor().encode()).unwrap();
        assert_refused(&URL_SAFE_NO_PAD.encode(&full[..16]));
        assert_refused(&URL_SAFE_NO_PAD.encode([&full[..], &[0]].concat()));
        assert_refused(&URL_SAFE_NO_PAD.encode([1u8]));
    }
}
