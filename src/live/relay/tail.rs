//! The tail relay: every interval, read the ids committed after a
//! watermark and publish the messages not published yet. The watermark is
//! the newest id read, never ahead of the database's clock, less the
//! lookback: a process whose clock runs ahead stamps ids in the future,
//! and a watermark that followed them would skip the other processes'
//! posts until the database's clock caught up.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::catch_up::{catch_up, CatchUp, CATCH_UP_MAX, LOOKBACK};
use super::RelayHealth;
use crate::domain::MessageId;
use crate::live::hub::Hub;
use crate::store::Store;

pub(super) async fn run_tail(
    store: Store,
    hub: Arc<Hub>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    health: Arc<RelayHealth>,
) {
    let mut tail = Tail::new(store.now(), CATCH_UP_MAX);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => {}
        }
        // Other processes' marks, read before the ids they cover.
        store.poll_marks().await;
        if tail.poll(&store, &hub).await {
            health.polled(interval);
        } else {
            health.lost();
        }
    }
}

/// What the tail relay knows between polls.
struct Tail {
    /// The ids read inside the lookback, not to publish twice.
    seen: HashSet<MessageId>,
    /// The newest id read (this process's clock at first).
    newest: DateTime<Utc>,
    /// Where the next poll reads from, once one has succeeded.
    from: Option<DateTime<Utc>>,
    /// Whether the last poll failed: the next one catches up, and may read
    /// at most `catch_up_max` ids.
    behind: bool,
    catch_up_max: usize,
}

impl Tail {
    fn new(now: DateTime<Utc>, catch_up_max: usize) -> Tail {
        Tail {
            seen: HashSet::new(),
            newest: now,
            from: None,
            behind: false,
            catch_up_max,
        }
    }

    /// One poll; false when posts may have been missed or delayed (a read
    /// failed, or the relay was too far behind to catch up).
    ///
    /// A failed poll leaves the watermark where it was, so the next one
    /// reads the same ids again: a failure delays posts, it does not lose
    /// them. Only a catch-up with more ids than the hub can tell apart from
    /// what it published gives up: every subscriber is then cut off as
    /// lagged, with a cursor before the watermark, and the relay goes on
    /// from the database's present.
    async fn poll(&mut self, store: &Store, hub: &Hub) -> bool {
        // Read before the ids: what commits after this read has an id past
        // this instant less the lookback, unless its process's clock runs
        // behind the database's by more than that.
        let database_now = match store.database_now().await {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(%error, "tail relay could not read the database's clock");
                self.behind = true;
                return false;
            }
        };
        let start = self
            .from
            .unwrap_or_else(|| self.newest.min(database_now) - LOOKBACK);
        // Unbounded while keeping up: a busy database may commit many ids
        // within one lookback.
        let max = self.behind.then_some(self.catch_up_max);
        let healthy = match catch_up(store, hub, start, &mut self.seen, max).await {
            CatchUp::Complete { newest } => {
                if let Some(newest) = newest {
                    self.newest = self.newest.max(newest.created_at());
                }
                true
            }
            CatchUp::Failed => {
                self.behind = true;
                return false;
            }
            CatchUp::TooMany => {
                tracing::warn!(
                    "tail relay too far behind to catch up: live subscribers are told they lagged"
                );
                hub.lag_everyone(MessageId::lowest_at_or_after(start));
                self.newest = self.newest.max(database_now);
                false
            }
        };
        self.behind = false;
        // Never past the database's clock: a process whose clock runs ahead
        // must not move it past the others' posts.
        let from = self.newest.min(database_now) - LOOKBACK;
        self.from = Some(from);
        // Only ids inside the lookback can be read again.
        let horizon = from - chrono::Duration::seconds(1);
        self.seen.retain(|id| id.created_at() >= horizon);
        healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::listing::MessageFilter;
    use crate::live::hub::HubEvent;
    use crate::live::relay::catch_up::tests::{an_hour_ago, post, store};
    use crate::store::migrate_database;

    /// A failed poll (here the store has no tables yet) leaves the relay
    /// unhealthy but running: once the store answers, the next poll
    /// publishes what was committed, once.
    #[tokio::test]
    async fn after_a_failed_poll_the_next_reads_again() {
        let store = store(false).await;
        let hub = Hub::new(16);
        let mut subscription = hub.subscribe(MessageFilter::default());
        let mut tail = Tail::new(an_hour_ago(), 100);
        assert!(!tail.poll(&store, &hub).await, "no tables");
        migrate_database(store.connection()).await.unwrap();
        let first = post(&store, "one").await;
        assert!(tail.poll(&store, &hub).await);
        let second = post(&store, "two").await;
        assert!(tail.poll(&store, &hub).await);
        assert!(tail.poll(&store, &hub).await, "nothing new");
        hub.delivered().await;
        let mut got = Vec::new();
        while let Some(message) = subscription.try_next() {
            got.push(message.id);
        }
        assert_eq!(got, [first, second]);
    }

    /// "Say so when catching up is impossible": behind by more ids than a
    /// catch-up may publish, the relay cuts every subscriber off as lagged
    /// at its watermark, then goes on.
    #[tokio::test]
    async fn too_far_behind_every_subscriber_is_told_it_lagged() {
        let store = store(true).await;
        let hub = Hub::new(16);
        let mut subscription = hub.subscribe(MessageFilter::default());
        let mut tail = Tail::new(an_hour_ago(), 2);
        let from = an_hour_ago();
        tail.from = Some(from);
        tail.behind = true;
        let mut ids = Vec::new();
        for text in ["one", "two", "three"] {
            ids.push(post(&store, text).await);
        }
        assert!(!tail.poll(&store, &hub).await);
        hub.delivered().await;
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
        match event.expect("the subscription ended") {
            Some(HubEvent::Lagged { first_missed }) => {
                assert_eq!(first_missed, MessageId::lowest_at_or_after(from))
            }
            other => panic!("expected lagged, got {other:?}"),
        }
        // It goes on from the database's present less the lookback: a
        // later subscriber gets what it had not published (all posted
        // within the lookback), and a later post.
        let mut later = hub.subscribe(MessageFilter::default());
        ids.push(post(&store, "four").await);
        assert!(tail.poll(&store, &hub).await);
        hub.delivered().await;
        let mut got = Vec::new();
        while let Some(message) = later.try_next() {
            got.push(message.id);
        }
        assert_eq!(got, ids);
    }
}
