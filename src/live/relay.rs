//! Relays: how a post accepted by another Dunder process on the same
//! database reaches this process's subscribers. The database stays the one
//! source of truth; a relay only learns which ids are new, reads them from
//! the store and publishes them to the hub (which drops ids it has already
//! published, such as this process's own posts).
//!
//! - `notify` (PostgreSQL): each write batch runs `pg_notify` with its ids in
//!   its transaction; a LISTEN connection hears them on commit.
//! - `tail` (CockroachDB, which has no LISTEN/NOTIFY; usable on PostgreSQL
//!   and SQLite too): every interval, read the ids newer than a watermark a
//!   few seconds back, because rows can commit out of id order, then the
//!   messages not published yet.
//!
//! Each relay keeps a [`RelayHealth`]: whether it is carrying posts now,
//! and a count of the times it may have missed some. The first-page cache
//! is usable only while the relay is healthy, and drops what it filled
//! before a possible miss.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DbBackend, DbErr, RuntimeErr};
use tokio::sync::watch;

use super::hub::Hub;
use crate::config::RelayMode;
use crate::domain::MessageId;
use crate::store::{Store, StoreError, NOTIFY_CHANNEL};

/// How far back the tail relay re-reads, for rows that commit late.
const TAIL_LOOKBACK: chrono::Duration = chrono::Duration::seconds(5);
/// Ids the tail relay reads per statement.
const TAIL_PAGE: u64 = 1000;

/// The relay a process runs, once `auto` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveRelay {
    Notify,
    Tail,
    Off,
}

/// How late a tail poll may be, beyond two intervals, before the relay
/// counts as behind.
const TAIL_GRACE: Duration = Duration::from_millis(500);

/// What [`RelayHealth`] knows of the relay's kind.
const KIND_NONE: u8 = 0;
const KIND_NOTIFY: u8 = 1;
const KIND_TAIL: u8 = 2;

/// Whether this process's relay is carrying other processes' posts now.
///
/// Healthy means: a relay runs (never with `off`, which carries nothing),
/// its LISTEN connection is up (notify) or its last poll succeeded and the
/// next is not overdue (tail). `misses` counts the moments the relay may
/// have lost posts (a dropped connection, a failed read): anything built
/// from what it carried before such a moment may lack a post.
pub struct RelayHealth {
    kind: AtomicU8,
    up: AtomicBool,
    /// When the last poll succeeded, in milliseconds since `origin`.
    last_poll_ms: AtomicU64,
    /// The most a poll may be late, in milliseconds (tail only).
    overdue_ms: AtomicU64,
    misses: AtomicU64,
    origin: Instant,
}

impl Default for RelayHealth {
    fn default() -> Self {
        RelayHealth {
            kind: AtomicU8::new(KIND_NONE),
            up: AtomicBool::new(false),
            last_poll_ms: AtomicU64::new(0),
            overdue_ms: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }
}

impl RelayHealth {
    /// Whether the relay carries other processes' posts now, without delay
    /// beyond its own.
    pub fn healthy(&self) -> bool {
        if !self.up.load(Ordering::SeqCst) {
            return false;
        }
        match self.kind.load(Ordering::SeqCst) {
            KIND_NOTIFY => true,
            KIND_TAIL => {
                let since = self
                    .elapsed_ms()
                    .saturating_sub(self.last_poll_ms.load(Ordering::SeqCst));
                since <= self.overdue_ms.load(Ordering::SeqCst)
            }
            _ => false,
        }
    }

    /// How many times the relay may have lost posts so far.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::SeqCst)
    }

