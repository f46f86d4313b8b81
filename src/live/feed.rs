//! A message feed that can resume: subscribe to the hub first, replay from
//! the store everything after the cursor, then continue live, skipping what
//! the replay already sent. Nothing committed after the cursor is missed
//! (it is either in the store when the replay reads it or in the hub queue,
//! which was open before the replay began) and nothing is sent twice.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use futures::Stream;

use super::hub::{Hub, HubEvent};
use crate::domain::listing::{MessageFilter, PageRequest};
use crate::domain::{Cursor, Message, MessageId};
use crate::store::{Store, StoreError};

/// Messages read from the store per replay statement.
const REPLAY_PAGE: u64 = 500;

/// How far before the subscription a replayed message may have been
/// created and still also arrive live (commit lag, clock skew between
/// processes): only such ids are remembered to skip them later.
fn overlap_window() -> Duration {
    Duration::seconds(60)
}

/// What a feed yields.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Message(Arc<Message>),
    /// The subscriber fell behind and is cut off; resuming after this
    /// cursor continues exactly where it stopped. The feed ends.
    Lagged {
        resume_after: Cursor,
    },
}

/// The messages that pass `filter`: after `after` (from the store, oldest
/// first), then live as they are published.
pub fn message_feed(
    store: Store,
    hub: Arc<Hub>,
    filter: MessageFilter,
    after: Option<Cursor>,
) -> impl Stream<Item = Result<FeedEvent, StoreError>> + Send {
    async_stream::stream! {
        let mut subscription = hub.subscribe(filter.clone());
        let subscribed_at = store.now();
        let mut replayed_recently: HashSet<MessageId> = HashSet::new();
        let mut last_sent: Option<MessageId> = after.map(|cursor| cursor.id);

        if let Some(mut cursor) = after {
            loop {
                let page = match store.list(&filter, &PageRequest::newer(Some(cursor), REPLAY_PAGE)).await {
                    Ok(page) => page,
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                };
                if page.is_empty() {
                    break;
                }
                for message in page {
                    cursor = Cursor::new(message.id);
                    last_sent = Some(message.id);
                    if message.created_at >= subscribed_at - overlap_window() {
                        replayed_recently.insert(message.id);
                    }
                    yield Ok(FeedEvent::Message(Arc::new(message)));
                }
            }
        }

        while let Some(event) = subscription.next().await {
            match event {
                HubEvent::Message(message) => {
                    if replayed_recently.remove(&message.id) {
                        continue;
                    }
                    last_sent = Some(message.id);
                    yield Ok(FeedEvent::Message(message));
                }
                HubEvent::Lagged { first_missed } => {
                    // Everything queued before the overflow was delivered:
                    // resume after the last one, or just before the first
                    // message that did not fit.
                    let resume = last_sent.unwrap_or_else(|| first_missed.predecessor());
                    yield Ok(FeedEvent::Lagged { resume_after: Cursor::new(resume) });
                    return;
                }
            }
        }
    }
}
