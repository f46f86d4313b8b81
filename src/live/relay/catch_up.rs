//! What both relays share: reading every id committed since a point in
//! time and publishing the messages the hub lacks (a catch-up), and the
//! database's clock, which the points in time are measured by, since the
//! processes' own clocks may disagree.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::domain::MessageId;
use crate::live::hub::{Hub, RECENT_IDS};
use crate::store::{Store, StoreError};

/// How far before its watermark a relay re-reads: rows commit out of id
/// order (ids are stamped when a write batch starts), and a process's
/// clock may run a little behind the database's.
pub(super) const LOOKBACK: chrono::Duration = chrono::Duration::seconds(5);
/// Ids a relay reads per statement.
const PAGE: u64 = 1000;
/// The most ids a catch-up reads after a failure (the notify relay's after
/// a reconnect, the tail relay's after a failed poll). The hub tells a
/// message it already published only among the last [`RECENT_IDS`]; with
/// more than half of that to read, a catch-up could deliver a message
/// twice, so subscribers are cut off as lagged instead.
pub(super) const CATCH_UP_MAX: usize = RECENT_IDS / 2;

/// The database's clock as last read, carried forward between reads by
/// this process's monotonic clock, which a wrong wall clock does not
/// affect: so the notify relay knows the database's time at the moment it
/// lost its connection without asking the database then.
#[derive(Clone, Copy)]
pub(super) struct DatabaseClock {
    at: DateTime<Utc>,
    read: Instant,
}

impl DatabaseClock {
    pub(super) async fn read(store: &Store) -> Result<DatabaseClock, StoreError> {
        let at = store.database_now().await?;
        Ok(DatabaseClock {
            at,
            read: Instant::now(),
        })
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.at + chrono::Duration::from_std(self.read.elapsed()).unwrap_or(chrono::Duration::MAX)
    }
}

/// Warns when this process's clock (which stamps its posts) differs from
/// the database's by more than half the lookback: the relays of other
/// processes measure recent by the database's clock, and a post whose id
/// is older than the lookback when it commits can be missed by them.
pub(super) fn warn_if_clock_is_off(store: &Store, database: &DatabaseClock) {
    let skew = store.now() - database.now();
    if skew.abs() > LOOKBACK / 2 {
        tracing::warn!(
            skew_ms = skew.num_milliseconds(),
            lookback_ms = LOOKBACK.num_milliseconds(),
            "this process's clock differs from the database's: relays elsewhere may miss \
             its posts (clock behind) or deliver them out of order (clock ahead)"
        );
    }
}

/// How a catch-up ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CatchUp {
    /// Every id after the start was read, and what was not published yet
    /// is; `newest` is the newest id read.
    Complete { newest: Option<MessageId> },
    /// A read failed; what was published before it stays published.
    Failed,
    /// There were more ids than the limit: nothing past it was published.
    TooMany,
}

/// Reads the ids from `from` on, page by page (the primary key alone), and
/// publishes those not in `seen` that the hub has not published (adding
/// them to `seen`), reading whole messages only for those. Past `max` ids,
/// stops: [`CatchUp::TooMany`]. Ids whose messages could not be read are
/// taken out of `seen` again, so a retry reads them.
pub(super) async fn catch_up(
    store: &Store,
    hub: &Hub,
    from: DateTime<Utc>,
    seen: &mut HashSet<MessageId>,
    max: Option<usize>,
) -> CatchUp {
    let mut after = MessageId::lowest_at_or_after(from).predecessor();
    let mut read = 0;
    loop {
        let ids = match store.ids_after(after, PAGE).await {
            Ok(ids) => ids,
            Err(error) => {
                tracing::warn!(%error, "relay could not read message ids");
                return CatchUp::Failed;
            }
        };
        read += ids.len();
        if max.is_some_and(|max| read > max) {
            return CatchUp::TooMany;
        }
        let full = ids.len() as u64 == PAGE;
        if let Some(last) = ids.last() {
            after = *last;
        }
        let new: Vec<MessageId> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        if !publish(store, hub, &new).await {
            for id in &new {
                seen.remove(id);
            }
            return CatchUp::Failed;
        }
        if !full {
            return CatchUp::Complete {
                newest: (read > 0).then_some(after),
            };
        }
    }
}

