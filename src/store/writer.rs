//! Group commit: one writer task per process takes every post that is
//! waiting, writes them in one transaction, then answers each request.
//!
//! Under light load a batch is one post, so nothing waits longer than its own
//! write; under heavy load the per-transaction cost (commit, counter upsert)
//! is shared by the whole batch, so throughput rises with load instead of
//! collapsing on the hot "all messages this minute" counter row.
//!
//! When the database is slow or out of reach, the write path degrades
//! instead of piling up: a post waits at most its post timeout (counted from
//! when it was sent, queue included) and is then refused, unwritten (see
//! [`super::pending`] and [`super::commit`]). The writer task is supervised:
//! if it panics, the posts of its batch are answered from what the database
//! holds and a new task takes over the same queue.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::commit::{write_and_answer, Taken};
use super::own_mark::OwnMark;
use super::pending::{unavailable, wait, PendingPost, PostSlot, Take};
use super::read;
use super::sqlite_one_call::OneCall;
use super::stats::StoreStats;
use super::{CommitHook, StoreError};
use crate::domain::{Message, MessageId, NewMessage};

/// The most posts one transaction carries; keeps statements well under the
/// bound-parameter limits of every backend (10 hashtags × 4 values each).
pub const MAX_BATCH: usize = 256;
/// Posts that may wait for the writer before new ones wait for room.
const QUEUE_DEPTH: usize = 4096;
/// What a refused client is told to wait before trying again, when the
/// writer is only busy, and when the database is out of reach.
pub(crate) const RETRY_AFTER_BUSY: Duration = Duration::from_secs(1);
pub(crate) const RETRY_AFTER_UNREACHABLE: Duration = Duration::from_secs(2);
/// While the database is out of reach and no post is waiting, how often the
/// writer asks it whether it is back (so that health recovers by itself).
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A writer that panics again this soon after a restart is restarted only
/// after this pause, so that a panic on every batch cannot spin.
const RESTART_PAUSE: Duration = Duration::from_millis(200);

/// What the writer task needs.
pub(crate) struct WriterSetup {
    /// The writer's own pool.
    pub db: DatabaseConnection,
    /// Authors' and hashtags' ids by name, shared with the listings.
    pub names: Arc<super::names::NameCache>,
    pub stats: Arc<StoreStats>,
    /// Mints the ids (with the store's clock) and knows this process's
    /// low-water mark; shared with the live side.
    pub own_mark: Arc<OwnMark>,
    pub max_batch: usize,
    pub on_commit: Option<CommitHook>,
    /// SQLite batches written in one call, and the one still running.
    pub one_call: OneCall,
    /// Whether batches also NOTIFY their ids (read per batch: the relay
    /// mode is known only once the database has been asked what it is).
    pub notify: Arc<AtomicBool>,
    /// How long a post may wait, from when it is sent to when it is taken;
    /// also the longest one write attempt may take.
    pub post_timeout: Duration,
}

/// The writer's state, shared by the task and its supervisor: it outlives
/// a task that panics.
pub(crate) struct Writer {
    pub setup: WriterSetup,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<PendingPost>>>,
    /// The posts of the batch being written, for the supervisor to answer
    /// if the task dies with them.
    in_flight: Mutex<Vec<(MessageId, Arc<PostSlot>)>>,
}

