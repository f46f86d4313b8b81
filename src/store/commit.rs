//! Writing one batch the writer has taken until every post in it has an
//! outcome: stored, refused (nothing written, try again later), or failed.
//!
//! - A batch the database cannot take just now (out of reach, too slow,
//!   conflicts that would not clear: see [`super::failure`]) is tried again
//!   whole, with backoff, while its posts can still wait (until the earliest
//!   deadline in the batch; a retry that has not reached COMMIT by then is
//!   dropped); then every post in it is refused as unavailable. No post is
//!   at fault, so it is not split. Every attempt is bounded by the post
//!   timeout.
//! - A batch the database rejected may hold one bad post: its posts are
//!   written again one by one, so only the post at fault fails.
//! - A commit whose outcome is unknown (the connection was lost during
//!   COMMIT) may have landed. Such a batch is never answered "not written":
//!   it is written again with the same ids until that succeeds (it had not
//!   landed) or meets its own ids (it had: answered as stored, read back).
//!   Its posts keep waiting for that, past their deadline, up to
//!   [`UNCERTAIN_LIMIT`]; after that they fail (500), as nobody can tell.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbErr;
use tokio::time::Instant;

use super::failure::{classify, never_sent, Failure};
use super::pending::{unavailable, PostSlot};
use super::retry::{is_unique_violation, with_retries};
use super::write_batch::{write_batch, IdentifiedPost};
use super::writer::{Writer, RETRY_AFTER_BUSY, RETRY_AFTER_UNREACHABLE};
use super::StoreError;
use crate::domain::{Message, MessageId, NewMessage};

/// How long the posts of a batch whose commit outcome is unknown may wait
/// for the database to come back and tell.
pub(crate) const UNCERTAIN_LIMIT: Duration = Duration::from_secs(30);
const FIRST_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// A post the writer has taken, with the id it gave it.
pub(crate) struct Taken {
    pub id: MessageId,
    pub post: NewMessage,
    pub slot: Arc<PostSlot>,
}

/// The posts of `batch` as [`write_batch`] takes them.
pub(super) fn identified(batch: &[Taken]) -> Vec<IdentifiedPost<'_>> {
    batch
        .iter()
        .map(|taken| IdentifiedPost {
            id: taken.id,
            post: &taken.post,
        })
        .collect()
}

/// How one try of a batch went wrong.
struct AttemptError {
    /// None when the attempt took longer than the post timeout.
    error: Option<DbErr>,
    failure: Failure,
    /// The failure came during or after COMMIT: the batch may be stored.
    uncertain: bool,
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(error) => error.fmt(f),
            None => f.write_str("the write did not finish within the post timeout"),
        }
    }
}

