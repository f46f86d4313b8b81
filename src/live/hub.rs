//! The fan-out hub: one per process, held in the application state. Each
//! subscriber has a filter and a bounded queue. A message goes only to the
//! subscribers its hashtags or author index to (never a scan of everyone),
//! and a subscriber whose queue is full is cut off, told where to resume,
//! and never slows the others. When a relay may have missed other
//! processes' posts, every subscriber is cut off the same way.
//!
//! Publishing and delivering are apart, so that delivery to many
//! subscribers never delays a post: [`Hub::publish`] (the commit hook, on
//! the writer's path, and the relay) only drops a message it has seen
//! already, puts it in the first-page cache and appends it to the outbox,
//! under a lock of its own; a fan-out task takes batches from the outbox in
//! order and hands each message to the subscribers, under the subscribers'
//! lock. A subscriber's queue allocates as messages wait in it, not when
//! it is made: an idle subscriber costs its registration and an empty
//! queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::runtime::RuntimeFlavor;
use tokio::sync::{mpsc, oneshot, Notify};

use super::page_cache::PageCache;
use crate::domain::listing::MessageFilter;
use crate::domain::{Message, MessageId};
use crate::recent::RecentSet;

/// How many recently published ids the hub remembers, so that a message
/// that arrives twice (from this process's writer and from a relay) is
/// delivered once.
pub(super) const RECENT_IDS: usize = 65_536;

/// What a subscription yields.
#[derive(Debug, Clone)]
pub enum HubEvent {
    Message(Arc<Message>),
    /// The queue overflowed: this message, and what came after it, were not
    /// delivered. The subscription is over.
    Lagged {
        first_missed: MessageId,
    },
}

/// Where a subscriber sits in the indexes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum IndexKey {
    Hashtag(String),
    User(String),
    All,
}

struct Subscriber {
    /// The filter, when it asks more than its index key (a date range, or
    /// both a hashtag and a user); `None` when being found under the key
    /// is passing it. Most subscribers ask one hashtag, one user or
    /// everything; checking each one's filter again cost a lowercased copy
    /// of the message's hashtags and a comparison with a string of the
    /// subscriber's own, per subscriber (in a profile at 10,000
    /// subscribers, the comparison alone was a quarter of the hand-out
    /// thread's samples).
    filter: Option<MessageFilter>,
    key: IndexKey,
    queue: mpsc::Sender<Arc<Message>>,
    /// The number of batches published before it subscribed: it gets
    /// only later ones (see [`Hub::subscribe`]).
    after_batch: u64,
    /// Set when the subscriber is cut off for lagging.
    lagged: Arc<Mutex<Option<MessageId>>>,
}

/// Who listens: taken by the fan-out and by (un)subscribing, never by a
/// publisher.
#[derive(Default)]
struct Registry {
    next_id: u64,
    subscribers: HashMap<u64, Subscriber>,
    index: HashMap<IndexKey, HashSet<u64>>,
    closed: bool,
}

/// What was published: taken by publishers only.
struct Published {
    recent: RecentSet<MessageId>,
    /// To the fan-out, in publishing order.
    outbox: mpsc::UnboundedSender<Outgoing>,
    /// The outbox's other end until the fan-out task starts (on the first
    /// publish, inside the runtime).
    fan_out: Option<mpsc::UnboundedReceiver<Outgoing>>,
}

/// What the outbox carries.
enum Outgoing {
    /// The messages of batch number `seq` (from 1, in publishing order).
    Batch {
        seq: u64,
        messages: Vec<Arc<Message>>,
    },
    /// Cut every subscriber off as lagged at this id (see
    /// [`Hub::lag_everyone`]).
    LagEveryone(MessageId),
    /// Answered once everything before it was handed out (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Flushed(oneshot::Sender<()>),
}

/// The batches in the outbox, by number, with the smallest id of each: the
/// publisher adds one before the fan-out can take it, and the fan-out
/// removes it once every subscriber has it. The live marks hold every
/// feed below the smallest of them (see [`Hub::lowest_unhanded`]). A lock
/// of its own, never held while taking another: a feed reads it while
/// the fan-out holds the subscribers' lock.
type Unhanded = Mutex<VecDeque<(u64, MessageId)>>;

