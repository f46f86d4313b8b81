//! The text of a message: trimmed, non-empty and bounded in characters, so
//! every script gets the same room whatever its UTF-8 byte length.

use super::DomainError;

/// Longest message text when the deployment does not configure another.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 500;

/// A validated message text, already trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// Validates the JSON field `text`: surrounding whitespace is dropped,
    /// then 1 to `max_chars` characters remain, none of them NUL (PostgreSQL
    /// `text` cannot store NUL, so it is refused here rather than failing in
    /// the database on one backend only).
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, DomainError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(DomainError::invalid("text", "must not be empty"));
        }
        if text.contains('\0') {
            return Err(DomainError::invalid(
                "text",
                "must not contain NUL characters",
            ));
        }
        let length = text.chars().count();
        if length > max_chars {
            return Err(DomainError::invalid(
                "text",
                format!("must be at most {max_chars} characters (got {length})"),
            ));
        }
        Ok(MessageText(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<MessageText, DomainError> {
        MessageText::parse(raw, DEFAULT_MAX_TEXT_CHARS)
    }

    #[test]
    fn trims_and_keeps_inner_whitespace() {
        let text = parse("  hello\n  world \t\n").unwrap();
        assert_eq!(text.as_str(), "hello\n  world");
        assert_eq!(text.into_inner(), "hello\n  world");
    }

    #[test]
    fn refuses_empty_and_blank() {
        for raw in ["", " ", "\n\t ", "\u{3000}"] {
            assert_eq!(
                parse(raw),
                Err(DomainError::invalid("text", "must not be empty")),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn refuses_nul_anywhere() {
        for raw in ["\0", "a\0b", "abc\0", " \0 "] {
            assert_eq!(
                parse(raw),
                Err(DomainError::invalid(
                    "text",
                    "must not contain NUL characters"
                )),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn allows_other_control_characters() {
        assert_eq!(parse("a\u{7}b").unwrap().as_str(), "a\u{7}b");
    }

    #[test]
    fn limit_counts_characters_after_trimming() {
        let at_limit = "é".repeat(500);
        assert_eq!(parse(&at_limit).unwrap().as_str(), at_limit);
        assert!(parse(&format!("  {at_limit}  ")).is_ok());
        assert_eq!(
            parse(&"語".repeat(501)),
            Err(DomainError::invalid(
                "text",
                "must be at most 500 characters (got 501)"
            ))
        );
    }

    #[test]
    fn honours_a_configured_limit() {
        assert!(MessageText::parse("abc", 3).is_ok());
        assert_eq!(
            MessageText::parse("abcd", 3),
            Err(DomainError::invalid(
                "text",
                "must be at most 3 characters (got 4)"
            ))
        );
        assert_eq!(
            MessageText::parse("a", 0),
            Err(DomainError::invalid(
                "text",
                "must be at most 0 characters (got 1)"
            ))
        );
    }
}