/// Writes `batch` and answers each of its posts. `maybe_written`: an
/// earlier commit of these posts (same ids) may have landed.
pub(crate) async fn write_and_answer(
    writer: &Writer,
    mut batch: Vec<Taken>,
    mut maybe_written: bool,
) {
    let stats = &writer.setup.stats;
    let Some(earliest) = batch.iter().map(|taken| taken.slot.deadline()).min() else {
        return;
    };
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    let mut last: Option<AttemptError> = None;
    loop {
        // A retry still short of COMMIT at the earliest deadline is given
        // up (nothing can have been written). The first try always runs its
        // course, so that a post taken just before its deadline is not
        // refused by a database that is merely busy.
        let cut_at = (last.is_some() && !maybe_written).then_some(earliest);
        let failed = match attempt(writer, &batch, cut_at).await {
            Tried::Written(messages) => {
                stats.reached_database();
                answer_committed(writer, batch, messages);
                return;
            }
            Tried::GaveUp => {
                let last = last.expect("only a retry is given up");
                return refuse(batch, &last);
            }
            Tried::Failed(failed) => failed,
        };
        if failed.uncertain && !maybe_written {
            maybe_written = true;
            stats.uncertain_commits.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %failed, size = batch.len(), "commit outcome unknown; writing the batch again to find out");
        }
        match failed.failure {
            Failure::Unreachable => stats.missed_database(),
            _ => stats.reached_database(),
        }
        if failed.failure == Failure::Rejected {
            let error = failed
                .error
                .as_ref()
                .expect("a rejection carries its error");
            if !is_unique_violation(error) && !maybe_written {
                return rejected(writer, batch, error, maybe_written).await;
            }
            // Written again, a batch that had landed meets its own ids.
            match settle_stored(writer, batch).await {
                Ok(rest) => {
                    if !rest.is_empty() {
                        rejected(writer, rest, error, maybe_written).await;
                    }
                    return;
                }
                Err((rest, read_error)) => {
                    tracing::warn!(error = %read_error, "cannot read the batch back; trying again");
                    batch = rest;
                    maybe_written = true;
                    stats.missed_database();
                }
            }
        }
        // Out of reach, too slow, or conflicts that would not clear: try the
        // whole batch again while its posts can wait (or, when it may have
        // landed, while its outcome may still be learned).
        let give_up_at = if maybe_written {
            started + UNCERTAIN_LIMIT
        } else {
            earliest
        };
        let pause = jitter(delay);
        if Instant::now() + pause >= give_up_at {
            if maybe_written {
                let reason = format!("whether the post was stored is unknown: {failed}");
                fail(writer, batch, &reason);
            } else {
                refuse(batch, &failed);
            }
            return;
        }
        tracing::debug!(error = %failed, size = batch.len(), ?pause, "batch not written; trying again");
        tokio::time::sleep(pause).await;
        delay = (delay * 2).min(MAX_DELAY);
        last = Some(failed);
    }
}

/// How one try of a batch ended.
enum Tried {
    Written(Vec<Message>),
    Failed(AttemptError),
    /// Given up at its deadline before COMMIT: nothing was written.
    GaveUp,
}

/// One try of the whole batch (conflicts retried inside), at most the post
/// timeout long; given up at `give_up_at` if it has not reached COMMIT by
/// then.
async fn attempt(writer: &Writer, batch: &[Taken], give_up_at: Option<Instant>) -> Tried {
    let setup = &writer.setup;
    let posts = identified(batch);
    let notify = setup
        .notify
        .load(Ordering::Relaxed)
        .then(|| setup.own_mark.process_id());
    let committing = AtomicBool::new(false);
    let write = with_retries(&setup.stats.transaction_retries, || {
        committing.store(false, Ordering::SeqCst);
        write_batch(
            &setup.db,
            &setup.names,
            &posts,
            notify,
            &committing,
            &setup.one_call,
        )
    });
    tokio::pin!(write);
    let capped = tokio::time::timeout(setup.post_timeout, async {
        if let Some(give_up_at) = give_up_at {
            tokio::select! {
                result = &mut write => return Some(result),
                _ = tokio::time::sleep_until(give_up_at) => {}
            }
            // The write is not polled while this is read: if COMMIT has not
            // been sent yet, it never will be once the write is dropped.
            if !committing.load(Ordering::SeqCst) {
                return None;
            }
        }
        Some((&mut write).await)
    })
    .await;
    let at_commit = committing.load(Ordering::SeqCst);
    match capped {
        Ok(Some(Ok(messages))) => Tried::Written(messages),
        Ok(Some(Err(error))) => {
            let failure = classify(&error);
            let uncertain = failure == Failure::Ambiguous
                || (at_commit && failure == Failure::Unreachable && !never_sent(&error));
            Tried::Failed(AttemptError {
                error: Some(error),
                failure,
                uncertain,
            })
        }
        Ok(None) => Tried::GaveUp,
        // Cancelled mid-write: the dropped transaction rolls back, unless
        // COMMIT had been sent.
        Err(_) => Tried::Failed(AttemptError {
            error: None,
            failure: Failure::Unreachable,
            uncertain: at_commit,
        }),
    }
}