    fn elapsed_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// The LISTEN connection is up.
    pub(super) fn listening(&self) {
        self.kind.store(KIND_NOTIFY, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }

    /// A poll succeeded.
    pub(super) fn polled(&self, interval: Duration) {
        self.overdue_ms.store(
            (interval * 2 + TAIL_GRACE).as_millis() as u64,
            Ordering::SeqCst,
        );
        self.last_poll_ms.store(self.elapsed_ms(), Ordering::SeqCst);
        self.kind.store(KIND_TAIL, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }

    /// The connection dropped or a poll failed: down until it recovers,
    /// and posts may have been lost. Counted before going down, so that
    /// whoever sees the relay healthy again also sees the miss.
    pub(super) fn lost(&self) {
        self.misses.fetch_add(1, Ordering::SeqCst);
        self.up.store(false, Ordering::SeqCst);
    }

    /// Posts may have been lost, though the relay goes on (a read of
    /// announced messages failed).
    pub(super) fn missed(&self) {
        self.misses.fetch_add(1, Ordering::SeqCst);
    }
}

/// Resolves `mode` against the database and starts the relay task; it
/// stops when `shutdown` turns true. `health` follows the relay.
pub async fn start(
    mode: RelayMode,
    store: Store,
    hub: Arc<Hub>,
    tail_interval: Duration,
    shutdown: watch::Receiver<bool>,
    health: Arc<RelayHealth>,
) -> Result<ActiveRelay, StoreError> {
    let relay = match mode {
        RelayMode::Off => ActiveRelay::Off,
        RelayMode::Notify => ActiveRelay::Notify,
        RelayMode::Tail => ActiveRelay::Tail,
        RelayMode::Auto => match store.backend() {
            DbBackend::Postgres if store.is_cockroach().await? => ActiveRelay::Tail,
            DbBackend::Postgres => ActiveRelay::Notify,
            _ => ActiveRelay::Off,
        },
    };
    match relay {
        ActiveRelay::Off => {}
        ActiveRelay::Notify => {
            if store.backend() != DbBackend::Postgres {
                return Err(StoreError::from(DbErr::Custom(
                    "live.relay notify needs PostgreSQL (use tail)".into(),
                )));
            }
            let mut listener = PgListener::connect(store.url()).await.map_err(sqlx_error)?;
            listener.listen(NOTIFY_CHANNEL).await.map_err(sqlx_error)?;
            store.enable_notify();
            health.listening();
            tokio::spawn(run_notify(listener, store, hub, shutdown, health));
        }
        ActiveRelay::Tail => {
            tokio::spawn(run_tail(store, hub, tail_interval, shutdown, health));
        }
    }
    tracing::info!(?relay, "live relay started");
    Ok(relay)
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> StoreError {
    StoreError::from(DbErr::Conn(RuntimeErr::SqlxError(error)))
}

async fn run_notify(
    mut listener: PgListener,
    store: Store,
    hub: Arc<Hub>,
    mut shutdown: watch::Receiver<bool>,
    health: Arc<RelayHealth>,
) {
    loop {
        // `try_recv`, not `recv`: `recv` reconnects a dropped connection
        // silently, and the health must know that posts may have been lost.
        let notification = tokio::select! {
            _ = shutdown.changed() => return,
            received = listener.try_recv() => received,
        };
        let payload = match notification {
            Ok(Some(notification)) => {
                // Heard after a reconnect: listening again.
                health.listening();
                notification.payload().to_owned()
            }
            Ok(None) => {
                // The connection dropped and sqlx has already reconnected
                // and listens again (it reconnects eagerly; had that failed,
                // this would be an error). What was sent meanwhile is lost
                // to this relay (subscribers can resume from a cursor): a
                // miss, then listening again.
                health.lost();
                health.listening();
                tracing::warn!("LISTEN connection lost and reconnected");
                continue;
            }
            Err(error) => {
                health.lost();
                tracing::warn!(%error, "LISTEN connection failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let ids: Vec<MessageId> = payload
            .split(',')
            .filter_map(|id| MessageId::parse("id", id).ok())
            .collect();
        if !publish(&store, &hub, &ids).await {
            health.missed();
        }
    }
}

/// Reads the `ids` not yet published from the store and publishes them in
/// id order; false when they could not be read.
async fn publish(store: &Store, hub: &Hub, ids: &[MessageId]) -> bool {
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

async fn run_tail(
    store: Store,
    hub: Arc<Hub>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    health: Arc<RelayHealth>,
) {
    let mut seen: HashSet<MessageId> = HashSet::new();
    let mut newest = store.now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => {}
        }
        // Other processes' marks, read before the ids they cover.
        store.poll_marks().await;
        // Ids only, over the lookback window (an index-only read); whole
        // messages only for the few not seen yet.
        let watermark = newest - TAIL_LOOKBACK;
        let mut after = MessageId::lowest_at_or_after(watermark).predecessor();
        let mut complete = true;
        loop {
            let ids = match store.ids_after(after, TAIL_PAGE).await {
                Ok(ids) => ids,
                Err(error) => {
                    tracing::warn!(%error, "tail relay could not read message ids");
                    complete = false;
                    break;
                }
            };
            let full = ids.len() as u64 == TAIL_PAGE;
            if let Some(last) = ids.last() {
                after = *last;
                newest = newest.max(last.created_at());
            }
            let new: Vec<MessageId> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
            if !publish(&store, &hub, &new).await {
                // Those ids count as seen: they will not be read again.
                complete = false;
            }
            if !full {
                break;
            }
        }
        if complete {
            health.polled(interval);
        } else {
            health.lost();
        }
        // Only ids inside the lookback can be read again.
        let horizon = newest - TAIL_LOOKBACK - chrono::Duration::seconds(1);
        seen.retain(|id| id.created_at() >= horizon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_relay() {
        let health = RelayHealth::default();
        // No relay (`off`, or not started): never healthy.
        assert!(!health.healthy());
        health.listening();
        assert!(health.healthy());
        health.lost();
        assert!(!health.healthy());
        assert_eq!(health.misses(), 1);
        health.listening();
        assert!(health.healthy());
        health.missed();
        assert!(health.healthy());
        assert_eq!(health.misses(), 2);
    }

    #[test]
    fn a_tail_poll_overdue_makes_the_relay_unhealthy() {
        let health = RelayHealth::default();
        health.polled(Duration::from_millis(1));
        assert!(health.healthy());
        // Two intervals and the grace, then it is behind.
        std::thread::sleep(TAIL_GRACE + Duration::from_millis(100));
        assert!(!health.healthy());
        health.polled(Duration::from_millis(1));
        assert!(health.healthy());
        assert_eq!(health.misses(), 0);
    }
}
