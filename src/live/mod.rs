//! Live feeds: the per-process fan-out hub, feeds that resume from a cursor
//! without gap or duplicate, live trend buckets, and the relays that carry
//! posts between Dunder processes sharing a database.

mod feed;
mod hub;
mod relay;
mod trend_feed;

use std::sync::Arc;

use tokio::sync::watch;

pub use feed::{message_feed, FeedEvent};
pub use hub::{Hub, HubEvent, Subscription};
pub use relay::ActiveRelay;
pub use trend_feed::{trend_feed, COALESCE};

use crate::config::LiveSettings;
use crate::store::{CommitHook, Store, StoreError};

/// The live side of one process: its hub, its settings and its shutdown
/// signal. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    hub: Arc<Hub>,
    settings: LiveSettings,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Live {
    pub fn new(settings: LiveSettings) -> Live {
        let (shutdown, _) = watch::channel(false);
        Live {
            hub: Hub::new(settings.subscriber_queue),
            settings,
            shutdown: Arc::new(shutdown),
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// The store's commit hook: every committed message goes to the hub.
    pub fn commit_hook(&self) -> CommitHook {
        let hub = self.hub.clone();
        Arc::new(move |messages| {
            for message in messages {
                hub.publish(Arc::new(message.clone()));
            }
        })
    }

    /// Starts the configured relay on `store`.
    pub async fn start_relay(&self, store: &Store) -> Result<ActiveRelay, StoreError> {
        relay::start(
            self.settings.relay,
            store.clone(),
            self.hub.clone(),
            self.settings.tail_interval,
            self.shutdown.subscribe(),
        )
        .await
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
