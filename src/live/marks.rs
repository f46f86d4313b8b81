//! Low-water marks: what lets a feed send live messages in id order
//! without a fixed wait.
//!
//! Ids are stamped when a write batch starts, so with several processes a
//! message can reach a feed after a larger id. Each process knows its own
//! mark, the smallest id it may still commit (see `store::OwnMark`), and
//! announces it to the others; a feed releases a message as soon as the
//! mark of every live process, this one included, has passed it (see
//! [`Marks::passed`]).
//!
//! - With `notify`, each batch's transaction sends the mark after it on the
//!   marks channel, and a task of this module sends it every
//!   [`ANNOUNCE_INTERVAL`] on its own connection, which also LISTENs to
//!   the others'.
//! - With `tail`, the same task upserts this process's row of the
//!   `live_marks` table every tail interval, and the tail relay reads the
//!   table at each poll, before it reads new ids. The rows read at one
//!   poll apply at the next, once the ids that poll read are published.
//!   A new row makes its process live at once (holding everything until
//!   its mark applies), and a starting process waits for its peers to
//!   read its row before it serves. A row counts for three intervals if
//!   that is longer than the timeout; one left by a process that died is
//!   deleted once it has not changed for many timeouts.
//! - With `off` (one process), there is nothing to wait for: feeds release
//!   at once.
//!
//! A mark and the messages below it travel apart (the marks connection,
//! the relay's own), so a peer's mark applies only once this process has
//! published the peer's last written message (or that message is older
//! than the timeout).
//!
//! A published message reaches the feeds' queues when the hub's fan-out
//! hands its batch out, a moment later. Until then the smallest id of each
//! such batch holds the bound too ([`Hub::lowest_unhanded`]), and a feed
//! reads the bound before it reads its queue (see `live::feed`): whatever
//! is below the bound it read is in its queue by then. No time is assumed
//! for the hand-out: on a machine kept busy it may take longer than usual,
//! and feeds wait for it rather than send a larger id first.
//!
//! A process is live while it is heard within the timeout
//! (`live.mark_timeout_ms`): a notice, or a change of its row. One that
//! stops announcing stops holding the others back after that; a feed also
//! never holds a message longer than the timeout, so that a process whose
//! clock runs seconds behind delays messages that long at most (they may
//! then go out after larger ids, as the README says).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::sqlx::{self, Executor};
use sea_orm::{DbErr, RuntimeErr};
use tokio::sync::watch;
use tokio::time::Instant;

use super::hub::Hub;
use crate::domain::MessageId;
use crate::store::{MarkNotice, MarkRow, OwnMark, Store, StoreError, MARKS_CHANNEL};

/// How often a process announces its mark with `notify`. A message from
/// one process waits here for the next announcement of every other (idle)
/// one: at 50 ms, four processes measured 51 ms p50 across processes, at
/// 20 ms (a NOTIFY of ~40 bytes 50 times a second per process) much less.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_millis(20);

/// Marks heard from one process and not applied yet, at most: older ones
/// are dropped (a newer one supersedes them).
const MAX_WAITING: usize = 1024;

/// A process unheard for this many timeouts is forgotten.
const FORGET_AFTER: u32 = 10;

/// The marks of every process this one knows of.
pub struct Marks {
    hub: Arc<Hub>,
    /// How long a process may stay unheard and still count, in
    /// milliseconds (see [`Marks::activate`]).
    timeout_ms: AtomicU64,
    /// Set when a relay starts: until then (and with `off`), feeds release
    /// at once.
    own: OnceLock<Arc<OwnMark>>,
    active: AtomicBool,
    peers: Mutex<Peers>,
}

#[derive(Default)]
struct Peers {
    by_id: HashMap<u64, Peer>,
    /// The table's rows read at the last poll, applied at the next.
    staged: Vec<MarkRow>,
}

struct Peer {
    /// When it was last heard (a notice, or its row changed); `None` for
    /// a row never seen to change.
    heard: Option<Instant>,
    /// The mark feeds may use; `None` until one has settled.
    settled: Option<MessageId>,
    /// Marks heard, oldest first, not settled yet.
    waiting: VecDeque<Heard>,
    /// The row last read (table only).
    row: Option<(MessageId, i64)>,
}

struct Heard {
    notice: MarkNotice,
    at: Instant,
    /// Whether the message it follows was published here (or need not
    /// be waited for): kept, as the hub forgets old ids.
    usable: bool,
}