/// The hub. Cheap to share (`Arc<Hub>`).
pub struct Hub {
    registry: Arc<Mutex<Registry>>,
    published: Mutex<Published>,
    /// Batches published so far; set under the `published` lock, read
    /// without it by subscribers.
    published_batches: AtomicU64,
    /// Batches published and not yet handed to every subscriber.
    unhanded: Arc<Unhanded>,
    /// Told when held messages may have become releasable (see
    /// [`Hub::moved`]).
    moved: Arc<Notify>,
    queue_capacity: usize,
    /// Fed every published message before any subscriber is.
    page_cache: Option<Arc<PageCache>>,
}

/// Locks `mutex`; a panic while holding it leaves plain data behind, so
/// carry on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// A hub whose subscribers may each have `queue_capacity` messages
    /// waiting before they count as lagging.
    pub fn new(queue_capacity: usize) -> Arc<Hub> {
        Hub::with_page_cache(queue_capacity, None)
    }

    /// Like [`Hub::new`], feeding `page_cache` with every message it
    /// publishes.
    pub fn with_page_cache(queue_capacity: usize, page_cache: Option<Arc<PageCache>>) -> Arc<Hub> {
        let (outbox, fan_out) = mpsc::unbounded_channel();
        Arc::new(Hub {
            registry: Arc::new(Mutex::new(Registry::default())),
            published: Mutex::new(Published {
                recent: RecentSet::new(RECENT_IDS),
                outbox,
                fan_out: Some(fan_out),
            }),
            published_batches: AtomicU64::new(0),
            unhanded: Arc::default(),
            moved: Arc::default(),
            queue_capacity: queue_capacity.max(1),
            page_cache,
        })
    }

    /// Registers a subscriber for messages that pass `filter`. Its index is
    /// the hashtag when it names one, else the user, else "all".
    ///
    /// It gets the messages published from now on, never one published
    /// before, even if the fan-out hands that one out only after this
    /// returns: a message published before is committed, so a feed that
    /// resumes finds it in the store, and a feed "from now" does not want
    /// it.
    pub fn subscribe(self: &Arc<Self>, filter: MessageFilter) -> Subscription {
        let after_batch = self.published_batches.load(Ordering::SeqCst);
        let (queue, receiver) = mpsc::channel(self.queue_capacity);
        let lagged = Arc::new(Mutex::new(None));
        // The key, and whether the filter asks more than being found
        // under it: the user beside a hashtag, a date range.
        let (key, user_unindexed) = match (&filter.hashtag, &filter.user) {
            (Some(hashtag), user) => (
                IndexKey::Hashtag(hashtag.normalized().to_owned()),
                user.is_some(),
            ),
            (None, Some(user)) => (IndexKey::User(user.as_str().to_owned()), false),
            (None, None) => (IndexKey::All, false),
        };
        let asks_more = user_unindexed || filter.from.is_some() || filter.to.is_some();
        let filter = asks_more.then_some(filter);
        let mut registry = lock(&self.registry);
        let id = registry.next_id;
        registry.next_id += 1;
        if !registry.closed {
            registry.index.entry(key.clone()).or_default().insert(id);
            registry.subscribers.insert(
                id,
                Subscriber {
                    filter,
                    key,
                    queue,
                    after_batch,
                    lagged: lagged.clone(),
                },
            );
        }
        // After close the sender is dropped here: the subscription ends at once.
        Subscription {
            id,
            registry: Arc::downgrade(&self.registry),
            receiver,
            lagged,
        }
    }

    /// Hands `message` to every subscriber whose filter it passes, unless
    /// it was published before. Never waits (see [`Hub::publish_batch`]).
    pub fn publish(&self, message: Arc<Message>) {
        self.publish_batch(vec![message]);
    }

    /// Hands `messages`, in this order, to every subscriber whose filter
    /// each passes, dropping those published before. Puts them in the
    /// first-page cache now, and in the outbox for the fan-out task: this
    /// returns without delivering anything, so that the writer's path
    /// costs the same whatever the number of subscribers.
    pub fn publish_batch(&self, messages: Vec<Arc<Message>>) {
        let mut published = lock(&self.published);
        let fresh: Vec<Arc<Message>> = messages
            .into_iter()
            .filter(|message| published.recent.insert(message.id))
            .collect();
        if fresh.is_empty() {
            return;
        }
        // Into the cache first, under the publishers' lock (and so before
        // the outbox): no subscriber can have a message that a cached page
        // lacks.
        if let Some(cache) = &self.page_cache {
            for message in &fresh {
                cache.publish(message);
            }
        }
        if let Some(outbox) = published.fan_out.take() {
            let fan_out = FanOut {
                registry: Arc::downgrade(&self.registry),
                unhanded: self.unhanded.clone(),
                moved: self.moved.clone(),
            };
            match tokio::runtime::Handle::try_current() {
                // A runtime of one thread (the unit tests, whose paused
                // clock advances whenever the runtime has nothing to do)
                // runs the fan-out as its own task, so that the runtime
                // sees the work it waits for.
                Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::CurrentThread => {
                    runtime.spawn(fan_out_task(fan_out, outbox));
                }
                Ok(_) => {
                    if let Err(returned) = spawn_fan_out_thread(fan_out, outbox) {
                        published.fan_out = Some(returned);
                    }
                }
                // No runtime (a plain unit test): hand out here.
                Err(_) => published.fan_out = Some(outbox),
            }
        }
        // Numbered before anyone can hand it out, so that a subscriber
        // that reads the count after this gets none of it.
        let seq = self.published_batches.fetch_add(1, Ordering::SeqCst) + 1;
        if published.fan_out.is_some() {
            let mut registry = lock(&self.registry);
            for message in &fresh {
                registry.deliver(seq, message);
            }
            return;
        }
        // Listed before the fan-out can take it, so that it holds the
        // marks until every subscriber has it.
        if let Some(lowest) = fresh.iter().map(|message| message.id).min() {
            lock(&self.unhanded).push_back((seq, lowest));
        }
        // The task ends only once the hub is dropped, with this sender.
        let _ = published.outbox.send(Outgoing::Batch {
            seq,
            messages: fresh,
        });
    }

    /// Cuts every current subscriber off as lagged, with `first_missed` as
    /// the first message it may lack: a relay that could not bring every
    /// other process's post says so, rather than leave feeds silently
    /// short. Each feed sends what it was handed, then its resume cursor,
    /// which is before `first_missed`; resuming replays from the store.
    ///
    /// Through the outbox, after everything published before: a message
    /// already published reaches each subscriber (or lags it) first, so
    /// that nothing published is dropped from a queue unannounced.
    pub fn lag_everyone(&self, first_missed: MessageId) {
        let published = lock(&self.published);
        if published.fan_out.is_some() {
            // No fan-out task (no runtime yet, or a plain unit test).
            lock(&self.registry).lag_everyone(first_missed);
            return;
        }
        let _ = published.outbox.send(Outgoing::LagEveryone(first_missed));
    }

    /// Holds the subscribers' lock, as a fan-out to many does, so that
    /// nothing is handed out until the guard is dropped.
    #[cfg(test)]
    pub fn stall_fan_out(&self) -> impl Drop + '_ {
        lock(&self.registry)
    }

    /// Completes once everything published so far was handed to the
    /// subscribers' queues.
    #[cfg(test)]
    pub async fn delivered(&self) {
        let (done, finished) = oneshot::channel();
        let sent = {
            let published = lock(&self.published);
            published.fan_out.is_none() && published.outbox.send(Outgoing::Flushed(done)).is_ok()
        };
        if sent {
            let _ = finished.await;
        }
    }

    /// What feeds that hold messages wait on, besides their queue and a
    /// timer: woken when a batch has been handed out, and when the marks
    /// hear a process (see [`Hub::wake_holders`]), the moments the marks'
    /// bound moves.
    pub fn moved(&self) -> &Arc<Notify> {
        &self.moved
    }

    /// Wakes the feeds waiting on [`Hub::moved`].
    pub fn wake_holders(&self) {
        self.moved.notify_waiters();
    }

    /// The smallest id published and not yet in every subscriber's queue,
    /// if any: a feed that releases only messages below it, after reading
    /// its queue, releases none before a smaller one (see `live::marks`).
    pub fn lowest_unhanded(&self) -> Option<MessageId> {
        lock(&self.unhanded).iter().map(|(_, lowest)| *lowest).min()
    }

    /// Those of `ids` the hub has not published yet: a relay reads only
    /// those from the store (this process's own posts are already out).
    pub fn unpublished(&self, ids: &[MessageId]) -> Vec<MessageId> {
        let published = lock(&self.published);
        ids.iter()
            .copied()
            .filter(|id| !published.recent.contains(id))
            .collect()
    }

    /// Offers a message read from the store (a feed's replay) to the
    /// first-page cache, which places it by id and keeps it once. A replay
    /// can read a message of another process before the relay brings it;
    /// without this, a feed could deliver a message that a cached page
    /// still lacks.
    pub fn offer_to_page_cache(&self, message: &Arc<Message>) {
        if let Some(cache) = &self.page_cache {
            cache.publish(message);
        }
    }

    /// Ends every subscription (their streams finish once drained) and
    /// refuses new ones: part of a clean shutdown.
    pub fn close(&self) {
        let mut registry = lock(&self.registry);
        registry.closed = true;
        registry.subscribers.clear();
        registry.index.clear();
    }

    /// How many subscribers are registered.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.registry).subscribers.len()
    }
}

