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
//! Both keep a watermark: the newest id they learned of, but never ahead of
//! the database's clock (a process whose clock runs ahead stamps ids in the
//! future, and following those would skip other processes' posts). A
//! catch-up (see `catch_up`) reads every id after the watermark less a
//! lookback of 5 s and publishes those the hub has not: the tail relay on
//! every poll, the notify relay after its LISTEN connection came back.
//! When the notify relay cannot catch up (a store error, or more ids than
//! the hub can tell apart from what it already published), or cannot read
//! messages it heard of, every subscriber is cut off as lagged with a
//! cursor before what may be missing, so that no feed is left silently
//! short. The tail relay reads again from the same watermark after a
//! failed poll, and cuts subscribers off only when it has fallen too far
//! behind. What neither can see: a post whose id is older than the
//! watermark less the lookback when it commits (its process's clock runs
//! behind the database's by more than the lookback, or its commit took
//! longer); start-up warns when this process's clock is half that far off.
//!
//! Each relay keeps a [`RelayHealth`]: whether it is carrying posts now,
//! and a count of the times it may have missed some. The first-page cache
//! is usable only while the relay is healthy, and drops what it filled
//! before a possible miss.

mod catch_up;
mod tail;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DbBackend, DbErr, RuntimeErr};
use tokio::sync::watch;

use self::catch_up::{
    catch_up, publish, warn_if_clock_is_off, CatchUp, DatabaseClock, CATCH_UP_MAX, LOOKBACK,
};
use self::tail::run_tail;
use super::hub::Hub;
use crate::config::RelayMode;
use crate::domain::MessageId;
use crate::store::{Store, StoreError, NOTIFY_CHANNEL};

/// How long the notify relay waits between attempts to reconnect.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

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
            let clock = DatabaseClock::read(&store).await?;
            warn_if_clock_is_off(&store, &clock);
            let listener = listen(&store).await?;
            store.enable_notify();
            health.listening();
            let watermark = Watermark::new(store.now(), clock);
            tokio::spawn(run_notify(
                listener, store, hub, shutdown, health, watermark,
            ));
        }
        ActiveRelay::Tail => {
            warn_if_clock_is_off(&store, &DatabaseClock::read(&store).await?);
            tokio::spawn(run_tail(store, hub, tail_interval, shutdown, health));
        }
    }
    tracing::info!(?relay, "live relay started");
    Ok(relay)
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> StoreError {
    StoreError::from(DbErr::Conn(RuntimeErr::SqlxError(error)))
}

/// A LISTEN connection on the relay's channel.
async fn listen(store: &Store) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect(store.url()).await.map_err(sqlx_error)?;
    listener.listen(NOTIFY_CHANNEL).await.map_err(sqlx_error)?;
    Ok(listener)
}

/// Where the notify relay's catch-up starts: the newest id it heard of,
/// but never ahead of the database's clock, less the lookback.
struct Watermark {
    newest: DateTime<Utc>,
    clock: DatabaseClock,
}

impl Watermark {
    /// Starting at `now` (this process's clock) unless the database's is
    /// earlier.
    fn new(now: DateTime<Utc>, clock: DatabaseClock) -> Watermark {
        Watermark {
            newest: now.min(clock.now()),
            clock,
        }
    }

    fn heard(&mut self, ids: &[MessageId]) {
        if let Some(newest) = ids.iter().max() {
            self.newest = self.newest.max(newest.created_at());
        }
    }

    /// Where a catch-up starts now.
    fn catch_up_from(&self) -> DateTime<Utc> {
        self.newest.min(self.clock.now()) - LOOKBACK
    }
}

async fn run_notify(
    mut listener: PgListener,
    store: Store,
    hub: Arc<Hub>,
    mut shutdown: watch::Receiver<bool>,
    health: Arc<RelayHealth>,
    mut watermark: Watermark,
) {
    loop {
        // `try_recv`, not `recv`: `recv` reconnects a dropped connection
        // silently, and the relay must catch up what was sent meanwhile.
        let notification = tokio::select! {
            _ = shutdown.changed() => return,
            received = listener.try_recv() => received,
        };
        let payload = match notification {
            Ok(Some(notification)) => notification.payload().to_owned(),
            Ok(None) => {
                // The connection dropped and sqlx has already reconnected
                // and listens again (it reconnects eagerly; had that failed,
                // this would be an error). What was announced meanwhile is
                // read from the store.
                let from = watermark.catch_up_from();
                health.lost();
                tracing::warn!("LISTEN connection lost and reconnected; catching up");
                if let Some(newest) = recover(&store, &hub, from).await {
                    watermark.heard(&[newest]);
                }
                health.listening();
                continue;
            }
            Err(error) => {
                let from = watermark.catch_up_from();
                health.lost();
                tracing::warn!(%error, "LISTEN connection failed; reconnecting");
                // A new connection, rather than whatever state the failed
                // one is in: listening for sure before catching up.
                listener = loop {
                    match listen(&store).await {
                        Ok(listener) => break listener,
                        Err(error) => tracing::warn!(%error, "LISTEN reconnect failed"),
                    }
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(RECONNECT_DELAY) => {}
                    }
                };
                if let Some(newest) = recover(&store, &hub, from).await {
                    watermark.heard(&[newest]);
                }
                health.listening();
                continue;
            }
        };
        let ids: Vec<MessageId> = payload
            .split(',')
            .filter_map(|id| MessageId::parse("id", id).ok())
            .collect();
        watermark.heard(&ids);
        publish_heard(&store, &hub, &health, &ids).await;
    }
}