/// Whether `bound`, as [`Marks::bound`] gave it, passes `id`: nothing
/// holds it back, or it is below the bound.
pub fn passes(bound: Option<MessageId>, id: MessageId) -> bool {
    bound.is_none_or(|bound| id < bound)
}

impl Marks {
    pub fn new(hub: Arc<Hub>, timeout: Duration) -> Marks {
        Marks {
            hub,
            timeout_ms: AtomicU64::new(timeout.as_millis() as u64),
            own: OnceLock::new(),
            active: AtomicBool::new(false),
            peers: Mutex::new(Peers::default()),
        }
    }

    /// Marks order the feeds from now on, with `own` as this process's;
    /// a process counts as live while heard within `timeout` at least (the
    /// tail relay needs a few of its intervals: it reads the rows that
    /// seldom).
    pub fn activate(&self, own: Arc<OwnMark>, timeout: Duration) {
        let _ = self.own.set(own);
        self.timeout_ms
            .fetch_max(timeout.as_millis() as u64, Ordering::SeqCst);
        self.active.store(true, Ordering::SeqCst);
    }

    /// What a feed holding messages waits on: told when the bound may
    /// have moved (see `Hub::moved`).
    pub fn moved(&self) -> &Arc<tokio::sync::Notify> {
        self.hub.moved()
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::SeqCst))
    }

    fn peers(&self) -> MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn own_id(&self) -> Option<u64> {
        self.own.get().map(|own| own.process_id())
    }

    /// This process's announcement now.
    pub fn own_notice(&self) -> Option<MarkNotice> {
        let own = self.own.get()?;
        Some(MarkNotice {
            process_id: own.process_id(),
            mark: own.mark(),
            last: own.last_done(),
        })
    }

    /// A notice heard on the marks channel.
    pub fn heard(&self, notice: MarkNotice) {
        if Some(notice.process_id) == self.own_id() {
            return;
        }
        let now = Instant::now();
        let mut peers = self.peers();
        let peer = peers
            .by_id
            .entry(notice.process_id)
            .or_insert_with(|| Peer {
                heard: None,
                settled: None,
                waiting: VecDeque::new(),
                row: None,
            });
        peer.heard = Some(now);
        if peer.waiting.len() == MAX_WAITING {
            peer.waiting.pop_front();
        }
        let mut heard = Heard {
            notice,
            at: now,
            usable: false,
        };
        heard.usable = self.usable(&heard, now);
        peer.waiting.push_back(heard);
        drop(peers);
        self.hub.wake_holders();
    }

    /// The marks table's rows, read at a tail relay poll: those read at the
    /// previous poll apply now (the ids that poll read are published), and
    /// these wait for the next one. A row that is new or changed makes its
    /// process live at once, holding everything until its mark applies.
    pub fn polled(&self, rows: Vec<MarkRow>) {
        let own = self.own_id();
        let now = Instant::now();
        let mut peers = self.peers();
        let staged = std::mem::replace(&mut peers.staged, rows.clone());
        for row in staged {
            if let Some(peer) = peers.by_id.get_mut(&row.process_id) {
                peer.waiting.clear();
                peer.settled = Some(row.mark);
            }
        }
        // A process whose row is gone stopped cleanly: forgotten at once.
        peers.by_id.retain(|process_id, peer| {
            peer.row.is_none() || rows.iter().any(|row| row.process_id == *process_id)
        });
        for row in rows {
            if Some(row.process_id) == own {
                continue;
            }
            let values = (row.mark, row.updated_at);
            let peer = peers.by_id.entry(row.process_id).or_insert_with(|| Peer {
                heard: None,
                settled: None,
                waiting: VecDeque::new(),
                row: None,
            });
            // Unchanged: the process may have gone silent.
            if peer.row != Some(values) {
                peer.row = Some(values);
                peer.heard = Some(now);
            }
        }
        drop(peers);
        self.hub.wake_holders();
    }

    /// The processes whose row of the marks table has not changed for many
    /// timeouts: they died without deleting it, and it can go.
    pub fn silent_rows(&self) -> Vec<u64> {
        let now = Instant::now();
        let forget = self.timeout() * FORGET_AFTER;
        self.peers()
            .by_id
            .iter()
            .filter(|(_, peer)| {
                peer.row.is_some()
                    && peer
                        .heard
                        .is_some_and(|heard| now.duration_since(heard) >= forget)
            })
            .map(|(process_id, _)| *process_id)
            .collect()
    }

    /// How many other processes are live now (heard within the timeout).
    pub fn live_processes(&self) -> usize {
        let now = Instant::now();
        self.peers()
            .by_id
            .values()
            .filter(|peer| {
                peer.heard
                    .is_some_and(|heard| now.duration_since(heard) < self.timeout())
            })
            .count()
    }

    /// Whether every live process's mark has passed `id`, so that nothing
    /// below it can still reach this process: true at once with no relay
    /// or no other live process (this process's own messages reach the hub
    /// in id order).
    pub fn passed(&self, id: MessageId) -> bool {
        passes(self.bound(), id)
    }

    /// The smallest mark of the live processes, this one included, and
    /// of the batches the hub has not handed out; `None` when nothing
    /// holds messages back. Messages below it are in every feed's queue,
    /// or will never come: a feed reads it before its queue.
    pub fn bound(&self) -> Option<MessageId> {
        if !self.active.load(Ordering::SeqCst) {
            return None;
        }
        let own = self.own.get()?;
        let now = Instant::now();
        let mut peers = self.peers();
        let forget = self.timeout() * FORGET_AFTER;
        // A row is kept for as long as it exists: forgetting it would
        // make it new, and live, at the next poll.
        peers.by_id.retain(|_, peer| {
            peer.row.is_some()
                || peer
                    .heard
                    .is_none_or(|heard| now.duration_since(heard) < forget)
        });
        let mut bound: Option<MessageId> = None;
        for peer in peers.by_id.values_mut() {
            let live = peer
                .heard
                .is_some_and(|heard| now.duration_since(heard) < self.timeout());
            if !live {
                continue;
            }
            self.settle(peer, now);
            let mark = peer
                .settled
                .unwrap_or(MessageId::from_ulid(ulid::Ulid::nil()));
            bound = Some(bound.map_or(mark, |b| b.min(mark)));
        }
        bound.map(|b| {
            let b = b.min(own.mark());
            self.hub
                .lowest_unhanded()
                .map_or(b, |unhanded| b.min(unhanded))
        })
    }

    /// Applies the newest of `peer`'s waiting marks that has settled, and
    /// drops those before it.
    fn settle(&self, peer: &mut Peer, now: Instant) {
        for heard in peer.waiting.iter_mut() {
            heard.usable = heard.usable || self.usable(heard, now);
        }
        let newest = peer.waiting.iter().rposition(|heard| heard.usable);
        if let Some(newest) = newest {
            // Never back: a process's marks only grow (its ids do), so a
            // lower one heard later is stale, computed before the one it
            // follows (the periodic announcement races the batch's own
            // notice, which travels on another connection). Taking it would
            // hold released-to-be messages until the next announcement.
            let settled = peer
                .waiting
                .drain(..=newest)
                .map(|heard| heard.notice.mark)
                .chain(peer.settled)
                .max();
            peer.settled = settled;
        }
    }

    /// Whether a heard mark can be used: the message it follows was
    /// published here, is older than the timeout (brought or lost long
    /// ago), or was waited for a whole timeout.
    fn usable(&self, heard: &Heard, now: Instant) -> bool {
        let Some(last) = heard.notice.last else {
            return true;
        };
        let old = last.created_at() + self.timeout() < heard.notice.mark.created_at();
        old || now.duration_since(heard.at) >= self.timeout()
            || self.hub.unpublished(&[last]).is_empty()
    }
}