/// Starts the fan-out on a thread of its own; gives the outbox back if no
/// thread could be started (the caller then hands out itself).
///
/// Not a task on the request runtime: handing a message to 10,000
/// subscribers wakes 10,000 socket tasks, several milliseconds in which a
/// runtime worker runs nothing else. A POST whose answer was queued behind
/// that on the same worker waited for all of it (seen in a scheduler
/// trace: 5.7 ms). Not a task on the subscribers' runtime either: waking
/// the socket tasks from one of its own workers queues them on that
/// worker, and the other has to steal them (delivery p50 at 10,000
/// subscribers went from 125 to 180 ms). From a thread outside both, the
/// wakes go to the subscribers' runtime's shared queue, which both of its
/// workers take from.
///
/// At `low` unless delivery runs at `normal` (`live::priority`), never at
/// `idle`: with several processes, every feed holds what is above a batch
/// until the hand-out is done (see [`Hub::lowest_unhanded`]), so a starved
/// hand-out would stall every feed. At the usual priority, the commit
/// that woke it lost its core to it for the whole hand-out (about 5 ms at
/// 10,000 subscribers), and so did the POST's next threads: the POST's
/// p99 (BENCHMARKS.md, "Delivery that does not preempt").
fn spawn_fan_out_thread(
    fan_out: FanOut,
    outbox: mpsc::UnboundedReceiver<Outgoing>,
) -> Result<(), mpsc::UnboundedReceiver<Outgoing>> {
    // The receiver moves into the thread only if it starts; a slot lets
    // it come back if it does not.
    let slot = Arc::new(Mutex::new(Some(outbox)));
    let taken = slot.clone();
    let started = std::thread::Builder::new()
        .name("dunder-fanout".to_owned())
        .spawn(move || {
            super::priority::hand_out_thread();
            let Some(mut outbox) = lock(&taken).take() else {
                return;
            };
            while let Some(outgoing) = outbox.blocking_recv() {
                if !fan_out.hand_out(outgoing) {
                    return;
                }
            }
        });
    match started {
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "no fan-out thread: publishers hand messages out themselves");
            Err(lock(&slot).take().expect("the thread never started"))
        }
    }
}

