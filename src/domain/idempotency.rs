//! Idempotency keys: a client names a post with a key of its choosing, so
//! that retrying it (after a lost answer, a dropped connection, a timeout)
//! returns the first post's message instead of writing a second one.
//!
//! A key is 1 to [`MAX_KEY_LEN`] visible ASCII characters (`!` to `~`), so
//! that it travels unchanged in an HTTP header and compares byte for byte.
//! A retry must carry the same body as the first post: "the same body" is
//! the same `text`, byte for byte as sent (before any trimming), and the
//! same `hashtags`, as sent, in the same order (none given and an empty list
//! are the same). The body is compared through its [`RequestHash`].

use ring::digest::{digest, SHA256};

use super::{DomainError, Field, Reason};

/// The longest key, in characters (all ASCII, so also bytes).
pub const MAX_KEY_LEN: usize = 255;

/// A client's idempotency key, validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a key as sent; the error names [`Field::IdempotencyKey`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let refuse = |rule: &str| DomainError::InvalidInput {
            field: Field::IdempotencyKey,
            reason: Reason::Rule(rule.to_owned()),
        };
        if raw.is_empty() {
            return Err(refuse("must not be empty"));
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(refuse("must be at most 255 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse(
                "must be visible ASCII characters only (`!` to `~`, no spaces or control characters)",
            ));
        }
        Ok(IdempotencyKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The SHA-256 of a post's body in canonical form: what "the same body"
/// means for a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHash(pub [u8; 32]);

impl RequestHash {
    /// The hash of `text` and `hashtags` as sent. Each string is written
    /// with its length first, so no two different bodies share a canonical
    /// form (`["ab"]` and `["a", "b"]` differ).
    pub fn of_post(text: &str, hashtags: &[String]) -> Self {
        let mut canonical = Vec::with_capacity(32 + text.len());
        canonical.extend_from_slice(b"dunder post v1\0");
        push_string(&mut canonical, text);
        canonical.extend_from_slice(&(hashtags.len() as u64).to_be_bytes());
        for tag in hashtags {
            push_string(&mut canonical, tag);
        }
        let hash = digest(&SHA256, &canonical);
        let mut bytes = [0; 32];
        bytes.copy_from_slice(hash.as_ref());
        RequestHash(bytes)
    }

    /// From the stored bytes; `None` when they are not a SHA-256.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(RequestHash)
    }
}

fn push_string(canonical: &mut Vec<u8>, value: &str) {
    canonical.extend_from_slice(&(value.len() as u64).to_be_bytes());
    canonical.extend_from_slice(value.as_bytes());
}

/// A post's key with the hash of its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub request_hash: RequestHash,
}

impl Idempotency {
    /// `raw` validated as a key, with the hash of the body as sent.
    pub fn parse(raw: &str, text: &str, hashtags: &[String]) -> Result<Self, DomainError> {
        Ok(Idempotency {
            key: IdempotencyKey::parse(raw)?,
            request_hash: RequestHash::of_post(text, hashtags),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> String {
        match IdempotencyKey::parse(raw) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("{raw:?} should be refused"),
        }
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("9f1c-2b~!{}").is_ok());
        assert_eq!(refused(""), "Idempotency-Key: must not be empty");
        assert_eq!(
            refused(&"k".repeat(256)),
            "Idempotency-Key: must be at most 255 characters"
        );
        for raw in [
            "with space",
            "tab\there",
            "nul\0",
            "del\u{7f}",
            "café",
            "\u{200b}",
        ] {
            assert!(refused(raw).starts_with("Idempotency-Key: must be visible ASCII"));
        }
    }

    #[test]
    fn the_same_body_has_the_same_hash_and_any_change_another() {
        let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let first = RequestHash::of_post("hello", &tags(&["a", "b"]));
        assert_eq!(first, RequestHash::of_post("hello", &tags(&["a", "b"])));
        assert_ne!(first, RequestHash::of_post("hello ", &tags(&["a", "b"])));
        assert_ne!(first, RequestHash::of_post("hello", &tags(&["b", "a"])));
        assert_ne!(first, RequestHash::of_post("hello", &tags(&["ab"])));
        assert_ne!(
            RequestHash::of_post("ab", &[]),
            RequestHash::of_post("a", &tags(&["b"]))
        );
        assert_eq!(RequestHash::from_slice(&first.0), Some(first));
        assert_eq!(RequestHash::from_slice(&[1, 2, 3]), None);
    }
}
