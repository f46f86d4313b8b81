//! The domain layer: the rules about messages, hashtags, users, dates and
//! pagination, free of any web framework or database. The REST and GraphQL
//! faces and the store all validate input through these types, so a request
//! is refused the same way whichever door it came through.

pub mod canonical;
pub mod cursor;
pub mod duration;
pub mod error;
pub mod hashtag;
pub mod id;
pub mod idempotency;
pub mod listing;
pub mod message;
pub mod text;
pub mod time;
pub mod trend;
pub mod user;

pub use cursor::Cursor;
pub use duration::Aggregation;
pub use error::{DomainError, Field, Reason};
pub use hashtag::{collect_hashtags, Hashtag};
pub use id::MessageId;
pub use idempotency::{Idempotency, IdempotencyKey, RequestHash};
pub use message::{Message, NewMessage, User};
pub use text::MessageText;
pub use time::parse_date;
pub use user::UserName;

/// Most distinct hashtags one message may carry, explicit and in the text.
pub const MAX_HASHTAGS: usize = 10;

/// Largest page a client may ask for: bounds the work of one request.
pub const MAX_LIMIT: u64 = 1000;

/// Page size when the client does not say.
pub const DEFAULT_LIMIT: u64 = 100;

/// Parses a page size (`limit` query parameter or argument): 1..=MAX_LIMIT.
///
/// Out-of-range values are refused rather than clamped, so a client learns
/// that it will not get the 5000 rows it asked for.
pub fn parse_limit(value: &str) -> Result<u64, DomainError> {
    let refuse = || DomainError::invalid("limit", "must be a whole number between 1 and 1000");
    let trimmed = value.trim();
    // Only plain digits: `u64::from_str` would also take a leading `+`.
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    match trimmed.parse::<u64>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(refuse()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(value: &str) {
        assert_eq!(
            parse_limit(value),
            Err(DomainError::invalid(
                "limit",
                "must be a whole number between 1 and 1000"
            )),
            "{value:?} should be refused"
        );
    }

    #[test]
    fn accepts_the_whole_range() {
        assert_eq!(parse_limit("1"), Ok(1));
        assert_eq!(parse_limit("100"), Ok(100));
        assert_eq!(parse_limit("1000"), Ok(MAX_LIMIT));
    }

    #[test]
    fn tolerates_surrounding_whitespace_and_leading_zeros() {
        assert_eq!(parse_limit(" 25 "), Ok(25));
        assert_eq!(parse_limit("007"), Ok(7));
    }

    #[test]
    fn refuses_out_of_range() {
        refused("0");
        refused("1001");
        refused("18446744073709551616"); // u64::MAX + 1
    }

    #[test]
    fn refuses_non_integers() {
        for value in ["", "  ", "-1", "+5", "1.5", "1e3", "ten", "10 0", "0x10"] {
            refused(value);
        }
    }

    #[test]
    fn default_is_within_bounds() {
        assert!((1..=MAX_LIMIT).contains(&DEFAULT_LIMIT));
    }
}