/// The fan-out as a task, on a runtime of one thread.
async fn fan_out_task(fan_out: FanOut, mut outbox: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(outgoing) = outbox.recv().await {
        if !fan_out.hand_out(outgoing) {
            return;
        }
    }
}

/// What the fan-out works on: it takes the outbox in order and hands each
/// message out, until the hub is dropped (which drops the outbox's sender).
struct FanOut {
    registry: Weak<Mutex<Registry>>,
    unhanded: Arc<Unhanded>,
    moved: Arc<Notify>,
}

impl FanOut {
    /// Carries out one item of the outbox; false once the hub is gone.
    fn hand_out(&self, outgoing: Outgoing) -> bool {
        let Some(registry) = self.registry.upgrade() else {
            return false;
        };
        match outgoing {
            Outgoing::Batch { seq, messages } => {
                {
                    let mut registry = lock(&registry);
                    for message in &messages {
                        registry.deliver(seq, message);
                    }
                }
                // Every subscriber has the batch: it holds no feed back.
                lock(&self.unhanded).retain(|(batch, _)| *batch > seq);
                self.moved.notify_waiters();
            }
            Outgoing::LagEveryone(first_missed) => lock(&registry).lag_everyone(first_missed),
            Outgoing::Flushed(done) => {
                let _ = done.send(());
            }
        }
        true
    }
}