impl Writer {
    pub(crate) fn new(setup: WriterSetup, queue: mpsc::Receiver<PendingPost>) -> Writer {
        Writer {
            setup,
            queue: Arc::new(tokio::sync::Mutex::new(queue)),
            in_flight: Mutex::new(Vec::new()),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Vec<(MessageId, Arc<PostSlot>)>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Those of `ids` the database holds, read once a one-call write that
    /// may still run has ended (see [`OneCall`]); an error past the post
    /// timeout.
    pub(crate) async fn read_back(
        &self,
        ids: &[MessageId],
    ) -> Result<Result<Vec<Message>, sea_orm::DbErr>, tokio::time::error::Elapsed> {
        tokio::time::timeout(self.setup.post_timeout, async {
            self.setup.one_call.wait().await;
            read::get_messages(&self.setup.db, ids).await
        })
        .await
    }
}

/// The sending side of the writer's queue; cheap to clone.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    queue: mpsc::Sender<PendingPost>,
    post_timeout: Duration,
    stats: Arc<StoreStats>,
}

impl WriterHandle {
    /// Starts the supervised writer task. It ends when every handle is
    /// dropped.
    pub(crate) fn spawn(setup: WriterSetup) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        let handle = WriterHandle {
            queue,
            post_timeout: setup.post_timeout,
            stats: setup.stats.clone(),
        };
        setup.stats.writer_running.store(true, Ordering::Relaxed);
        tokio::spawn(supervise(Arc::new(Writer::new(setup, receiver))));
        handle
    }

