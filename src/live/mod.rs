//! Live feeds: the per-process fan-out hub, feeds that resume from a cursor
//! without gap or duplicate, live trend buckets, the relays that carry
//! posts between Dunder processes sharing a database, the first-page
//! cache that the hub keeps current, and the frames built once per message
//! and format for every subscriber that sends it.

mod encodings;
mod feed;
mod hub;
mod page_cache;
mod relay;
mod trend_feed;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use encodings::{Encodings, Format};
pub use feed::{message_feed, FeedEvent, FeedLimits};
pub use hub::{Hub, HubEvent, Subscription};
pub use page_cache::PAGE as CACHED_PAGE;
pub use relay::{ActiveRelay, RelayHealth};
pub use trend_feed::trend_feed;

use crate::config::LiveSettings;
use crate::domain::listing::{MessageFilter, PageRequest};
use crate::domain::Message;
use crate::store::{CommitHook, Store, StoreError};
use page_cache::PageCache;

/// The live side of one process: its hub, its settings and its shutdown
/// signal. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    hub: Arc<Hub>,
    settings: LiveSettings,
    shutdown: Arc<watch::Sender<bool>>,
    /// Milliseconds a feed holds live messages to send them in id order;
    /// set when the relay starts (see [`Live::order_window`]).
    order_window_ms: Arc<AtomicU64>,
    /// Whether the relay carries other processes' posts now.
    relay_health: Arc<RelayHealth>,
    /// Absent when `live.page_cache` is off.
    page_cache: Option<Arc<PageCache>>,
    /// Frames shared by the subscribers of one format.
    encodings: Arc<Encodings>,
}

/// What a commit and its relay may take beyond the relay's own delay: the
/// margin of the order window.
const ORDER_MARGIN: Duration = Duration::from_millis(250);

impl Live {
    pub fn new(settings: LiveSettings) -> Live {
        let (shutdown, _) = watch::channel(false);
        let relay_health = Arc::new(RelayHealth::default());
        let page_cache = settings
            .page_cache
            .then(|| Arc::new(PageCache::new(relay_health.clone())));
        Live {
            hub: Hub::with_page_cache(settings.subscriber_queue, page_cache.clone()),
            settings,
            shutdown: Arc::new(shutdown),
            order_window_ms: Arc::new(AtomicU64::new(0)),
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

    /// Starts the configured relay on `store` and sets the order window
    /// to match it.
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
        let window = match relay {
            // One process, one writer: messages arrive in id order.
            ActiveRelay::Off => Duration::ZERO,
            ActiveRelay::Notify => ORDER_MARGIN,
            ActiveRelay::Tail => self.settings.tail_interval + ORDER_MARGIN,
        };
        self.order_window_ms
            .store(window.as_millis() as u64, Ordering::Relaxed);
        Ok(relay)
    }

    /// How long a feed holds live messages so that those from other
    /// processes, which arrive later than this process's own, still go out
    /// in id order: zero without a relay, a quarter second with
    /// LISTEN/NOTIFY, the tail interval plus that with the tail relay.
    pub fn order_window(&self) -> Duration {
        Duration::from_millis(self.order_window_ms.load(Ordering::Relaxed))
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