impl Registry {
    /// Hands `message`, of batch `seq`, to every subscriber that subscribed
    /// before that batch was published and whose filter it passes; cuts
    /// off those whose queue is full.
    fn deliver(&mut self, seq: u64, message: &Arc<Message>) {
        let mut keys = vec![IndexKey::All, IndexKey::User(message.user.name.clone())];
        keys.extend(
            message
                .hashtags
                .iter()
                .map(|h| IndexKey::Hashtag(h.to_lowercase())),
        );
        let mut candidates: Vec<u64> = Vec::new();
        for key in &keys {
            if let Some(ids) = self.index.get(key) {
                candidates.extend(ids.iter().copied());
            }
        }
        // A message with a hashtag twice (in two spellings) still goes
        // once. Sorted also for speed: the subscribers are then handed the
        // message, and their tasks woken, in the order they subscribed
        // (most likely near the order their memory was allocated in). In the
        // index's hash order, delivery to 10,000 subscribers took 7% more
        // CPU and its p50 rose from 61 to 74 ms (three rounds each).
        candidates.sort_unstable();
        candidates.dedup();

        let mut lagging = Vec::new();
        for id in candidates {
            let Some(subscriber) = self.subscribers.get(&id) else {
                continue;
            };
            let passes = subscriber
                .filter
                .as_ref()
                .is_none_or(|filter| filter.matches(message));
            // Subscribed after this batch was published, or filtered out.
            if seq <= subscriber.after_batch || !passes {
                continue;
            }
            match subscriber.queue.try_send(message.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => lagging.push(id),
                // The subscription was dropped; its Drop removes it.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        for id in lagging {
            if let Some(subscriber) = self.remove(id) {
                *lock(&subscriber.lagged) = Some(message.id);
                tracing::info!(subscriber = id, "live subscriber lagged and was cut off");
            }
        }
    }

    /// Cuts off every subscriber as lagged at `first_missed`.
    fn lag_everyone(&mut self, first_missed: MessageId) {
        let ids: Vec<u64> = self.subscribers.keys().copied().collect();
        let count = ids.len();
        for id in ids {
            if let Some(subscriber) = self.remove(id) {
                *lock(&subscriber.lagged) = Some(first_missed);
            }
        }
        if count > 0 {
            tracing::warn!(
                subscribers = count,
                "every live subscriber was cut off as lagged: the relay may have missed posts"
            );
        }
    }

    fn remove(&mut self, id: u64) -> Option<Subscriber> {
        let subscriber = self.subscribers.remove(&id)?;
        if let Some(ids) = self.index.get_mut(&subscriber.key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.index.remove(&subscriber.key);
            }
        }
        Some(subscriber)
    }
}

/// One subscriber's end: messages in the order published, then, if it was
/// cut off, one [`HubEvent::Lagged`]. Dropping it unsubscribes.
pub struct Subscription {
    id: u64,
    registry: Weak<Mutex<Registry>>,
    receiver: mpsc::Receiver<Arc<Message>>,
    lagged: Arc<Mutex<Option<MessageId>>>,
}

impl Subscription {
    /// The next event; `None` once the subscription is over (after a
    /// `Lagged`, or when the hub closed).
    pub async fn next(&mut self) -> Option<HubEvent> {
        match self.receiver.recv().await {
            Some(message) => Some(HubEvent::Message(message)),
            None => lock(&self.lagged)
                .take()
                .map(|first_missed| HubEvent::Lagged { first_missed }),
        }
    }

    /// A waiting message without waiting, if there is one.
    pub fn try_next(&mut self) -> Option<Arc<Message>> {
        self.receiver.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            lock(&registry).remove(self.id);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::{Hashtag, User, UserName};

    /// Message `n` (its id is the ULID `n`, its text `m{n}`), by `user`,
    /// with `tags`: also the page cache's tests' messages.
    pub(in crate::live) fn message(n: u128, user: &str, tags: &[&str]) -> Arc<Message> {
        let id = MessageId::from_ulid(ulid::Ulid(n));
        Arc::new(Message {
            id,
            user: User {
                id: 1,
                name: user.to_owned(),
            },
            text: format!("m{n}"),
            hashtags: tags.iter().map(|t| t.to_string()).collect(),
            created_at: id.created_at(),
        })
    }

    fn by_tag(tag: &str) -> MessageFilter {
        MessageFilter {
            hashtag: Some(Hashtag::parse("hashtag", tag).unwrap()),
            ..MessageFilter::default()
        }
    }

    async fn texts(subscription: &mut Subscription) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(message) = subscription.try_next() {
            out.push(message.text.clone());
        }
        out
    }

