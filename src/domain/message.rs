//! Messages as the service sees them: what a client posts (already validated)
//! and what the store gives back.

use chrono::{DateTime, Utc};

use super::{Hashtag, MessageId, MessageText, UserName};

/// A user as shown in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub user: User,
    pub text: String,
    /// Display forms, in the order the author wrote them.
    pub hashtags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A post that passed validation: every field obeys the domain's rules, so
/// the store only has to write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub author: UserName,
    pub text: MessageText,
    /// Explicit tags and `#tags` from the text, de-duplicated, at most
    /// [`super::MAX_HASHTAGS`].
    pub hashtags: Vec<Hashtag>,
    /// The client's idempotency key and the hash of the body as sent, when
    /// it gave one (see [`NewMessage::with_idempotency`]).
    pub idempotency: Option<super::Idempotency>,
}

impl NewMessage {
    /// Validates a post: the text against `max_text_chars`, the explicit
    /// hashtags and those written in the text together.
    pub fn parse(
        author: UserName,
        text: &str,
        explicit_hashtags: &[String],
        max_text_chars: usize,
    ) -> Result<Self, super::DomainError> {
        let text = MessageText::parse(text, max_text_chars)?;
        let hashtags = super::collect_hashtags("hashtags", explicit_hashtags, text.as_str())?;
        Ok(NewMessage {
            author,
            text,
            hashtags,
            idempotency: None,
        })
    }

    /// The post, written at most once per `idempotency` key of its author.
    pub fn with_idempotency(mut self, idempotency: Option<super::Idempotency>) -> Self {
        self.idempotency = idempotency;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserName {
        UserName::parse("user", "alice").unwrap()
    }

    #[test]
    fn text_tags_join_the_explicit_ones_without_duplicates() {
        let post =
            NewMessage::parse(alice(), "  hello #Rust and #go  ", &["rust".into()], 500).unwrap();
        assert_eq!(post.text.as_str(), "hello #Rust and #go");
        let names: Vec<_> = post.hashtags.iter().map(|h| h.display()).collect();
        assert_eq!(names, ["rust", "go"]);
    }

    #[test]
    fn a_bad_explicit_hashtag_is_refused_by_name() {
        let error =
            NewMessage::parse(alice(), "hi", &["ok".into(), "not ok".into()], 500).unwrap_err();
        assert!(error.to_string().starts_with("hashtags[1]"), "{error}");
    }

    #[test]
    fn the_text_limit_is_the_configured_one() {
        assert!(NewMessage::parse(alice(), "abcd", &[], 3).is_err());
        assert!(NewMessage::parse(alice(), "abc", &[], 3).is_ok());
    }
}
