//! Group commit: one writer task per process takes every post that is
//! waiting, writes them in one transaction, then answers each request.
//!
//! Under light load a batch is one post, so nothing waits longer than its own
//! write; under heavy load the per-transaction cost (commit, counter upsert)
//! is shared by the whole batch, so throughput rises with load instead of
//! collapsing on the hot "all messages this minute" counter row.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};
use ulid::{Generator, Ulid};

use super::read;
use super::retry::{is_unique_violation, with_retries};
use super::stats::StoreStats;
use super::write_batch::{write_batch, IdentifiedPost};
use super::{Clock, CommitHook, StoreError};
use crate::domain::{Message, MessageId, NewMessage};

/// The most posts one transaction carries; keeps statements well under the
/// bound-parameter limits of every backend (10 hashtags × 4 values each).
pub const MAX_BATCH: usize = 256;
/// Posts that may wait for the writer before new ones wait for room.
const QUEUE_DEPTH: usize = 4096;

struct PendingPost {
    post: NewMessage,
    reply: oneshot::Sender<Result<Message, StoreError>>,
}

/// What the writer task needs.
pub(crate) struct WriterSetup {
    pub db: DatabaseConnection,
    pub stats: Arc<StoreStats>,
    pub clock: Clock,
    pub max_batch: usize,
    pub on_commit: Option<CommitHook>,
    /// Whether batches also NOTIFY their ids (read per batch: the relay
    /// mode is known only once the database has been asked what it is).
    pub notify: Arc<AtomicBool>,
}

/// The sending side of the writer's queue; cheap to clone.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    queue: mpsc::Sender<PendingPost>,
}

impl WriterHandle {
    /// Starts the writer task. It ends when every handle is dropped.
    pub(crate) fn spawn(setup: WriterSetup) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(setup, receiver));
        WriterHandle { queue }
    }

    /// Queues `post` and waits until it is committed (or has failed for good).
    pub(crate) async fn post(&self, post: NewMessage) -> Result<Message, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(PendingPost { post, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(setup: WriterSetup, mut queue: mpsc::Receiver<PendingPost>) {
    let mut ids = Generator::new();
    let mut batch = Vec::with_capacity(setup.max_batch);
    while queue.recv_many(&mut batch, setup.max_batch).await > 0 {
        let identified: Vec<(MessageId, PendingPost)> = batch
            .drain(..)
            .map(|pending| (next_id(&mut ids, (setup.clock)()), pending))
            .collect();
        write_and_answer(&setup, identified).await;
    }
}

/// Ids rise strictly within the process even when the clock stands still or
/// steps back, so a later post always sorts after an earlier one.
fn next_id(ids: &mut Generator, now: SystemTime) -> MessageId {
    let id = ids
        .generate_from_datetime(now)
        .unwrap_or_else(|_| Ulid::new());
    MessageId::from_ulid(id)
}

async fn write_and_answer(setup: &WriterSetup, batch: Vec<(MessageId, PendingPost)>) {
    let stats = &setup.stats;
    let posts: Vec<IdentifiedPost> = batch
        .iter()
        .map(|(id, pending)| IdentifiedPost {
            id: *id,
            post: &pending.post,
        })
        .collect();
    let notify = setup.notify.load(Ordering::Relaxed);
    let result = with_retries(&stats.transaction_retries, || {
        write_batch(&setup.db, &posts, notify)
    })
    .await;
    drop(posts);
    match result {
        Ok(messages) => answer_committed(setup, batch, messages),
        Err(error) if batch.len() > 1 => {
            // One post must not sink the others: write each on its own so
            // only the one at fault (if any) fails.
            tracing::warn!(%error, size = batch.len(), "batch failed, writing its posts one by one");
            for single in batch {
                Box::pin(write_and_answer(setup, vec![single])).await;
            }
        }
        // A commit whose answer was lost (the connection dropped) may have
        // landed: written again, the post meets its own id. Then it is
        // stored, and the poster hears so.
        Err(error) if is_unique_violation(&error) => match already_written(&setup.db, &batch).await
        {
            Some(message) => answer_committed(setup, batch, vec![message]),
            None => fail(stats, batch, &error),
        },
        Err(error) => fail(stats, batch, &error),
    }
}

/// Counts a committed batch, hands it to the commit hook (live feeds), then
/// answers each poster with its message.
fn answer_committed(
    setup: &WriterSetup,
    batch: Vec<(MessageId, PendingPost)>,
    messages: Vec<Message>,
) {
    setup.stats.batches.fetch_add(1, Ordering::Relaxed);
    setup
        .stats
        .posts
        .fetch_add(messages.len() as u64, Ordering::Relaxed);
    if let Some(on_commit) = &setup.on_commit {
        on_commit(&messages);
    }
    for ((_, pending), message) in batch.into_iter().zip(messages) {
        let _ = pending.reply.send(Ok(message));
    }
}

/// The stored message of a one-post batch, if its id is in the store.
async fn already_written(
    db: &DatabaseConnection,
    batch: &[(MessageId, PendingPost)],
) -> Option<Message> {
    let [(id, _)] = batch else { return None };
    read::get_messages(db, &[*id]).await.ok()?.pop()
}

/// Answers every post of `batch` with a server error.
fn fail(stats: &StoreStats, batch: Vec<(MessageId, PendingPost)>, error: &sea_orm::DbErr) {
    tracing::error!(%error, "post could not be written");
    stats
        .failed_posts
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    for (_, pending) in batch {
        let _ = pending.reply.send(Err(StoreError::from(error)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserName;
    use crate::store::{connect, migrate_database};

    /// A commit that landed though its answer was lost: writing the post
    /// again meets its own id, and the poster hears it is stored.
    #[tokio::test]
    async fn a_post_already_committed_is_answered_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}/w.db?mode=rwc", dir.path().display());
        let db = connect::connect(&url, false).await.unwrap();
        migrate_database(&db).await.unwrap();
        let post = NewMessage::parse(
            UserName::parse("user", "ann").unwrap(),
            "once #only",
            &[],
            500,
        )
        .unwrap();
        let id = MessageId::from_ulid(Ulid::new());
        let first = write_batch(&db, &[IdentifiedPost { id, post: &post }], false)
            .await
            .unwrap();

        let published = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = published.clone();
        let setup = WriterSetup {
            db: db.clone(),
            stats: Arc::new(StoreStats::default()),
            clock: Arc::new(SystemTime::now),
            max_batch: 1,
            on_commit: Some(Arc::new(move |messages: &[Message]| {
                seen.lock().unwrap().extend(messages.iter().map(|m| m.id));
            })),
            notify: Arc::new(AtomicBool::new(false)),
        };
        let (reply, answer) = oneshot::channel();
        write_and_answer(&setup, vec![(id, PendingPost { post, reply })]).await;
        let answered = answer.await.unwrap().expect("answered as stored");
        assert_eq!(answered, first[0]);
        assert_eq!(*published.lock().unwrap(), [id]);
        assert_eq!(setup.stats.failed_posts.load(Ordering::Relaxed), 0);
    }
}
