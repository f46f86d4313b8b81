//! A message feed that can resume: subscribe to the hub first, replay from
//! the store everything after the cursor, then continue live, skipping what
//! the replay already sent. Nothing committed after the cursor is missed
//! (it is either in the store when the replay reads it or in the hub queue,
//! which was open before the replay began) and nothing is sent twice.
//!
//! Ids are stamped when a write batch starts, so with several processes a
//! message can reach this one after a message with a larger id (its commit
//! or its relay was slower). A resume cursor is "everything up to here", so
//! the live phase holds messages and releases them in id order, each as
//! soon as the [`Order`] allows: once every live process's low-water mark
//! has passed it (see `marks`: at once with one process), or once it has
//! been held for the order's cap, whichever comes first. A process without
//! a relay orders nothing: its feeds send each message as the hub queued
//! it (in the order this process published), without holding it.

use std::collections::{btree_map, BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use futures::Stream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::hub::{Hub, HubEvent, Subscription};
use super::marks::{self, Marks};
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

/// While a feed holds messages that the marks do not release yet, how
/// often it looks at them again: this process's own mark moves with the
/// clock, unannounced. It also looks whenever the hub says the bound may
/// have moved (a hand-out done, a process heard: [`Hub::moved`]).
const MARK_POLL: Duration = Duration::from_millis(10);

/// When a feed releases a held live message: once the marks have passed
/// it, or once it has been held for `cap`, whichever comes first.
#[derive(Clone)]
pub struct Order {
    marks: Option<Arc<Marks>>,
    cap: Duration,
}

impl Order {
    /// Each message held exactly `cap`, whatever the marks (zero: at once).
    pub fn window(cap: Duration) -> Order {
        Order { marks: None, cap }
    }

    /// Each message held until `marks` have passed it, `cap` at most.
    pub fn marks(marks: Arc<Marks>, cap: Duration) -> Order {
        Order {
            marks: Some(marks),
            cap,
        }
    }

    /// The most a message is held.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// Whether every message goes out as it comes, held by nothing: no
    /// marks and no window (one process without a relay).
    fn holds_nothing(&self) -> bool {
        self.marks.is_none() && self.cap.is_zero()
    }

    /// What may be released as of now. Read before the feed reads its
    /// queue again: every message below the marks' bound is in the queue
    /// by then (see `marks`), so none can come after a larger id.
    fn now(&self) -> Release {
        Release {
            bound: self.marks.as_ref().map(|marks| marks.bound()),
            cap: self.cap,
        }
    }
}

/// The order's answer at one moment (see [`Order::now`]).
struct Release {
    /// With marks: the bound they gave (`None`: nothing is held back).
    bound: Option<Option<MessageId>>,
    cap: Duration,
}

impl Release {
    fn releases(&self, id: MessageId, arrived: Instant) -> bool {
        arrived.elapsed() >= self.cap || self.bound.is_some_and(|bound| marks::passes(bound, id))
    }
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
/// first), then live as they are published, in id order as `order`
/// releases them (see the module documentation).
pub fn message_feed(
    store: Store,
    hub: Arc<Hub>,
    filter: MessageFilter,
    after: Option<Cursor>,
    order: Order,
    limits: FeedLimits,
) -> impl Stream<Item = Result<FeedEvent, StoreError>> + Send {
    async_stream::stream! {
        // Subscribing is the first thing the stream does once polled, before
        // the replay reads the store.
        let mut feed = Feed::subscribe(store, &hub, filter, after, order, limits);
        while let Some(event) = feed.next().await {
            yield event;
        }
    }
}

/// One feed between two events: what every phase shares, and the phase.
struct Feed {
    shared: Shared,
    phase: Phase,
}

/// What the phases of one feed share.
struct Shared {
    subscription: Subscription,
    /// For the first-page cache, which must hold what the replay sends.
    hub: Arc<Hub>,
    order: Order,
    limits: FeedLimits,
    /// The newest id sent (or the resume cursor's): where a lagged feed
    /// resumes at the latest.
    last_sent: Option<MessageId>,
    /// Replayed ids whose live copies may still arrive, to be skipped.
    replayed_recently: HashSet<MessageId>,
}

/// Where a feed is: replaying from the store, live, or sending what it
/// held before it ends.
enum Phase {
    Replay(Replay),
    Live(LivePhase),
    Closing(Closing),
    Ended,
}

/// What a phase does next.
enum Step {
    /// Send this event; the phase goes on.
    Send(Result<FeedEvent, StoreError>),
    /// Send this event, then end the feed.
    Last(Result<FeedEvent, StoreError>),
    /// End the feed.
    End,
    /// Go on in this phase (boxed: a feed changes phase at most twice,
    /// and a replay is large next to an event).
    Enter(Box<Phase>),
}

impl Feed {
    /// Subscribes to the hub, then starts with the replay if there is a
    /// cursor, live otherwise.
    fn subscribe(
        store: Store,
        hub: &Arc<Hub>,
        filter: MessageFilter,
        after: Option<Cursor>,
        order: Order,
        limits: FeedLimits,
    ) -> Feed {
        let subscription = hub.subscribe(filter.clone());
        let mut shared = Shared {
            subscription,
            hub: hub.clone(),
            order,
            limits,
            last_sent: after.map(|cursor| cursor.id),
            replayed_recently: HashSet::new(),
        };
        let phase = match after {
            Some(cursor) => Phase::Replay(Replay {
                subscribed_at: store.now(),
                store,
                filter,
                cursor,
                replayed: 0,
                page: None,
                arrived: Vec::new(),
            }),
            None => Phase::Live(LivePhase::start(Vec::new(), &mut shared)),
        };
        Feed { shared, phase }
    }

    /// The next event, or `None` once the feed has ended.
    async fn next(&mut self) -> Option<Result<FeedEvent, StoreError>> {
        loop {
            let step = match &mut self.phase {
                Phase::Replay(replay) => replay.step(&mut self.shared).await,
                Phase::Live(live) => live.step(&mut self.shared).await,
                Phase::Closing(closing) => closing.step(),
                Phase::Ended => return None,
            };
            match step {
                Step::Send(event) => return Some(event),
                Step::Last(event) => {
                    self.phase = Phase::Ended;
                    return Some(event);
                }
                Step::End => self.phase = Phase::Ended,
                Step::Enter(phase) => self.phase = *phase,
            }
        }
    }
}

/// Replaying from the store, page by page, what came after the cursor.
struct Replay {
    store: Store,
    filter: MessageFilter,
    subscribed_at: DateTime<Utc>,
    /// The last message replayed (the resume cursor at first).
    cursor: Cursor,
    replayed: usize,
    /// The page being sent, if one was read.
    page: Option<std::vec::IntoIter<Message>>,
    /// Live messages that arrived while the replay ran: taken off the hub
    /// queue page by page, so that a long replay does not overflow it.
    arrived: Vec<Arc<Message>>,
}

impl Replay {
    async fn step(&mut self, shared: &mut Shared) -> Step {
        loop {
            if let Some(page) = &mut self.page {
                if let Some(message) = page.next() {
                    return self.send(message, shared);
                }
                self.page = None;
                if let Err(lagged) = self.take_arrived(shared) {
                    return Step::Last(Ok(lagged));
                }
            }
            // One more than may still be sent: whether more follow.
            let room = (shared.limits.max_replay - self.replayed) as u64 + 1;
            let request = PageRequest::newer(Some(self.cursor), REPLAY_PAGE.min(room));
            match self.store.list(&self.filter, &request).await {
                Err(error) => return Step::Last(Err(error)),
                Ok(page) if page.is_empty() => {
                    let arrived = std::mem::take(&mut self.arrived);
                    return Step::Enter(Box::new(Phase::Live(LivePhase::start(arrived, shared))));
                }
                Ok(page) => self.page = Some(page.into_iter()),
            }
        }
    }

    /// Sends one replayed message, unless the replay bound is reached.
    fn send(&mut self, message: Message, shared: &mut Shared) -> Step {
        let max = shared.limits.max_replay;
        if self.replayed == max {
            let resume_after = self.cursor;
            return Step::Last(Ok(FeedEvent::ReplayLimit { resume_after, max }));
        }
        self.replayed += 1;
        self.cursor = Cursor::new(message.id);
        shared.last_sent = Some(message.id);
        let overlap = TimeDelta::from_std(OVERLAP).unwrap_or_default();
        if message.created_at >= self.subscribed_at - overlap {
            shared.replayed_recently.insert(message.id);
        }
        let message = Arc::new(message);
        // Before it is sent: a cached page is never behind this feed.
        shared.hub.offer_to_page_cache(&message);
        Step::Send(Ok(FeedEvent::Message(message)))
    }

    /// Takes what the hub queued while a page was sent; `Lagged` if more
    /// arrived than one subscriber may hold.
    fn take_arrived(&mut self, shared: &mut Shared) -> Result<(), FeedEvent> {
        while let Some(message) = shared.subscription.try_next() {
            if self.arrived.len() == shared.limits.max_pending {
                // The replay's position is exact: resume from there.
                return Err(FeedEvent::Lagged {
                    resume_after: self.cursor,
                });
            }
            self.arrived.push(message);
        }
        Ok(())
    }
}

/// Live: messages from the hub, held and released in id order as the
/// order allows.
struct LivePhase {
    since: Instant,
    /// Held messages by id, with the time each arrived.
    held: BTreeMap<MessageId, (Arc<Message>, Instant)>,
}

impl LivePhase {
    /// Goes live, holding what arrived during the replay and was not in it.
    fn start(arrived: Vec<Arc<Message>>, shared: &mut Shared) -> LivePhase {
        let mut live = LivePhase {
            since: Instant::now(),
            held: BTreeMap::new(),
        };
        for message in arrived {
            live.hold(message, shared);
        }
        live
    }

    /// Holds what the hub has queued for this feed, without waiting.
    fn take_queued(&mut self, shared: &mut Shared) {
        while let Some(message) = shared.subscription.try_next() {
            self.hold(message, shared);
        }
    }

    /// Holds `message` for its turn, unless the replay sent it already.
    fn hold(&mut self, message: Arc<Message>, shared: &mut Shared) {
        if !shared.replayed_recently.remove(&message.id) {
            self.held.insert(message.id, (message, Instant::now()));
        }
    }

    /// Forgets the replayed ids once no live copy of them can still come.
    fn forget_replayed_past_overlap(&self, shared: &mut Shared) {
        if !shared.replayed_recently.is_empty() && self.since.elapsed() > OVERLAP {
            shared.replayed_recently = HashSet::new();
        }
    }

    async fn step(&mut self, shared: &mut Shared) -> Step {
        if self.held.is_empty() && shared.order.holds_nothing() {
            return self.pass_through(shared).await;
        }
        loop {
            // What the hub has queued already is held before anything is
            // released: the marks pass a message once the hub has handed
            // it out, not once this feed has read it, and a smaller id
            // may be waiting in the queue.
            self.take_queued(shared);
            // Listening from before the bound is read, so that a move
            // after it is not missed (a future of `notify_waiters` hears
            // it once made, before it is polled).
            let moved = match (&shared.order.marks, self.held.is_empty()) {
                (Some(marks), false) => Some(marks.moved().clone()),
                _ => None,
            };
            let moved = moved.as_deref().map(Notify::notified);
            // Release, in id order, what the order lets go: the order is
            // read first, then the queue again, so that whatever the bound
            // passes is held by now.
            if !self.held.is_empty() {
                let release = shared.order.now();
                self.take_queued(shared);
                if let Some(first) = self.held.first_entry() {
                    if release.releases(*first.key(), first.get().1) {
                        let (id, (message, _)) = first.remove_entry();
                        shared.last_sent = Some(id);
                        return Step::Send(Ok(FeedEvent::Message(message)));
                    }
                }
            }
            self.forget_replayed_past_overlap(shared);

            // The cap of the first held message; with marks, a look again
            // soon, as they move.
            let next_release = self.held.first_key_value().map(|(_, (_, arrived))| {
                let capped = *arrived + shared.order.cap;
                match shared.order.marks {
                    Some(_) => capped.min(Instant::now() + MARK_POLL),
                    None => capped,
                }
            });
            let moved = async move {
                match moved {
                    Some(moved) => moved.await,
                    None => std::future::pending().await,
                }
            };
            let event = match next_release {
                Some(at) => tokio::select! {
                    event = shared.subscription.next() => Some(event),
                    _ = tokio::time::sleep_until(at) => None,
                    _ = moved => None,
                },
                None => Some(shared.subscription.next().await),
            };
            match event {
                // A held message is due.
                None => {}
                Some(Some(HubEvent::Message(message))) => self.hold(message, shared),
                Some(Some(HubEvent::Lagged { first_missed })) => {
                    // What is held was delivered to this feed: send it, in
                    // order, then the cursor after the last of it.
                    let held = std::mem::take(&mut self.held);
                    let last_sent = held.keys().next_back().copied().or(shared.last_sent);
                    let lagged = lagged_after(last_sent, first_missed);
                    return Step::Enter(Box::new(Phase::Closing(Closing::new(held, Some(lagged)))));
                }
                // The hub closed (shutdown): deliver what is held, then end.
                Some(None) => {
                    let held = std::mem::take(&mut self.held);
                    return Step::Enter(Box::new(Phase::Closing(Closing::new(held, None))));
                }
            }
        }
    }

    /// The next message as the hub queued it, when the order holds nothing
    /// back and nothing is held: it goes out at once, without a pass
    /// through the held messages and without a clock read, both done for
    /// every subscriber of every message otherwise. The hub's queue is in
    /// the order this process published, which is what holding and
    /// releasing at once would give too.
    async fn pass_through(&mut self, shared: &mut Shared) -> Step {
        loop {
            let event = match shared.subscription.try_next() {
                Some(message) => Some(HubEvent::Message(message)),
                None => shared.subscription.next().await,
            };
            match event {
                Some(HubEvent::Message(message)) => {
                    // Sent by the replay already.
                    if shared.replayed_recently.remove(&message.id) {
                        continue;
                    }
                    self.forget_replayed_past_overlap(shared);
                    shared.last_sent = Some(message.id);
                    return Step::Send(Ok(FeedEvent::Message(message)));
                }
                // Everything before was sent.
                Some(HubEvent::Lagged { first_missed }) => {
                    return Step::Last(Ok(lagged_after(shared.last_sent, first_missed)));
                }
                // The hub closed (shutdown): nothing is held, the feed ends.
                None => return Step::End,
            }
        }
    }
}

/// The `Lagged` event of a feed that sent up to `last_sent` and missed
/// `first_missed`: resume just before the first message that did not fit,
/// unless everything sent is older (if a late message sorts below what was
/// sent, the resume repeats a few rather than lose one).
fn lagged_after(last_sent: Option<MessageId>, first_missed: MessageId) -> FeedEvent {
    let before_missed = first_missed.predecessor();
    let resume = last_sent.map_or(before_missed, |sent| sent.min(before_missed));
    FeedEvent::Lagged {
        resume_after: Cursor::new(resume),
    }
}

/// The end of a feed: what was held, in id order, then a last event if any.
struct Closing {
    held: btree_map::IntoValues<MessageId, (Arc<Message>, Instant)>,
    last: Option<FeedEvent>,
}

impl Closing {
    fn new(held: BTreeMap<MessageId, (Arc<Message>, Instant)>, last: Option<FeedEvent>) -> Closing {
        Closing {
            held: held.into_values(),
            last,
        }
    }

    fn step(&mut self) -> Step {
        if let Some((message, _)) = self.held.next() {
            return Step::Send(Ok(FeedEvent::Message(message)));
        }
        match self.last.take() {
            Some(last) => Step::Last(Ok(last)),
            None => Step::End,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::User;
    use crate::store::StoreOptions;
    use futures::StreamExt;
    use tokio::sync::mpsc;

    const WINDOW: Duration = Duration::from_millis(250);

    /// A message whose id is the number `n` (so ids sort as the numbers do).
    fn message(n: u128) -> Arc<Message> {
        let id = MessageId::from_ulid(ulid::Ulid(n));
        Arc::new(Message {
            id,
            user: User {
                id: 1,
                name: "a".to_owned(),
            },
            text: format!("m{n}"),
            hashtags: Vec::new(),
            created_at: id.created_at(),
        })
    }

    /// A live feed (no cursor) on `hub` with the order window, run on a task
    /// of its own: what it yields comes out of the receiver as the number of
    /// each message's id and the instant it was yielded. Time is paused, so
    /// that the window's timers fire exactly when due and those instants are
    /// exact; the store (only asked for the time here) is opened first.
    async fn feed_on(hub: &Arc<Hub>) -> (mpsc::UnboundedReceiver<(u128, Instant)>, Instant) {
        feed_with(hub, Order::window(WINDOW)).await
    }

    /// A live feed (no cursor) of every message on `hub`, releasing as
    /// `order` says; its store (only asked for the time) is in memory.
    async fn live_feed(
        hub: &Arc<Hub>,
        order: Order,
    ) -> impl Stream<Item = Result<FeedEvent, StoreError>> {
        let store = Store::open("sqlite::memory:", StoreOptions::default())
            .await
            .expect("an in-memory store");
        let limits = FeedLimits {
            max_replay: 10,
            max_pending: 16,
        };
        message_feed(
            store,
            hub.clone(),
            MessageFilter::default(),
            None,
            order,
            limits,
        )
    }

    /// Like [`feed_on`], releasing as `order` says.
    async fn feed_with(
        hub: &Arc<Hub>,
        order: Order,
    ) -> (mpsc::UnboundedReceiver<(u128, Instant)>, Instant) {
        let feed = live_feed(hub, order).await;
        tokio::time::pause();
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut feed = Box::pin(feed);
            while let Some(event) = feed.next().await {
                match event {
                    Ok(FeedEvent::Message(message)) => {
                        let _ = sender.send((message.id.ulid().0, Instant::now()));
                    }
                    other => panic!("a live feed yields messages only here, got {other:?}"),
                }
            }
        });
        while hub.subscriber_count() == 0 {
            tokio::task::yield_now().await;
        }
        (receiver, Instant::now())
    }

    /// Checks that the next message out of the feed is number `n`, sent
    /// when it was due: at `due`, or within the two milliseconds by which
    /// tokio's timer wheel rounds a deadline up.
    async fn expect_next(
        receiver: &mut mpsc::UnboundedReceiver<(u128, Instant)>,
        n: u128,
        due: Instant,
    ) {
        let (got, at) = tokio::time::timeout(Duration::from_secs(60), receiver.recv())
            .await
            .expect("a message within a minute")
            .expect("the feed runs");
        assert_eq!(got, n, "message {n} next");
        assert!(
            due <= at && at <= due + Duration::from_millis(2),
            "message {n} sent {:?} after it was due",
            at.checked_duration_since(due)
        );
    }

    /// A message that arrives within the window of larger ids still goes
    /// out before them: the feed holds them until the smallest is due.
    #[tokio::test(flavor = "current_thread")]
    async fn a_message_within_the_order_window_goes_out_before_larger_ids() {
        let hub = Hub::new(16);
        let (mut out, start) = feed_on(&hub).await;
        hub.publish(message(20));
        hub.publish(message(30));
        // While nothing is due, paused time only moves when every task waits.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let late_at = Instant::now();
        assert!(late_at < start + WINDOW, "10 arrives within the window");
        hub.publish(message(10));
        // All three go once 10 has waited its window, in id order.
        let due = late_at + WINDOW;
        expect_next(&mut out, 10, due).await;
        expect_next(&mut out, 20, due).await;
        expect_next(&mut out, 30, due).await;
    }

    /// The README's "a message that reaches a process later than [the
    /// window] still goes out, once, but after larger ids": 10 arrives after
    /// 20 and 30 have gone out; it waits its own window and goes out after
    /// them. A second copy of it (as a relay would bring after the writer's
    /// own) is not sent again: 40, published after that copy, is the next
    /// and last message.
    #[tokio::test(flavor = "current_thread")]
    async fn a_message_later_than_the_order_window_goes_out_once_after_larger_ids() {
        let hub = Hub::new(16);
        let (mut out, start) = feed_on(&hub).await;
        hub.publish(message(20));
        hub.publish(message(30));
        expect_next(&mut out, 20, start + WINDOW).await;
        expect_next(&mut out, 30, start + WINDOW).await;

        let late_at = Instant::now();
        hub.publish(message(10));
        expect_next(&mut out, 10, late_at + WINDOW).await;

        let again_at = Instant::now();
        hub.publish(message(10));
        hub.publish(message(40));
        expect_next(&mut out, 40, again_at + WINDOW).await;
        assert!(
            tokio::time::timeout(Duration::from_secs(60), out.recv())
                .await
                .is_err(),
            "nothing after 40: the late message went out once"
        );
    }

    /// With nothing to hold (one process, no relay), each message goes out
    /// the moment it is published, in the order published.
    #[tokio::test(flavor = "current_thread")]
    async fn with_nothing_to_hold_a_message_goes_out_at_once() {
        let hub = Hub::new(16);
        let (mut out, start) = feed_with(&hub, Order::window(Duration::ZERO)).await;
        hub.publish(message(10));
        hub.publish(message(20));
        expect_next(&mut out, 10, start).await;
        expect_next(&mut out, 20, start).await;
        tokio::time::sleep(WINDOW).await;
        let later = Instant::now();
        hub.publish(message(30));
        expect_next(&mut out, 30, later).await;
    }

    /// A feed that holds nothing and falls behind sends what its queue
    /// held, then `Lagged` with the last of them as its resume cursor.
    #[tokio::test(flavor = "current_thread")]
    async fn with_nothing_to_hold_a_lagging_feed_resumes_after_what_it_sent() {
        let hub = Hub::new(2);
        let mut feed = Box::pin(live_feed(&hub, Order::window(Duration::ZERO)).await);
        // Polled once: subscribed, waiting.
        assert!(futures::poll!(feed.next()).is_pending());
        for n in [10, 20, 30, 40] {
            hub.publish(message(n));
        }
        let mut events = Vec::new();
        while let Some(event) = feed.next().await {
            events.push(match event.expect("no store error") {
                FeedEvent::Message(message) => format!("{}", message.id.ulid().0),
                FeedEvent::Lagged { resume_after } => {
                    format!("lagged after {}", resume_after.id.ulid().0)
                }
                other => panic!("unexpected {other:?}"),
            });
        }
        assert_eq!(events, ["10", "20", "lagged after 20"]);
    }

    /// Marks on `hub`, active, whose own clock is far ahead: only other
    /// processes' marks hold anything back.
    fn marks_on(hub: &Arc<Hub>) -> Arc<Marks> {
        let marks = Arc::new(Marks::new(hub.clone(), WINDOW * 40));
        let own = Arc::new(crate::store::OwnMark::new(Arc::new(|| {
            std::time::UNIX_EPOCH + Duration::from_secs(1 << 40)
        })));
        marks.activate(own, WINDOW * 40);
        marks
    }

    fn peer_mark(n: u128) -> crate::store::MarkNotice {
        crate::store::MarkNotice {
            process_id: 9,
            mark: MessageId::from_ulid(ulid::Ulid(n)),
            last: None,
        }
    }

    /// "With one process the wait is zero": with marks and no other live
    /// process, a message goes out the moment it is published.
    #[tokio::test(flavor = "current_thread")]
    async fn with_marks_and_no_other_process_a_message_goes_out_at_once() {
        let hub = Hub::new(16);
        let marks = marks_on(&hub);
        let (mut out, start) = feed_with(&hub, Order::marks(marks, WINDOW * 40)).await;
        hub.publish(message(10));
        expect_next(&mut out, 10, start).await;
    }

    /// Held messages go out, in id order, as another process's mark passes
    /// them: 10, arriving after 20 and 30, goes first; 30 waits for the
    /// mark past it, far less than the cap.
    #[tokio::test(flavor = "current_thread")]
    async fn held_messages_go_out_in_id_order_as_a_peer_mark_passes_them() {
        let hub = Hub::new(16);
        let marks = marks_on(&hub);
        marks.heard(peer_mark(5));
        let (mut out, _) = feed_with(&hub, Order::marks(marks.clone(), WINDOW * 40)).await;
        hub.publish(message(20));
        hub.publish(message(30));
        tokio::time::sleep(WINDOW).await;
        hub.publish(message(10));
        marks.heard(peer_mark(25));
        let next = |out: &mut mpsc::UnboundedReceiver<(u128, Instant)>| {
            out.try_recv().ok().map(|(n, _)| n)
        };
        tokio::time::sleep(WINDOW).await;
        assert_eq!([next(&mut out), next(&mut out)], [Some(10), Some(20)]);
        assert_eq!(next(&mut out), None, "30 waits for the mark");
        marks.heard(peer_mark(31));
        tokio::time::sleep(WINDOW).await;
        assert_eq!(next(&mut out), Some(30));
    }

    /// A held message goes out the moment a mark that passes it is heard,
    /// not at the feed's next look (`MARK_POLL`): the clock, paused, has
    /// not moved when it is sent.
    #[tokio::test(flavor = "current_thread")]
    async fn a_held_message_goes_out_when_the_mark_that_passes_it_is_heard() {
        let hub = Hub::new(16);
        let marks = marks_on(&hub);
        marks.heard(peer_mark(5));
        let (mut out, _) = feed_with(&hub, Order::marks(marks.clone(), WINDOW * 40)).await;
        hub.publish(message(20));
        // Off the feed's 10 ms looks.
        tokio::time::sleep(WINDOW + Duration::from_millis(3)).await;
        assert!(out.try_recv().is_err(), "20 is held");
        let heard = Instant::now();
        marks.heard(peer_mark(25));
        expect_next(&mut out, 20, heard).await;
    }
}