    #[tokio::test]
    async fn messages_go_only_where_filters_match() {
        let hub = Hub::new(16);
        let mut rust = hub.subscribe(by_tag("Rust"));
        let mut bob = hub.subscribe(MessageFilter {
            user: Some(UserName::parse("user", "bob").unwrap()),
            ..MessageFilter::default()
        });
        let mut bob_rust = hub.subscribe(MessageFilter {
            user: Some(UserName::parse("user", "bob").unwrap()),
            ..by_tag("rust")
        });
        let mut all = hub.subscribe(MessageFilter::default());
        hub.publish(message(1, "alice", &["RUST"]));
        hub.publish(message(2, "bob", &["go"]));
        hub.publish(message(3, "bob", &["rust", "Rust"]));
        hub.publish(message(3, "bob", &["rust"])); // a duplicate, dropped
        hub.delivered().await;
        let ids = [message(3, "x", &[]).id, message(4, "x", &[]).id];
        assert_eq!(hub.unpublished(&ids), [ids[1]]);
        assert_eq!(texts(&mut rust).await, ["m1", "m3"]);
        assert_eq!(texts(&mut bob).await, ["m2", "m3"]);
        assert_eq!(texts(&mut bob_rust).await, ["m3"]);
        assert_eq!(texts(&mut all).await, ["m1", "m2", "m3"]);
    }

    /// A filter that asks more than its index key (here a date range
    /// besides the hashtag) is still checked for each message found under
    /// the key; one that asks only the key is not checked again.
    #[tokio::test]
    async fn a_date_range_is_checked_beyond_the_index() {
        let hub = Hub::new(16);
        let mut early = hub.subscribe(MessageFilter {
            to: chrono::DateTime::from_timestamp_millis(1),
            ..by_tag("rust")
        });
        let mut rust = hub.subscribe(by_tag("rust"));
        // Created 2 ms after the epoch (a ULID's time is its top 48 bits).
        let later = (2u128 << 80) | 1;
        hub.publish(message(1, "alice", &["rust"]));
        hub.publish(message(later, "alice", &["Rust"]));
        hub.delivered().await;
        assert_eq!(texts(&mut early).await, ["m1"]);
        assert_eq!(
            texts(&mut rust).await,
            ["m1".to_owned(), format!("m{later}")]
        );
    }

    #[tokio::test]
    async fn a_full_queue_cuts_off_only_that_subscriber() {
        let hub = Hub::new(2);
        let mut slow = hub.subscribe(MessageFilter::default());
        let mut fast = hub.subscribe(MessageFilter::default());
        for n in 1..=5 {
            hub.publish(message(n, "a", &[]));
            hub.delivered().await;
            // The fast one keeps up.
            assert!(fast.try_next().is_some());
        }
        assert_eq!(hub.subscriber_count(), 1);
        assert!(matches!(slow.next().await, Some(HubEvent::Message(m)) if m.text == "m1"));
        assert!(matches!(slow.next().await, Some(HubEvent::Message(m)) if m.text == "m2"));
        match slow.next().await {
            Some(HubEvent::Lagged { first_missed }) => {
                assert_eq!(first_missed, message(3, "a", &[]).id)
            }
            other => panic!("expected lagged, got {other:?}"),
        }
        assert!(slow.next().await.is_none());
    }

    /// Cutting everyone off: each subscriber first gets what was published
    /// before (even what the fan-out had not handed out yet), then `Lagged`
    /// at the id given, then nothing; a later subscriber is not affected.
    #[tokio::test]
    async fn lagging_everyone_cuts_off_each_subscriber_after_what_was_published() {
        let hub = Hub::new(16);
        let mut all = hub.subscribe(MessageFilter::default());
        let mut rust = hub.subscribe(by_tag("rust"));
        hub.publish(message(5, "a", &["rust"]));
        let first_missed = message(3, "a", &[]).id;
        hub.lag_everyone(first_missed);
        hub.delivered().await;
        assert_eq!(hub.subscriber_count(), 0);
        for subscription in [&mut all, &mut rust] {
            assert!(
                matches!(subscription.next().await, Some(HubEvent::Message(m)) if m.text == "m5")
            );
            match subscription.next().await {
                Some(HubEvent::Lagged { first_missed: id }) => assert_eq!(id, first_missed),
                other => panic!("expected lagged, got {other:?}"),
            }
            assert!(subscription.next().await.is_none());
        }
        let mut later = hub.subscribe(MessageFilter::default());
        hub.publish(message(6, "a", &[]));
        hub.delivered().await;
        assert!(matches!(later.next().await, Some(HubEvent::Message(m)) if m.text == "m6"));
    }