/// Announces this process's mark with `notify` and hears the others', on
/// one connection of its own, until `shutdown`. The first announcement is
/// made before this returns, so that peers hear this process as soon as
/// it can post.
pub async fn start_notify(
    marks: Arc<Marks>,
    store: &Store,
    shutdown: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let mut listener = PgListener::connect(store.url()).await.map_err(sqlx_error)?;
    listener.listen(MARKS_CHANNEL).await.map_err(sqlx_error)?;
    announce(&marks, &mut listener).await;
    tokio::spawn(run_notify(marks, listener, shutdown));
    Ok(())
}

fn sqlx_error(error: sqlx::Error) -> StoreError {
    StoreError::from(DbErr::Conn(RuntimeErr::SqlxError(error)))
}

async fn run_notify(
    marks: Arc<Marks>,
    mut listener: PgListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(ANNOUNCE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // `try_recv` is cancel-safe: a notification half read when the
        // ticker fires is read whole on the next call.
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => announce(&marks, &mut listener).await,
            received = listener.try_recv() => match received {
                Ok(Some(notification)) => {
                    if let Some(notice) = MarkNotice::parse(notification.payload()) {
                        marks.heard(notice);
                    }
                }
                // Reconnected (and listening again): what was announced
                // meanwhile is lost, and newer announcements replace it.
                Ok(None) => tracing::warn!("the marks connection was lost and reconnected"),
                Err(error) => {
                    tracing::warn!(%error, "the marks connection failed; reconnecting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
        }
    }
}

/// Sends this process's mark on the marks connection itself: no pool
/// connection is taken for it, and the connection's last statement shows
/// that it is alive.
async fn announce(marks: &Marks, listener: &mut PgListener) {
    let Some(notice) = marks.own_notice() else {
        return;
    };
    let sql = Store::mark_notify_sql(&notice);
    if let Err(error) = listener.execute(sqlx::raw_sql(&sql)).await {
        tracing::warn!(%error, "could not announce this process's mark");
    }
}

/// Upserts this process's row of the marks table every `interval`, and
/// deletes it at `shutdown`. The first row is written before this returns,
/// and `join` (two intervals, so that every peer's tail relay has read it,
/// unless that is longer than the timeout) is waited: the process joins
/// before it can commit anything, so that no peer sends one of its
/// messages out of order for not knowing it yet.
pub async fn start_table(
    marks: Arc<Marks>,
    store: Store,
    interval: Duration,
    join: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut updated_at = i64::MIN;
    let mut write = {
        let (marks, store) = (marks.clone(), store.clone());
        move || {
            let (marks, store) = (marks.clone(), store.clone());
            // Always a new value, even with a clock that stands still:
            // readers see the row change while the process lives.
            updated_at = store.now().timestamp_millis().max(updated_at + 1);
            let at = updated_at;
            async move {
                let Some(notice) = marks.own_notice() else {
                    return;
                };
                if let Err(error) = store.upsert_mark(&notice, at).await {
                    tracing::warn!(%error, "could not write this process's mark");
                }
            }
        }
    };
    write().await;
    tokio::time::sleep(join).await;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = ticker.tick() => write().await,
            }
            // Rows of processes that died without deleting theirs: a
            // process starting later would take them for live a while.
            for process_id in marks.silent_rows() {
                if let Err(error) = store.delete_mark(process_id).await {
                    tracing::warn!(%error, "could not delete a silent process's mark");
                }
            }
        }
        if let Some(own) = marks.own.get() {
            if let Err(error) = store.delete_mark(own.process_id()).await {
                tracing::warn!(%error, "could not delete this process's mark");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::domain::listing::MessageFilter;
    use crate::live::hub::tests::message;

    const TIMEOUT: Duration = Duration::from_secs(2);

    fn id(n: u128) -> MessageId {
        MessageId::from_ulid(ulid::Ulid(n))
    }

    /// Marks on a new hub, active, with this process's clock far ahead (so
    /// that its own mark never holds anything back here).
    fn marks() -> (Arc<Marks>, Arc<Hub>) {
        let hub = Hub::new(16);
        let marks = Arc::new(Marks::new(hub.clone(), TIMEOUT));
        let own = Arc::new(OwnMark::new(Arc::new(|| {
            UNIX_EPOCH + Duration::from_secs(1 << 40)
        })));
        marks.activate(own, TIMEOUT);
        (marks, hub)
    }

    fn notice(process_id: u64, mark: u128, last: Option<u128>) -> MarkNotice {
        MarkNotice {
            process_id,
            mark: id(mark),
            last: last.map(id),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_relay_or_a_peer_nothing_waits() {
        let hub = Hub::new(16);
        let inactive = Marks::new(hub, TIMEOUT);
        assert!(inactive.passed(id(u128::MAX - 1)));
        let (marks, _) = marks();
        assert!(marks.passed(id(u128::MAX - 1)), "no other process");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_mark_applies_once_its_message_is_published_and_holds_until_handed_out() {
        let (marks, hub) = marks();
        marks.heard(notice(7, 100, None));
        // It follows no message: it applies at once.
        assert!(marks.passed(id(99)));
        assert!(!marks.passed(id(100)), "a mark is what it may still commit");

        // A mark that follows message 150 waits until 150 is published.
        marks.heard(notice(7, 200, Some(150)));
        tokio::time::advance(TIMEOUT / 4).await;
        assert!(!marks.passed(id(120)), "150 not here yet: the old mark");
        assert!(marks.passed(id(99)));
        hub.publish(message(150, "a", &[]));
        assert!(marks.passed(id(149)), "the new mark applies");
        // 150 is not in the feeds' queues before the fan-out (a task that
        // has not run yet here) hands it out: nothing above it passes.
        assert!(!marks.passed(id(150)), "published, not handed out yet");
        hub.delivered().await;
        assert!(marks.passed(id(199)));
        assert!(!marks.passed(id(200)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_lower_mark_heard_later_does_not_move_a_peer_back() {
        let (marks, hub) = marks();
        hub.publish(message(100, "a", &[]));
        hub.publish(message(150, "a", &[]));
        // The batch's notice (after 150), then a periodic announcement
        // computed while that batch was in flight (its first id, 140).
        marks.heard(notice(7, 151, Some(150)));
        marks.heard(notice(7, 140, Some(100)));
        hub.delivered().await;
        assert!(marks.passed(id(150)), "the newer claim stands");
        assert!(!marks.passed(id(151)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_smallest_live_mark_wins_and_a_silent_peer_stops_counting() {
        let (marks, _) = marks();
        marks.heard(notice(1, 100, None));
        marks.heard(notice(2, 300, None));
        assert!(marks.passed(id(99)));
        assert!(!marks.passed(id(150)));
        // Peer 2 keeps announcing, peer 1 goes silent.
        for _ in 0..4 {
            tokio::time::advance(TIMEOUT / 4).await;
            marks.heard(notice(2, 300, None));
        }
        assert!(
            marks.passed(id(150)),
            "peer 1 was dropped after the timeout"
        );
        assert!(!marks.passed(id(300)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_applies_a_poll_at_the_next_and_counts_rows_while_they_change() {
        let (marks, _) = marks();
        let row = |mark: u128, updated_at: i64| MarkRow {
            process_id: 5,
            mark: id(mark),
            updated_at,
        };
        // A new row: its process is live at once, and holds everything
        // until its mark applies, at the next poll.
        marks.polled(vec![row(100, 1)]);
        assert!(!marks.passed(id(1)));
        marks.polled(vec![row(200, 2)]);
        assert!(marks.passed(id(99)));
        assert!(!marks.passed(id(100)), "the mark read at the poll before");
        marks.polled(vec![row(200, 2)]);
        assert!(marks.passed(id(199)));
        assert!(!marks.passed(id(200)));
        // The row stops changing: dropped after the timeout.
        tokio::time::advance(TIMEOUT / 2).await;
        marks.polled(vec![row(200, 2)]);
        assert!(!marks.passed(id(200)), "still within the timeout");
        tokio::time::advance(TIMEOUT / 2).await;
        marks.polled(vec![row(200, 2)]);
        assert!(marks.passed(id(500)));
        assert_eq!(marks.live_processes(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_row_that_stays_unchanged_is_not_taken_for_live_again_and_is_reported() {
        let (marks, _) = marks();
        let row = MarkRow {
            process_id: 6,
            mark: id(100),
            updated_at: 1,
        };
        marks.polled(vec![row]);
        tokio::time::advance(TIMEOUT * FORGET_AFTER).await;
        marks.polled(vec![row]);
        assert!(marks.passed(id(500)));
        marks.polled(vec![row]);
        assert_eq!(marks.live_processes(), 0, "still known, not new");
        assert_eq!(marks.silent_rows(), [6]);
        // Deleted: forgotten.
        marks.polled(Vec::new());
        assert!(marks.silent_rows().is_empty());
    }

    /// A hand-out that takes long (a busy machine; the fan-out thread
    /// stalled here) holds every feed above the message, however long:
    /// no time is assumed for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_hand_out_holds_what_is_above_it_however_long() {
        let hub = Hub::new(16);
        let marks = Arc::new(Marks::new(hub.clone(), TIMEOUT));
        let own = Arc::new(OwnMark::new(Arc::new(|| {
            UNIX_EPOCH + Duration::from_secs(1 << 40)
        })));
        marks.activate(own, TIMEOUT);
        let _subscriber = hub.subscribe(MessageFilter::default());
        // Starts the fan-out thread.
        hub.publish(message(50, "a", &[]));
        hub.delivered().await;
        marks.heard(notice(7, 300, Some(50)));
        assert!(marks.passed(id(299)));

        let stalled = hub.stall_fan_out();
        hub.publish(message(150, "a", &[]));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(marks.passed(id(149)));
        assert!(!marks.passed(id(150)), "not handed out after 100 ms");
        drop(stalled);
        hub.delivered().await;
        assert!(marks.passed(id(299)));
    }

    #[tokio::test(start_paused = true)]
    async fn this_process_s_own_notices_are_ignored() {
        let (marks, _) = marks();
        let own = marks.own_notice().expect("active");
        marks.heard(MarkNotice { mark: id(1), ..own });
        assert!(marks.passed(id(500)));
    }
}
