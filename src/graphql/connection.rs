//! Relay paging over the store's keyset pages: `first/after` walks from
//! the newest end, `last/before` from the oldest, in the newest-first
//! order every listing has. A cursor is the same token as REST's
//! `next_cursor`. The connection objects themselves (`MessageConnection`,
//! its edges and `PageInfo`) live with the types they connect, in
//! `types`, which builds them from a [`Page`]: this module knows nothing
//! of them.

use async_graphql::{Result, ResultExt};

use crate::domain::listing::{Direction, MessageFilter, PageRequest};
use crate::domain::{Cursor, DomainError, Message};
use crate::live::Live;
use crate::store::Store;

/// The largest `first` or `last` a connection accepts.
pub const MAX_PAGE: i32 = 100;
/// The page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: i32 = 20;

/// One page of a connection, newest first, and whether there is more on
/// either side of it.
pub struct Page {
    pub messages: Vec<Message>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// Relay paging arguments as given.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// What a connection field costs in the complexity limit: its page size
/// times what each node costs.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first.or(last).unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize;
    size.saturating_mul(child_complexity.max(1))
}

impl PageArgs {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        PageArgs {
            first,
            after,
            last,
            before,
        }
    }

    /// Validates the arguments into a page request of `size + 1` (the extra
    /// message tells whether there is more beyond the page).
    fn request(&self) -> Result<(PageRequest, u64), DomainError> {
        if self.first.is_some() && self.last.is_some() {
            return Err(DomainError::invalid(
                "last",
                "give first (with after) or last (with before), not both",
            ));
        }
        let check = |field: &str, value: i32| {
            if (1..=MAX_PAGE).contains(&value) {
                Ok(value as u64)
            } else {
                Err(DomainError::invalid(
                    field,
                    format!("must be between 1 and {MAX_PAGE}"),
                ))
            }
        };
        let older_than = self
            .after
            .as_deref()
            .map(|c| Cursor::parse("after", c))
            .transpose()?;
        let newer_than = self
            .before
            .as_deref()
            .map(|c| Cursor::parse("before", c))
            .transpose()?;
        let (direction, size) = match (self.first, self.last) {
            (_, Some(last)) => (Direction::Newer, check("last", last)?),
            (Some(first), None) => (Direction::Older, check("first", first)?),
            (None, None) => (Direction::Older, DEFAULT_PAGE as u64),
        };
        let page = PageRequest {
            older_than,
            newer_than,
            direction,
            limit: size + 1,
        };
        Ok((page, size))
    }
}

/// One connection page of `filter`, the page itself read through `live`'s
/// first-page cache when there is one (it answers only first pages, as the
/// store would).
pub async fn load_via(
    live: Option<&Live>,
    store: &Store,
    filter: &MessageFilter,
    args: &PageArgs,
) -> Result<Page> {
    let (page, size) = args.request().extend()?;
    let mut messages = match live {
        Some(live) => live.list(store, filter, &page).await,
        None => store.list(filter, &page).await,
    }
    .extend()?;
    let more_in_direction = messages.len() as u64 > size;
    messages.truncate(size as usize);

    // Beyond the page's far end: known from the extra message. Beyond the
    // cursor it started from: one indexed probe, only when there is a cursor.
    let (has_next_page, has_previous_page) = match page.direction {
        Direction::Older => {
            let newer = match page.older_than {
                Some(after) => exists(store, filter, PageRequest::newer(Some(after), 1)).await?,
                None => false,
            };
            (more_in_direction, newer)
        }
        Direction::Newer => {
            // Walked oldest first: show newest first like every listing.
            messages.reverse();
            let older = match page.newer_than {
                Some(before) => exists(store, filter, PageRequest::older(Some(before), 1)).await?,
                None => false,
            };
            (older, more_in_direction)
        }
    };

    Ok(Page {
        messages,
        has_next_page,
        has_previous_page,
    })
}

async fn exists(store: &Store, filter: &MessageFilter, probe: PageRequest) -> Result<bool> {
    Ok(!store.list(filter, &probe).await.extend()?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        for (first, last, field) in [
            (Some(0), None, "first"),
            (Some(101), None, "first"),
            (None, Some(0), "last"),
        ] {
            let args = PageArgs {
                first,
                last,
                ..PageArgs::default()
            };
            let error = args.request().unwrap_err();
            assert_eq!(
                error,
                DomainError::invalid(field, "must be between 1 and 100")
            );
        }
        let both = PageArgs {
            first: Some(1),
            last: Some(1),
            ..PageArgs::default()
        };
        assert!(both.request().is_err());
    }

    #[test]
    fn a_page_asks_for_one_more_than_it_shows() {
        let (page, size) = PageArgs {
            last: Some(5),
            ..PageArgs::default()
        }
        .request()
        .unwrap();
        assert_eq!((page.limit, size, page.direction), (6, 5, Direction::Newer));
        let (page, size) = PageArgs::default().request().unwrap();
        assert_eq!((page.limit, size), (21, 20));
    }

    #[test]
    fn complexity_counts_the_page_size() {
        assert_eq!(page_cost(Some(100), None, 5), 500);
        assert_eq!(page_cost(None, Some(3), 2), 6);
        assert_eq!(page_cost(None, None, 1), 20);
        assert_eq!(page_cost(Some(100_000), None, 1), 100);
    }
}