/// Publishes the messages a notification announced. When they cannot be
/// read, the feeds would lack them: a miss, and every subscriber is cut
/// off as lagged before the first of them.
async fn publish_heard(store: &Store, hub: &Hub, health: &RelayHealth, ids: &[MessageId]) {
    if !publish(store, hub, ids).await {
        health.missed();
        if let Some(first) = ids.iter().min() {
            hub.lag_everyone(*first);
        }
    }
}

/// After the LISTEN connection came back (listening again): publishes what
/// was committed from `from` on and not published yet, and returns the
/// newest id read. When that cannot be done, cuts every subscriber off as
/// lagged, with a resume cursor before `from`.
async fn recover(store: &Store, hub: &Hub, from: DateTime<Utc>) -> Option<MessageId> {
    let mut seen = HashSet::new();
    match catch_up(store, hub, from, &mut seen, Some(CATCH_UP_MAX)).await {
        CatchUp::Complete { newest } => {
            tracing::info!(ids = seen.len(), "LISTEN relay caught up");
            newest
        }
        outcome => {
            tracing::warn!(
                ?outcome,
                "LISTEN relay could not catch up: live subscribers are told they lagged"
            );
            hub.lag_everyone(MessageId::lowest_at_or_after(from));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::catch_up::tests::{an_hour_ago, post, store};
    use super::*;
    use crate::domain::listing::MessageFilter;
    use crate::domain::UserName;
    use crate::live::hub::HubEvent;

    /// After a reconnect, what was committed meanwhile reaches the hub once,
    /// in id order: what the hub already published (heard before the
    /// drop, or this process's own) is not read again.
    #[tokio::test]
    async fn a_catch_up_publishes_what_the_hub_lacks_once_in_id_order() {
        let store = store(true).await;
        let hub = Hub::new(16);
        let mut subscription = hub.subscribe(MessageFilter::default());
        let ids = [
            post(&store, "one").await,
            post(&store, "two").await,
            post(&store, "three").await,
        ];
        let two = store.get(ids[1]).await.unwrap().expect("stored");
        hub.publish(Arc::new(two));
        assert_eq!(recover(&store, &hub, an_hour_ago()).await, Some(ids[2]));
        hub.delivered().await;
        let mut got = Vec::new();
        while let Some(message) = subscription.try_next() {
            got.push(message.id);
        }
        assert_eq!(
            got,
            [ids[1], ids[0], ids[2]],
            "two from before, then one and three"
        );
        assert_eq!(hub.subscriber_count(), 1, "nobody was cut off");
    }

    /// "Say so when catching up is impossible": a catch-up whose read fails
    /// (here the store has no tables) cuts every subscriber off as lagged,
    /// the first message it may lack at the catch-up's start, so that its
    /// resume cursor comes before anything missing.
    #[tokio::test]
    async fn a_catch_up_that_cannot_read_cuts_every_subscriber_off_as_lagged() {
        let store = store(false).await;
        let hub = Hub::new(16);
        let mut everything = hub.subscribe(MessageFilter::default());
        let mut some = hub.subscribe(MessageFilter {
            user: Some(UserName::parse("user", "ann").unwrap()),
            ..MessageFilter::default()
        });
        let from = an_hour_ago();
        assert_eq!(recover(&store, &hub, from).await, None);
        hub.delivered().await;
        for subscription in [&mut everything, &mut some] {
            // Everything was handed out: a subscription still open would
            // wait forever.
            let event = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
            match event.expect("the subscription ended") {
                Some(HubEvent::Lagged { first_missed }) => {
                    assert_eq!(first_missed, MessageId::lowest_at_or_after(from))
                }
                other => panic!("expected lagged, got {other:?}"),
            }
        }
        assert_eq!(hub.subscriber_count(), 0);
    }

    /// Messages announced but not readable (here the store has no tables):
    /// a miss, and every subscriber is told it lagged, the first of them as
    /// the first message missed.
    #[tokio::test]
    async fn announced_messages_that_cannot_be_read_lag_every_subscriber() {
        let store = store(false).await;
        let hub = Hub::new(16);
        let health = RelayHealth::default();
        let mut subscription = hub.subscribe(MessageFilter::default());
        let ids = [
            MessageId::lowest_at_or_after(Utc::now()),
            MessageId::lowest_at_or_after(an_hour_ago()),
        ];
        publish_heard(&store, &hub, &health, &ids).await;
        hub.delivered().await;
        assert_eq!(health.misses(), 1);
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
        match event.expect("the subscription ended") {
            Some(HubEvent::Lagged { first_missed }) => assert_eq!(first_missed, ids[1]),
            other => panic!("expected lagged, got {other:?}"),
        }
    }

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