/// Reads back which posts of `batch` are stored and answers those; returns
/// the others (or, if the read failed, the whole batch and the error).
async fn settle_stored(
    writer: &Writer,
    batch: Vec<Taken>,
) -> Result<Vec<Taken>, (Vec<Taken>, DbErr)> {
    let ids: Vec<MessageId> = batch.iter().map(|taken| taken.id).collect();
    let read = writer.read_back(&ids).await;
    let found = match read {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return Err((batch, error)),
        Err(_) => {
            let error = DbErr::Custom("reading the batch back timed out".into());
            return Err((batch, error));
        }
    };
    let mut found: HashMap<MessageId, Message> = found.into_iter().map(|m| (m.id, m)).collect();
    let (stored, rest): (Vec<Taken>, Vec<Taken>) = batch
        .into_iter()
        .partition(|taken| found.contains_key(&taken.id));
    if !stored.is_empty() {
        tracing::info!(
            posts = stored.len(),
            "posts found already stored; answered as stored"
        );
        let messages = stored
            .iter()
            .map(|taken| found.remove(&taken.id).expect("partitioned on presence"))
            .collect();
        answer_committed(writer, stored, messages);
    }
    Ok(rest)
}

/// A batch the database rejected: one bad post must not sink the others,
/// so each is written on its own and only the one at fault (if any) fails.
async fn rejected(writer: &Writer, batch: Vec<Taken>, error: &DbErr, maybe_written: bool) {
    if batch.len() > 1 {
        tracing::warn!(%error, size = batch.len(), "batch rejected, writing its posts one by one");
        for single in batch {
            Box::pin(write_and_answer(writer, vec![single], maybe_written)).await;
        }
    } else if is_unique_violation(error) && batch.iter().all(|t| t.post.idempotency.is_some()) {
        // Not stored (settled before), so what is taken is its key: another
        // post with it won. Not a failure: the caller answers from the key.
        for taken in batch {
            taken.slot.answer(Err(StoreError::KeyTaken));
        }
    } else {
        fail(writer, batch, &error.to_string());
    }
}

/// Counts a committed batch, hands it to the commit hook (live feeds), then
/// answers each poster with its message.
fn answer_committed(writer: &Writer, batch: Vec<Taken>, messages: Vec<Message>) {
    let setup = &writer.setup;
    setup.stats.batches.fetch_add(1, Ordering::Relaxed);
    setup
        .stats
        .posts
        .fetch_add(messages.len() as u64, Ordering::Relaxed);
    if let Some(on_commit) = &setup.on_commit {
        on_commit(&messages);
    }
    for (taken, message) in batch.into_iter().zip(messages) {
        taken.slot.answer(Ok(message));
    }
}

/// Answers every post of `batch` with a server error.
fn fail(writer: &Writer, batch: Vec<Taken>, reason: &str) {
    tracing::error!(%reason, posts = batch.len(), "posts could not be written");
    writer
        .setup
        .stats
        .failed_posts
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    for taken in batch {
        taken
            .slot
            .answer(Err(StoreError::Writer(reason.to_owned())));
    }
}

/// Answers every post of `batch` "unavailable: nothing was written".
fn refuse(batch: Vec<Taken>, failed: &AttemptError) {
    let (reason, retry_after) = match failed.failure {
        Failure::Unreachable => ("the database cannot be reached", RETRY_AFTER_UNREACHABLE),
        _ => ("the database is too busy", RETRY_AFTER_BUSY),
    };
    tracing::warn!(error = %failed, posts = batch.len(), "{reason}; posts refused, nothing written");
    for taken in batch {
        taken.slot.answer(Err(unavailable(reason, retry_after)));
    }
}

/// A pause between half and all of `delay`, so that writers on several
/// processes do not retry in lockstep.
fn jitter(delay: Duration) -> Duration {
    let millis = delay.as_millis().max(2) as u64;
    Duration::from_millis(fastrand::u64(millis / 2..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a refused or failed post's log line and error say of the
    /// attempt: the database's own words, or the timeout.
    #[test]
    fn an_attempt_error_says_what_went_wrong() {
        let timed_out = AttemptError {
            error: None,
            failure: Failure::Unreachable,
            uncertain: false,
        };
        assert_eq!(
            timed_out.to_string(),
            "the write did not finish within the post timeout"
        );
        let refused = AttemptError {
            error: Some(DbErr::Custom("connection refused".to_owned())),
            failure: Failure::Unreachable,
            uncertain: false,
        };
        assert_eq!(refused.to_string(), "Custom Error: connection refused");
    }
}