    /// The memory of published ids is bounded: past `RECENT_IDS` the
    /// oldest is forgotten, exactly one at a time.
    #[test]
    fn the_recent_ids_are_bounded_and_forget_the_oldest_first() {
        let hub = Hub::new(1);
        for n in 1..=RECENT_IDS as u128 + 1 {
            hub.publish(message(n, "a", &[]));
        }
        let (first, second) = (message(1, "a", &[]).id, message(2, "a", &[]).id);
        assert_eq!(hub.unpublished(&[first, second]), [first]);
        assert_eq!(lock(&hub.published).recent.len(), RECENT_IDS);
    }

    /// Fan-out off the writer's path: publishing (what the commit hook
    /// does before the poster hears 201) hands nothing to any subscriber
    /// itself, however many there are; the fan-out task does, in order,
    /// once it runs. Here the runtime has one thread, so it cannot run
    /// before this test waits.
    #[tokio::test(flavor = "current_thread")]
    async fn publishing_returns_before_any_subscriber_is_handed_the_message() {
        let hub = Hub::new(4);
        let mut subscribers: Vec<Subscription> = (0..100)
            .map(|_| hub.subscribe(MessageFilter::default()))
            .collect();
        hub.publish_batch(vec![message(1, "a", &[]), message(2, "a", &[])]);
        hub.publish(message(3, "a", &[]));
        assert!(
            subscribers.iter_mut().all(|s| s.try_next().is_none()),
            "nothing was handed out by publishing"
        );
        hub.delivered().await;
        for subscriber in &mut subscribers {
            assert_eq!(texts(subscriber).await, ["m1", "m2", "m3"]);
        }
    }

    /// The smallest id not yet in every queue is known until the fan-out
    /// has handed its batch out: the marks hold feeds below it.
    #[tokio::test(flavor = "current_thread")]
    async fn what_is_not_handed_out_yet_is_known_by_its_smallest_id() {
        let hub = Hub::new(4);
        let _subscriber = hub.subscribe(MessageFilter::default());
        assert_eq!(hub.lowest_unhanded(), None);
        hub.publish_batch(vec![message(7, "a", &[]), message(5, "a", &[])]);
        hub.publish(message(3, "a", &[]));
        // A message published twice is not listed again.
        hub.publish(message(5, "a", &[]));
        assert_eq!(hub.lowest_unhanded(), Some(message(3, "a", &[]).id));
        hub.delivered().await;
        assert_eq!(hub.lowest_unhanded(), None);
    }

    /// A subscriber gets what is published after it subscribed, never a
    /// message published before that the fan-out had not handed out yet.
    #[tokio::test(flavor = "current_thread")]
    async fn a_subscriber_gets_nothing_published_before_it_subscribed() {
        let hub = Hub::new(4);
        let mut early = hub.subscribe(MessageFilter::default());
        hub.publish(message(1, "a", &[]));
        // The fan-out has not run yet (one thread, not yielded to).
        let mut late = hub.subscribe(MessageFilter::default());
        hub.publish(message(2, "a", &[]));
        hub.delivered().await;
        assert_eq!(texts(&mut early).await, ["m1", "m2"]);
        assert_eq!(texts(&mut late).await, ["m2"]);
    }

    #[tokio::test]
    async fn dropping_unsubscribes_and_closing_ends_everything() {
        let hub = Hub::new(4);
        let first = hub.subscribe(MessageFilter::default());
        let mut second = hub.subscribe(by_tag("x"));
        assert_eq!(hub.subscriber_count(), 2);
        drop(first);
        assert_eq!(hub.subscriber_count(), 1);
        hub.close();
        assert!(second.next().await.is_none());
        let mut late = hub.subscribe(MessageFilter::default());
        assert!(late.next().await.is_none());
    }
}
