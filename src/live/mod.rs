//! Live feeds: the per-process fan-out hub, feeds that resume from a cursor
//! without gap or duplicate, live trend buckets, the relays that carry
//! posts between Dunder processes sharing a database, the low-water marks
//! that let feeds send messages from several processes in id order, the
//! first-page cache that the hub keeps current, and the frames built once
//! per message and format for every subscriber that sends it.

mod encodings;
mod feed;
mod hub;
mod marks;
mod page_cache;
mod priority;
mod relay;
pub mod runtime;
mod trend_feed;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use encodings::{Encodings, Format};
pub use feed::{message_feed, FeedEvent, FeedLimits, Order};
pub use hub::{Hub, HubEvent, Subscription};
pub use marks::Marks;
pub use page_cache::PAGE as CACHED_PAGE;
pub use relay::{ActiveRelay, RelayHealth};
pub use trend_feed::trend_feed;

use crate::config::LiveSettings;
use crate::domain::listing::{MessageFilter, PageRequest};
use crate::domain::Message;
use crate::store::{CommitHook, MarksHook, Store, StoreError};
use page_cache::PageCache;

/// The live side of one process: its hub, its settings and its shutdown
/// signal. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    hub: Arc<Hub>,
    settings: LiveSettings,
    shutdown: Arc<watch::Sender<bool>>,
    /// Every process's low-water mark, which orders the feeds.
    marks: Arc<Marks>,
    /// Whether a relay runs (set when it starts): without one, feeds
    /// release at once.
    relayed: Arc<AtomicBool>,
    /// Whether the relay carries other processes' posts now.
    relay_health: Arc<RelayHealth>,
    /// Absent when `live.page_cache` is off.
    page_cache: Option<Arc<PageCache>>,
    /// Frames shared by the subscribers of one format.
    encodings: Arc<Encodings>,
}

impl Live {
    pub fn new(settings: LiveSettings) -> Live {
        priority::choose(settings.delivery_priority);
        let (shutdown, _) = watch::channel(false);
        let relay_health = Arc::new(RelayHealth::default());
        let page_cache = settings
            .page_cache
            .then(|| Arc::new(PageCache::new(relay_health.clone())));
        let hub = Hub::with_page_cache(settings.subscriber_queue, page_cache.clone());
        Live {
            marks: Arc::new(Marks::new(hub.clone(), settings.mark_timeout)),
            hub,
            settings,
            shutdown: Arc::new(shutdown),
            relayed: Arc::new(AtomicBool::new(false)),
            relay_health,
            page_cache,
            encodings: Arc::new(Encodings::default()),
        }
    }

    /// One page of a listing, newest first unless the page says otherwise:
    /// a first page from the first-page cache when it can answer (see
    /// `page_cache`), anything else from the store. Either way the same
    /// messages as `store.list` would give.
    pub async fn list(
        &self,
        store: &Store,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Vec<Message>, StoreError> {
        match &self.page_cache {
            Some(cache) => cache.list(store, filter, page).await,
            None => store.list(filter, page).await,
        }
    }

    /// How many listing pages the first-page cache has answered without a
    /// statement.
    pub fn pages_from_cache(&self) -> u64 {
        self.page_cache.as_ref().map_or(0, |cache| cache.served())
    }

    /// Whether the relay carries other processes' posts now.
    pub fn relay_health(&self) -> &RelayHealth {
        &self.relay_health
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// The frames built once per message and format (see `encodings`).
    pub fn encodings(&self) -> &Encodings {
        &self.encodings
    }

    /// The store's commit hook: every committed batch goes to the hub,
    /// which puts it in the first-page cache and its outbox and returns;
    /// the subscribers get it from the hub's fan-out task, off the
    /// writer's path.
    pub fn commit_hook(&self) -> CommitHook {
        let hub = self.hub.clone();
        Arc::new(move |messages| {
            hub.publish_batch(messages.iter().cloned().map(Arc::new).collect());
        })
    }

    /// The store's marks hook: the marks table's rows, as the tail relay
    /// reads them, go to the marks.
    pub fn marks_hook(&self) -> MarksHook {
        let marks = self.marks.clone();
        Arc::new(move |rows| marks.polled(rows))
    }

    /// Every process's low-water mark, as this process knows them.
    pub fn marks(&self) -> &Arc<Marks> {
        &self.marks
    }

    /// Starts the configured relay on `store`, and with it the exchange of
    /// marks that orders the feeds (none without a relay).
    pub async fn start_relay(&self, store: &Store) -> Result<ActiveRelay, StoreError> {
        let relay = relay::start(
            self.settings.relay,
            store.clone(),
            self.hub.clone(),
            self.settings.tail_interval,
            self.shutdown.subscribe(),
            self.relay_health.clone(),
        )
        .await?;
        match relay {
            // One process, one writer: messages arrive in id order.
            ActiveRelay::Off => {}
            ActiveRelay::Notify => {
                let own = store.own_mark().clone();
                self.marks.activate(own, self.settings.mark_timeout);
                marks::start_notify(self.marks.clone(), store, self.shutdown.subscribe()).await?;
            }
            ActiveRelay::Tail => {
                let (interval, timeout) = (self.settings.tail_interval, self.settings.mark_timeout);
                // Rows are read once an interval: a process counts as
                // live for a few of them, whatever the timeout.
                self.marks
                    .activate(store.own_mark().clone(), timeout.max(interval * 3));
                marks::start_table(
                    self.marks.clone(),
                    store.clone(),
                    interval,
                    (interval * 2).min(timeout),
                    self.shutdown.subscribe(),
                )
                .await;
            }
        }
        self.relayed
            .store(relay != ActiveRelay::Off, Ordering::SeqCst);
        Ok(relay)
    }

    /// The most a feed holds a live message so that those from other
    /// processes, which arrive later than this process's own, still go out
    /// in id order: zero without a relay, the mark timeout with one
    /// (feeds release sooner, as soon as the marks allow; see [`Live::order`]).
    pub fn order_window(&self) -> Duration {
        if self.relayed.load(Ordering::SeqCst) {
            self.settings.mark_timeout
        } else {
            Duration::ZERO
        }
    }

    /// When feeds release live messages: at once without a relay, as the
    /// marks allow with one, never later than [`Live::order_window`].
    pub fn order(&self) -> Order {
        match self.relayed.load(Ordering::SeqCst) {
            true => Order::marks(self.marks.clone(), self.settings.mark_timeout),
            false => Order::window(Duration::ZERO),
        }
    }

    /// What one feed may hold: the replay bound and the subscriber queue.
    pub fn feed_limits(&self) -> FeedLimits {
        FeedLimits {
            max_replay: self.settings.max_replay,
            max_pending: self.settings.subscriber_queue,
        }
    }

    /// Ends every feed and stops the relay: the first step of a clean
    /// shutdown, so that open streams do not hold the server up.
    pub fn shutdown(&self) {
        self.hub.close();
        let _ = self.shutdown.send(true);
    }

    /// Completes once [`Live::shutdown`] has been called.
    pub async fn shutting_down(&self) {
        let mut receiver = self.shutdown.subscribe();
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }
}
