//! A message feed that can resume: subscribe to the hub first, replay from
//! the store everything after the cursor, then continue live, skipping what
//! the replay already sent. Nothing committed after the cursor is missed
//! (it is either in the store when the replay reads it or in the hub queue,
//! which was open before the replay began) and nothing is sent twice.
//!
//! Ids are stamped when a write batch starts, so with several processes a
//! message can reach this one after a message with a larger id (its commit
//! or its relay was slower). A resume cursor is "everything up to here", so
//! the live phase holds each message for the order window (zero when no
//! other process can post) and releases them in id order: whatever arrives
//! within the window of a larger id still goes out before it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as TimeDelta;
use futures::Stream;
use tokio::time::Instant;

use super::hub::{Hub, HubEvent};
use crate::domain::listing::{MessageFilter, PageRequest};
use crate::domain::{Cursor, Message, MessageId};
use crate::store::{Store, StoreError};

/// Messages read from the store per replay statement.
const REPLAY_PAGE: u64 = 500;

/// How far before the subscription a replayed message may have been
/// created and still also arrive live (commit lag, clock skew between
/// processes): only such ids are remembered, and only this long, to skip
/// their live copies.
const OVERLAP: Duration = Duration::from_secs(60);

/// What a feed yields.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Message(Arc<Message>),
    /// The subscriber fell behind and is cut off; resuming after this
    /// cursor continues exactly where it stopped. The feed ends.
    Lagged {
        resume_after: Cursor,
    },
    /// The resume cursor is further back than a replay may reach: `max`
    /// messages were sent, more follow. The client pages through the rest
    /// with the listings (from this cursor's time), then resumes from the
    /// newest it has. The feed ends.
    ReplayLimit {
        resume_after: Cursor,
        max: usize,
    },
}

/// How much a feed may hold for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedLimits {
    /// The most messages a resume replays from the store.
    pub max_replay: usize,
    /// The most live messages kept while the replay runs; past it the
    /// subscriber gets `Lagged`.
    pub max_pending: usize,
}

/// The messages that pass `filter`: after `after` (from the store, oldest
/// first), then live as they are published, in id order within
/// `order_window` (see the module documentation).
pub fn message_feed(
    store: Store,
    hub: Arc<Hub>,
    filter: MessageFilter,
    after: Option<Cursor>,
    order_window: Duration,
    limits: FeedLimits,
) -> impl Stream<Item = Result<FeedEvent, StoreError>> + Send {
    async_stream::stream! {
        let mut subscription = hub.subscribe(filter.clone());
        let subscribed_at = store.now();
        let mut replayed_recently: HashSet<MessageId> = HashSet::new();
        let mut last_sent: Option<MessageId> = after.map(|cursor| cursor.id);
        // Live messages that arrive while the replay runs: taken off the hub
        // queue page by page, so that a long replay does not overflow it.
        let mut arrived_during_replay: Vec<Arc<Message>> = Vec::new();

        if let Some(mut cursor) = after {
            let mut replayed = 0usize;
            loop {
                // One more than may still be sent: whether more follow.
                let room = (limits.max_replay - replayed) as u64 + 1;
                let page = match store.list(&filter, &PageRequest::newer(Some(cursor), REPLAY_PAGE.min(room))).await {
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
                    if replayed == limits.max_replay {
                        yield Ok(FeedEvent::ReplayLimit { resume_after: cursor, max: limits.max_replay });
                        return;
                    }
                    replayed += 1;
                    cursor = Cursor::new(message.id);
                    last_sent = Some(message.id);
                    if message.created_at >= subscribed_at - TimeDelta::from_std(OVERLAP).unwrap_or_default() {
                        replayed_recently.insert(message.id);
                    }
                    yield Ok(FeedEvent::Message(Arc::new(message)));
                }
                while let Some(message) = subscription.try_next() {
                    if arrived_during_replay.len() == limits.max_pending {
                        // More arrived than one subscriber may hold: the
                        // replay's position is exact, resume from there.
                        yield Ok(FeedEvent::Lagged { resume_after: cursor });
                        return;
                    }
                    arrived_during_replay.push(message);
                }
            }
        }
        let live_since = Instant::now();

        // Held messages by id, with the time each arrived.
        let mut held: BTreeMap<MessageId, (Arc<Message>, Instant)> = BTreeMap::new();
        for message in arrived_during_replay {
            if !replayed_recently.remove(&message.id) {
                held.insert(message.id, (message, Instant::now()));
            }
        }
        loop {
            // Release, in id order, what has waited its window.
            while let Some((_, (_, arrived))) = held.first_key_value() {
                if arrived.elapsed() < order_window {
                    break;
                }
                if let Some((id, (message, _))) = held.pop_first() {
                    last_sent = Some(id);
                    yield Ok(FeedEvent::Message(message));
                }
            }
            if !replayed_recently.is_empty() && live_since.elapsed() > OVERLAP {
                replayed_recently = HashSet::new();
            }

            let next_release = held.first_key_value().map(|(_, (_, arrived))| *arrived + order_window);
            let event = match next_release {
                Some(at) => tokio::select! {
                    event = subscription.next() => Some(event),
                    _ = tokio::time::sleep_until(at) => None,
                },
                None => Some(subscription.next().await),
            };
            match event {
                // A held message is due.
                None => {}
                Some(Some(HubEvent::Message(message))) if !replayed_recently.remove(&message.id) => {
                    held.insert(message.id, (message, Instant::now()));
                }
                // Already sent by the replay.
                Some(Some(HubEvent::Message(_))) => {}
                Some(Some(HubEvent::Lagged { first_missed })) => {
                    // What is held was delivered to this feed: send it, in
                    // order. Resume just before the first message that did
                    // not fit, unless everything sent is older (if a late
                    // message sorts below what was sent, the resume repeats
                    // a few rather than lose one).
                    while let Some((id, (message, _))) = held.pop_first() {
                        last_sent = Some(id);
                        yield Ok(FeedEvent::Message(message));
                    }
                    let before_missed = first_missed.predecessor();
                    let resume = last_sent.map_or(before_missed, |sent| sent.min(before_missed));
                    yield Ok(FeedEvent::Lagged { resume_after: Cursor::new(resume) });
                    return;
                }
                // The hub closed (shutdown): deliver what is held, then end.
                Some(None) => {
                    while let Some((_, (message, _))) = held.pop_first() {
                        yield Ok(FeedEvent::Message(message));
                    }
                    return;
                }
            }
        }
    }
}
