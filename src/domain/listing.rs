//! What a listing asks for: a filter (user, hashtag, date range, all
//! combinable) and a page (a cursor, a direction and a size).

use chrono::{DateTime, Utc};

use super::error::{Field, Reason};
use super::{Cursor, DomainError, Hashtag, Message, MessageId, UserName};

/// Which messages a listing covers. Every field is optional and they combine
/// with AND. The date range is half-open: `[from, to)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageFilter {
    pub hashtag: Option<Hashtag>,
    pub user: Option<UserName>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl MessageFilter {
    /// The id range the date range stands for: a message's creation time is
    /// its id's timestamp, so `[from, to)` is `[lowest(from), lowest(to))`.
    pub fn id_range(&self) -> (Option<MessageId>, Option<MessageId>) {
        (
            self.from.map(MessageId::lowest_at_or_after),
            self.to.map(MessageId::lowest_at_or_after),
        )
    }

    /// Refuses a range that ends before it starts, naming the fields.
    pub fn validated(self) -> Result<Self, DomainError> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if to < from {
                return Err(DomainError::InvalidInput {
                    field: Field::ToDate,
                    reason: Reason::NotEarlierThan(Field::FromDate),
                });
            }
        }
        Ok(self)
    }

    /// Whether `message` passes this filter (used where messages are already
    /// in hand, e.g. live feeds).
    pub fn matches(&self, message: &Message) -> bool {
        let hashtag_ok = self.hashtag.as_ref().is_none_or(|wanted| {
            message
                .hashtags
                .iter()
                .any(|h| h.to_lowercase() == wanted.normalized())
        });
        let user_ok = self
            .user
            .as_ref()
            .is_none_or(|wanted| wanted.as_str() == message.user.name);
        let from_ok = self.from.is_none_or(|from| message.created_at >= from);
        let to_ok = self.to.is_none_or(|to| message.created_at < to);
        hashtag_ok && user_ok && from_ok && to_ok
    }
}

/// Which end of the bounded range a page is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The newest messages first (REST pages, relay `first`).
    Older,
    /// The oldest messages first (relay `last`, resuming a live feed).
    Newer,
}

/// One page of a listing: the messages strictly between two cursors (either
/// may be open), taken from the newest or the oldest end.
///
/// In the newest-first order every listing has, relay's `after: c` means
/// "older than c" and `before: c` means "newer than c".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Exclusive upper bound: only messages older than this one.
    pub older_than: Option<Cursor>,
    /// Exclusive lower bound: only messages newer than this one.
    pub newer_than: Option<Cursor>,
    pub direction: Direction,
    /// Already validated by the face that took it (1..=1000 over REST).
    pub limit: u64,
}

impl PageRequest {
    /// Newest first, older than the cursor: how the REST listing walks.
    pub fn older(cursor: Option<Cursor>, limit: u64) -> Self {
        PageRequest {
            older_than: cursor,
            newer_than: None,
            direction: Direction::Older,
            limit,
        }
    }

    /// Oldest first, newer than the cursor: replaying what came after it.
    pub fn newer(cursor: Option<Cursor>, limit: u64) -> Self {
        PageRequest {
            older_than: None,
            newer_than: cursor,
            direction: Direction::Newer,
            limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_range_that_ends_before_it_starts_is_refused() {
        let filter = MessageFilter {
            from: Some(Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap()),
            to: Some(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()),
            ..MessageFilter::default()
        };
        let error = filter.validated().unwrap_err();
        assert_eq!(
            error.to_string(),
            "to_date: must not be earlier than from_date"
        );
    }

    #[test]
    fn the_id_range_is_half_open_like_the_date_range() {
        let from = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap();
        let filter = MessageFilter {
            from: Some(from),
            to: Some(to),
            ..MessageFilter::default()
        };
        let (low, high) = filter.id_range();
        assert_eq!(low.unwrap().created_at(), from);
        assert_eq!(high.unwrap().created_at(), to);
    }
}