    /// Queues `post` and waits until it is committed, has failed for good,
    /// or could not be taken by the writer within the post timeout
    /// ([`StoreError::Unavailable`]: then nothing was written).
    pub(crate) async fn post(&self, post: NewMessage) -> Result<Message, StoreError> {
        let result = self.queue_and_wait(post).await;
        if let Err(StoreError::Unavailable { .. }) = &result {
            self.stats.posts_unavailable.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn queue_and_wait(&self, post: NewMessage) -> Result<Message, StoreError> {
        let deadline = Instant::now() + self.post_timeout;
        let refusal = || {
            if self.stats.writer_healthy() {
                unavailable("the writer is busy", RETRY_AFTER_BUSY)
            } else {
                unavailable("the database cannot be reached", RETRY_AFTER_UNREACHABLE)
            }
        };
        let (slot, answer) = PostSlot::new(deadline);
        let pending = PendingPost {
            post,
            slot: slot.clone(),
        };
        match tokio::time::timeout_at(deadline, self.queue.send(pending)).await {
            Err(_) => return Err(refusal()),
            Ok(Err(_)) => return Err(StoreError::WriterStopped),
            Ok(Ok(())) => {}
        }
        wait(&slot, answer, refusal).await
    }

    pub(crate) fn healthy(&self) -> bool {
        self.stats.writer_healthy()
    }
}

/// Runs the writer task, and a new one each time it panics.
async fn supervise(writer: Arc<Writer>) {
    let stats = writer.setup.stats.clone();
    let mut last_restart: Option<Instant> = None;
    loop {
        stats.writer_running.store(true, Ordering::Relaxed);
        let ended = tokio::spawn(run(writer.clone())).await;
        stats.writer_running.store(false, Ordering::Relaxed);
        let panic = match ended {
            // Every handle is gone: nothing more will be posted.
            Ok(()) => return,
            Err(error) if error.is_panic() => error.into_panic(),
            // Cancelled: the runtime is shutting down.
            Err(_) => return,
        };
        stats.writer_restarts.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            panic = panic_text(panic.as_ref()),
            "the writer task panicked; answering its batch and starting it again"
        );
        settle_in_flight(&writer).await;
        // Whatever the dead task was writing is settled now.
        writer.setup.own_mark.finished(None);
        if last_restart.is_some_and(|at| at.elapsed() < RESTART_PAUSE * 5) {
            tokio::time::sleep(RESTART_PAUSE).await;
        }
        last_restart = Some(Instant::now());
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "(not a string)"
    }
}

/// Answers the posts a panicking writer left unanswered from what the
/// database holds: stored if their ids are there (the panic came after the
/// commit, in the commit hook say), an error if not (the transaction was
/// dropped, so rolled back) or if the database cannot tell.
///
/// The commit hook is not called again for posts found stored (it may be
/// what panicked): live feeds on this process may miss them.
async fn settle_in_flight(writer: &Writer) {
    let open: Vec<(MessageId, Arc<PostSlot>)> = std::mem::take(&mut *writer.in_flight())
        .into_iter()
        .filter(|(_, slot)| !slot.is_answered())
        .collect();
    if open.is_empty() {
        return;
    }
    let stats = &writer.setup.stats;
    let ids: Vec<MessageId> = open.iter().map(|(id, _)| *id).collect();
    let lookup = writer.read_back(&ids).await;
    let mut stored = match lookup {
        Ok(Ok(messages)) => messages,
        outcome => {
            let reason = match outcome {
                Ok(Err(error)) => error.to_string(),
                _ => "the database did not answer in time".to_owned(),
            };
            tracing::error!(%reason, posts = open.len(), "cannot tell whether the panicking writer's posts were stored");
            stats
                .failed_posts
                .fetch_add(open.len() as u64, Ordering::Relaxed);
            for (_, slot) in open {
                slot.answer(Err(StoreError::Writer(format!(
                    "the writer failed while writing this post, and whether it was stored is unknown: {reason}"
                ))));
            }
            return;
        }
    };
    tracing::warn!(
        stored = stored.len(),
        posts = open.len(),
        "answered the panicking writer's posts from the database"
    );
    for (id, slot) in open {
        match stored.iter().position(|message| message.id == id) {
            Some(found) => {
                slot.answer(Ok(stored.swap_remove(found)));
            }
            None => {
                stats.failed_posts.fetch_add(1, Ordering::Relaxed);
                slot.answer(Err(StoreError::Writer(
                    "the writer failed while writing this post; it was not stored".to_owned(),
                )));
            }
        }
    }
}

/// The writer task: takes whatever is waiting, writes it, answers it.
async fn run(writer: Arc<Writer>) {
    let setup = &writer.setup;
    let mut queue = writer.queue.clone().lock_owned().await;
    let mut received = Vec::with_capacity(setup.max_batch);
    loop {
        let count = if setup.stats.unreachable_streak.load(Ordering::Relaxed) > 0 {
            tokio::select! {
                count = queue.recv_many(&mut received, setup.max_batch) => count,
                _ = tokio::time::sleep(PROBE_INTERVAL) => {
                    probe(setup).await;
                    continue;
                }
            }
        } else {
            queue.recv_many(&mut received, setup.max_batch).await
        };
        if count == 0 {
            return;
        }
        let now = Instant::now();
        let taken: Vec<PendingPost> = received
            .drain(..)
            .filter(|pending| {
                pending.slot.take(now, || {
                    unavailable(
                        "the post waited for the writer past its deadline",
                        RETRY_AFTER_BUSY,
                    )
                }) == Take::Taken
            })
            .collect();
        if taken.is_empty() {
            continue;
        }
        // Stamped in one go: the batch counts as in flight for the mark
        // from the moment its ids exist.
        let ids = setup.own_mark.stamp(taken.len());
        let largest = ids.iter().max().copied();
        let batch: Vec<Taken> = taken
            .into_iter()
            .zip(ids)
            .map(|(pending, id)| Taken {
                id,
                post: pending.post,
                slot: pending.slot,
            })
            .collect();
        *writer.in_flight() = batch.iter().map(|t| (t.id, t.slot.clone())).collect();
        write_and_answer(&writer, batch, false).await;
        writer.in_flight().clear();
        // After the commit hook has handed the batch to the hub.
        setup.own_mark.finished(largest);
    }
}

/// Asks the database whether it is back, on the writer's own pool.
async fn probe(setup: &WriterSetup) {
    let backend = setup.db.get_database_backend();
    let ping = setup
        .db
        .execute(Statement::from_string(backend, "SELECT 1"));
    if let Ok(Ok(_)) = tokio::time::timeout(setup.post_timeout, ping).await {
        tracing::info!("the database can be reached again");
        setup.stats.reached_database();
    }
}

#[cfg(test)]
mod tests;
