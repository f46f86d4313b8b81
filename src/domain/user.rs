//! User names, and the historical bearer-token mode in which the token is
//! just the base64 of the user name (identification, not authentication).

use std::fmt;

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::{canonical, DomainError, Field};

/// Longest user name, in characters.
const MAX_USER_NAME_CHARS: usize = 64;

/// Standard base64 with or without padding. Non-zero trailing bits are
/// tolerated like Go's decoder does, since the tokens come from clients
/// written for the historical service.
const TOKEN_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A validated user name, in Unicode Normalization Form C (otherwise as
/// given: not trimmed, not case-folded).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserName(String);

impl UserName {
    /// Validates a user name given as `field`. It is not trimmed: names are
    /// identities, so `alice ` silently becoming `alice` would be worse than
    /// a refusal.
    pub fn parse(field: impl Into<Field>, raw: &str) -> Result<Self, DomainError> {
        let field = field.into();
        if raw.is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
            return Err(DomainError::invalid(
                field,
                "must not start or end with whitespace",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                field,
                "must not contain control characters",
            ));
        }
        if let Some(hidden) = canonical::first_hidden(raw) {
            return Err(DomainError::invalid(
                field,
                format!(
                    "must not contain invisible or direction-control characters (found {})",
                    canonical::describe(hidden)
                ),
            ));
        }
        // Compared and stored in NFC: canonically equal spellings are one
        // user. Counted in that form: composing can shorten a name.
        let name = canonical::nfc(raw);
        let length = name.chars().count();
        if length > MAX_USER_NAME_CHARS {
            return Err(DomainError::invalid(
                field,
                format!("must be at most {MAX_USER_NAME_CHARS} characters (got {length})"),
            ));
        }
        Ok(UserName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user named by an `Authorization: Bearer <token>` header value, where
    /// the token is the standard base64 of the UTF-8 user name. The scheme is
    /// matched case-insensitively and surrounding whitespace is ignored.
    pub fn from_bearer_token(header_value: &str) -> Result<UserName, DomainError> {
        UserName::from_historical_token(bearer_token(header_value)?)
    }

    /// The user named by a historical token (the token alone, without the
    /// `Bearer` scheme): the standard base64 of the UTF-8 user name.
    pub fn from_historical_token(token: &str) -> Result<UserName, DomainError> {
        let bytes = TOKEN_ENGINE
            .decode(token)
            .map_err(|_| DomainError::unauthenticated("bearer token is not valid base64"))?;
        let invalid_name = |problem: &str| {
            DomainError::unauthenticated(format!(
                "bearer token does not decode to a valid user name: {problem}"
            ))
        };
        let name = String::from_utf8(bytes).map_err(|_| invalid_name("it is not UTF-8 text"))?;
        UserName::parse("user", &name).map_err(|error| match error {
            DomainError::InvalidInput { reason, .. } => invalid_name(&reason.to_string()),
            other => other,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header value, whatever
/// kind of token it is. The scheme is matched case-insensitively and
/// surrounding whitespace is ignored.
pub fn bearer_token(header_value: &str) -> Result<&str, DomainError> {
    let malformed =
        || DomainError::unauthenticated("Authorization header must be 'Bearer <token>'");
    let (scheme, token) = header_value
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

/// Same as [`UserName::from_bearer_token`], for callers that prefer a
/// function.
pub fn from_bearer_token(header_value: &str) -> Result<UserName, DomainError> {
    UserName::from_bearer_token(header_value)
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    use super::*;

    fn name_error(raw: &str) -> String {
        match UserName::parse("author", raw) {
            Err(DomainError::InvalidInput { field, reason }) => {
                assert_eq!(field, "author");
                reason.to_string()
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn bearer(value: &str) -> Result<UserName, DomainError> {
        let result = UserName::from_bearer_token(value);
        assert_eq!(from_bearer_token(value), result);
        result
    }

    fn unauthenticated(message: &str) -> Result<UserName, DomainError> {
        Err(DomainError::unauthenticated(message))
    }

    #[test]
    fn names_are_kept_in_one_canonical_form() {
        let decomposed = UserName::parse("author", "Jose\u{301}").unwrap();
        let composed = UserName::parse("author", "Jos\u{e9}").unwrap();
        assert_eq!(decomposed, composed);
        assert_eq!(decomposed.as_str(), "Jos\u{e9}");
        // The length limit counts the composed form.
        assert!(UserName::parse("author", &"e\u{301}".repeat(64)).is_ok());
        assert_eq!(
            name_error(&"e\u{301}".repeat(65)),
            "must be at most 64 characters (got 65)"
        );
    }

    #[test]
    fn invisible_and_direction_characters_are_refused() {
        for (raw, found) in [
            ("alice\u{200b}", "U+200B (zero-width space)"),
            ("al\u{200d}ice", "U+200D (zero-width joiner)"),
            (
                "\u{202e}ecila",
                "U+202E (bidirectional embedding or override)",
            ),
            ("alice\u{2066}", "U+2066 (bidirectional isolate)"),
            ("alice\u{200f}", "U+200F (right-to-left mark)"),
            ("\u{feff}alice", "U+FEFF (zero-width no-break space)"),
        ] {
            assert_eq!(
                name_error(raw),
                format!(
                    "must not contain invisible or direction-control characters (found {found})"
                ),
                "{raw:?}"
            );
        }
        // Through a historical token: refused as a bad token, saying why.
        let token = STANDARD.encode("alice\u{200b}");
        match bearer(&format!("Bearer {token}")) {
            Err(error) => assert!(error.to_string().contains("U+200B"), "{error}"),
            Ok(name) => panic!("accepted {name:?}"),
        }
    }

    #[test]
    fn accepts_names_as_given() {
        for raw in [
            "alice",
            "Alice Smith",
            "a",
            "名前",
            "o'brien",
            "x@y.z",
            "😀",
        ] {
            let name = UserName::parse("author", raw).unwrap();
            assert_eq!(name.as_str(), raw);
            assert_eq!(name.to_string(), raw);
        }
        let longest = "é".repeat(64);
        assert_eq!(
            UserName::parse("author", &longest).unwrap().as_str(),
            longest
        );
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_ne!(
            UserName::parse("author", "Alice").unwrap(),
            UserName::parse("author", "alice").unwrap()
        );
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(name_error(""), "must not be empty");
        assert_eq!(
            name_error(&"a".repeat(65)),
            "must be at most 64 characters (got 65)"
        );
        for raw in [
            " alice",
            "alice ",
            "\talice",
            "alice\n",
            " ",
            "\u{3000}alice",
        ] {
            assert_eq!(
                name_error(raw),
                "must not start or end with whitespace",
                "{raw:?}"
            );
        }
        for raw in [
            "al\0ice",
            "al\nice",
            "al\u{7f}ice",
            "al\u{85}ice",
            "a\u{1b}[31m",
        ] {
            assert_eq!(
                name_error(raw),
                "must not contain control characters",
                "{raw:?}"
            );
        }
    }

    #[test]
    fn bearer_decodes_padded_and_unpadded_tokens() {
        for name in ["alice", "bob", "名前", "a"] {
            let expected = Ok(UserName::parse("user", name).unwrap());
            assert_eq!(
                bearer(&format!("Bearer {}", STANDARD.encode(name))),
                expected
            );
            assert_eq!(
                bearer(&format!("Bearer {}", STANDARD_NO_PAD.encode(name))),
                expected
            );
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_whitespace_tolerant() {
        let alice = Ok(UserName::parse("user", "alice").unwrap());
        for header in [
            "bearer YWxpY2U=",
            "BEARER YWxpY2U=",
            "  Bearer   YWxpY2U=  ",
            "Bearer\tYWxpY2U",
        ] {
            assert_eq!(bearer(header), alice, "{header:?}");
        }
    }

    #[test]
    fn bearer_uses_the_standard_alphabet() {
        // "~~~" encodes to "fn5+" with the standard alphabet.
        let tilde = UserName::parse("user", "~~~").unwrap();
        assert_eq!(bearer("Bearer fn5+"), Ok(tilde));
        assert_eq!(
            bearer("Bearer fn5-"),
            unauthenticated("bearer token is not valid base64")
        );
    }

    #[test]
    fn bearer_refuses_malformed_headers() {
        let malformed = unauthenticated("Authorization header must be 'Bearer <token>'");
        for header in [
            "",
            "   ",
            "Bearer",
            "Bearer   ",
            "YWxpY2U=",
            "Basic YWxpY2U=",
            "Bearer: YWxpY2U=",
            "Bearerx YWxpY2U=",
        ] {
            assert_eq!(bearer(header), malformed, "{header:?}");
        }
    }

    #[test]
    fn bearer_refuses_bad_base64() {
        let bad = unauthenticated("bearer token is not valid base64");
        for header in [
            "Bearer not base64",
            "Bearer YWxpY2U=x",
            "Bearer YWxp Y2U=",
            "Bearer !!!!",
            "Bearer Y",
            "Bearer YWxpY2U===",
        ] {
            assert_eq!(bearer(header), bad, "{header:?}");
        }
    }

    #[test]
    fn bearer_refuses_tokens_that_are_not_user_names() {
        let prefix = "bearer token does not decode to a valid user name: ";
        let not_utf8 = format!("Bearer {}", STANDARD.encode([0xff, 0xfe]));
        assert_eq!(
            bearer(&not_utf8),
            unauthenticated(&format!("{prefix}it is not UTF-8 text"))
        );
        let padded = format!("Bearer {}", STANDARD.encode(" alice"));
        assert_eq!(
            bearer(&padded),
            unauthenticated(&format!("{prefix}must not start or end with whitespace"))
        );
        let control = format!("Bearer {}", STANDARD.encode("ali\nce"));
        assert_eq!(
            bearer(&control),
            unauthenticated(&format!("{prefix}must not contain control characters"))
        );
        let long = format!("Bearer {}", STANDARD.encode("a".repeat(65)));
        assert_eq!(
            bearer(&long),
            unauthenticated(&format!("{prefix}must be at most 64 characters (got 65)"))
        );
    }
}
