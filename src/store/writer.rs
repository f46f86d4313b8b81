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

use super::retry::with_retries;
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
        Ok(messages) => {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats
                .posts
                .fetch_add(messages.len() as u64, Ordering::Relaxed);
            if let Some(on_commit) = &setup.on_commit {
                on_commit(&messages);
            }
            for ((_, pending), message) in batch.into_iter().zip(messages) {
                let _ = pending.reply.send(Ok(message));
            }
        }
        Err(error) if batch.len() > 1 => {
            // One post must not sink the others: write each on its own so
            // only the one at fault (if any) fails.
            tracing::warn!(%error, size = batch.len(), "batch failed, writing its posts one by one");
            for single in batch {
                Box::pin(write_and_answer(setup, vec![single])).await;
            }
        }
        Err(error) => {
            tracing::error!(%error, "post could not be written");
            stats.failed_posts.fetch_add(1, Ordering::Relaxed);
            for (_, pending) in batch {
                let _ = pending.reply.send(Err(StoreError::from(&error)));
            }
        }
    }
}
