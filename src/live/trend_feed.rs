//! A live trend: the current bucket's count, sent when it changes (at most
//! a few times a second, however fast messages come) and when a new bucket
//! begins. When a bucket ends with a count not yet sent (a post just
//! before the turn), its last count comes first, then the new bucket.
//! Counts come from the same counters as the trend query, so the two
//! always agree.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;

use super::hub::{Hub, HubEvent};
use crate::domain::listing::MessageFilter;
use crate::domain::trend::{TrendBucket, TrendQuery};
use crate::domain::{Aggregation, Hashtag};
use crate::store::{Store, StoreError};

/// The shortest time between two updates of one subscriber.
const COALESCE: Duration = Duration::from_millis(250);

/// Updates of the current bucket of `hashtag` (or all messages).
pub fn trend_feed(
    store: Store,
    hub: Arc<Hub>,
    hashtag: Option<Hashtag>,
    aggregation: Aggregation,
) -> impl Stream<Item = Result<TrendBucket, StoreError>> + Send {
    async_stream::stream! {
        let filter = MessageFilter {
            hashtag: hashtag.clone(),
            ..MessageFilter::default()
        };
        let mut subscription = hub.subscribe(filter.clone());
        let mut last_sent: Option<TrendBucket> = None;
        loop {
            let now = store.now();
            let start = aggregation.bucket_start(now);
            let end = start + chrono::Duration::seconds(aggregation.seconds());
            // The bucket last sent has ended: its last count first, if it
            // changed since (a post just before the turn, counted while
            // this feed waited), so that no subscriber keeps a stale count.
            if let Some(sent) = last_sent.filter(|sent| sent.from < start) {
                match current_bucket(&store, hashtag.clone(), sent.from, sent.to, aggregation).await {
                    Ok(ended) if ended != sent => {
                        last_sent = Some(ended);
                        yield Ok(ended);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                }
            }
            let bucket = match current_bucket(&store, hashtag.clone(), start, end, aggregation).await {
                Ok(bucket) => bucket,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            if last_sent != Some(bucket) {
                last_sent = Some(bucket);
                yield Ok(bucket);
            }

            // Wait for a matching message or the end of the bucket.
            let until_end = (end - now).to_std().unwrap_or_default().min(Duration::from_secs(60));
            tokio::select! {
                event = subscription.next() => match event {
                    Some(HubEvent::Message(_)) => {}
                    // Missed wake-ups do not matter here: counts are read
                    // from the store. Subscribe again and carry on.
                    Some(HubEvent::Lagged { .. }) => subscription = hub.subscribe(filter.clone()),
                    // The hub closed: shutting down.
                    None => return,
                },
                _ = tokio::time::sleep(until_end) => {}
            }
            // Coalesce: whatever arrives meanwhile is one update.
            tokio::time::sleep(COALESCE).await;
            while subscription.try_next().is_some() {}
        }
    }
}

async fn current_bucket(
    store: &Store,
    hashtag: Option<Hashtag>,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    aggregation: Aggregation,
) -> Result<TrendBucket, StoreError> {
    let empty = TrendBucket {
        from: start,
        to: end,
        count: 0,
    };
    // One bucket is always a valid query.
    let Ok(query) = TrendQuery::new(hashtag, start, end, aggregation) else {
        return Ok(empty);
    };
    Ok(store
        .trend(&query)
        .await?
        .into_iter()
        .next()
        .unwrap_or(empty))
}