/// Reads the `ids` not yet published from the store and publishes them in
/// id order; false when they could not be read.
pub(super) async fn publish(store: &Store, hub: &Hub, ids: &[MessageId]) -> bool {
    let ids = hub.unpublished(ids);
    if ids.is_empty() {
        return true;
    }
    match store.get_many(&ids).await {
        Ok(mut messages) => {
            messages.sort_by_key(|m| m.id);
            for message in messages {
                hub.publish(Arc::new(message));
            }
            true
        }
        Err(error) => {
            tracing::warn!(%error, "relay could not read new messages");
            false
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::{NewMessage, UserName};
    use crate::store::StoreOptions;
    use std::time::Duration;

    /// An in-memory SQLite store, with its tables or without them.
    pub(in crate::live::relay) async fn store(migrate: bool) -> Store {
        let options = StoreOptions {
            migrate,
            ..StoreOptions::default()
        };
        Store::open("sqlite::memory:", options)
            .await
            .expect("an in-memory store")
    }

    pub(in crate::live::relay) async fn post(store: &Store, text: &str) -> MessageId {
        let author = UserName::parse("user", "ann").unwrap();
        let post = NewMessage::parse(author, text, &[], 500).unwrap();
        store.post(post).await.expect("stored").id
    }

    pub(in crate::live::relay) fn an_hour_ago() -> DateTime<Utc> {
        Utc::now() - chrono::Duration::hours(1)
    }

    /// More ids than a catch-up may publish: it stops before publishing
    /// the page that goes past the limit.
    #[tokio::test]
    async fn a_catch_up_past_its_limit_stops() {
        let store = store(true).await;
        let hub = Hub::new(16);
        for text in ["one", "two", "three"] {
            post(&store, text).await;
        }
        let mut seen = HashSet::new();
        let from = an_hour_ago();
        assert_eq!(
            catch_up(&store, &hub, from, &mut seen, Some(2)).await,
            CatchUp::TooMany
        );
        assert!(seen.is_empty(), "nothing published");
        let outcome = catch_up(&store, &hub, from, &mut seen, Some(3)).await;
        assert!(matches!(outcome, CatchUp::Complete { newest: Some(_) }));
        assert_eq!(seen.len(), 3);
    }

    /// What `f` logs, as text.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = capture.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// Start-up warns when this process's clock is more than half the
    /// lookback off the database's, ahead or behind, and not otherwise.
    #[tokio::test]
    async fn start_up_warns_when_this_process_clock_is_off_the_database_clock() {
        for (skew, warned) in [(30i64, true), (-30, true), (0, false)] {
            let options = StoreOptions {
                clock: Arc::new(move || {
                    let now = std::time::SystemTime::now();
                    let by = Duration::from_secs(skew.unsigned_abs());
                    if skew < 0 {
                        now - by
                    } else {
                        now + by
                    }
                }),
                ..StoreOptions::default()
            };
            let store = Store::open("sqlite::memory:", options).await.unwrap();
            let database = DatabaseClock::read(&store).await.unwrap();
            let logs = logged(|| warn_if_clock_is_off(&store, &database));
            assert_eq!(
                logs.contains("clock differs from the database's"),
                warned,
                "{skew} s: {logs:?}"
            );
        }
    }

    /// The database's clock, read on SQLite with its milliseconds; this
    /// process's system clock is the same machine's, so close to it.
    #[tokio::test]
    async fn the_database_clock_is_read() {
        let store = store(false).await;
        let before = Utc::now() - chrono::Duration::seconds(1);
        let database = store.database_now().await.expect("the database's time");
        let after = Utc::now() + chrono::Duration::seconds(1);
        assert!(before <= database && database <= after, "{database}");
    }
}
