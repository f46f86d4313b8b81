//! One post waiting for the writer, and the small state it shares with the
//! request that waits for it.
//!
//! A queued post is **Queued** until either the writer takes it into a
//! batch (**Taken**) or the waiting request gives up at its deadline
//! (**Abandoned**). Both sides move it with a compare-and-swap, so exactly
//! one wins: an abandoned post is never written, and a taken post is always
//! answered with its batch's outcome (the request keeps waiting for it).
//!
//! The reply channel sits in the shared state rather than in the batch, so
//! that whoever resolves a batch (the writer, or its supervisor after a
//! panic) can answer every post of it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::StoreError;
use crate::domain::{Message, NewMessage};

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

pub(crate) type Answer = Result<Message, StoreError>;

/// What the writer may do with a post it found in the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// The post is the writer's: write it and answer it.
    Taken,
    /// Its deadline has passed: the writer refused it and answered so.
    Expired,
    /// Its request has given up or gone away: nothing to write or answer.
    Skipped,
}

/// The state a queued post shares with its waiting request.
pub(crate) struct PostSlot {
    state: AtomicU8,
    deadline: Instant,
    reply: Mutex<Option<oneshot::Sender<Answer>>>,
}

impl PostSlot {
    /// A slot for a post that may wait until `deadline`, and the receiver
    /// its request waits on.
    pub(crate) fn new(deadline: Instant) -> (Arc<PostSlot>, oneshot::Receiver<Answer>) {
        let (sender, receiver) = oneshot::channel();
        let slot = PostSlot {
            state: AtomicU8::new(QUEUED),
            deadline,
            reply: Mutex::new(Some(sender)),
        };
        (Arc::new(slot), receiver)
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The writer's move: takes the post unless its request has given up or
    /// gone, or its deadline has passed (then refuses it with `refusal`).
    pub(crate) fn take(&self, now: Instant, refusal: impl FnOnce() -> StoreError) -> Take {
        if self.requester_gone() || now >= self.deadline {
            if self.swap(ABANDONED) && !self.requester_gone() {
                self.answer(Err(refusal()));
                return Take::Expired;
            }
            return Take::Skipped;
        }
        if self.swap(TAKEN) {
            Take::Taken
        } else {
            Take::Skipped
        }
    }

    /// The request's move at its deadline: true when it gave the post up
    /// before the writer took it (so it is not, and will not be, written).
    pub(crate) fn abandon(&self) -> bool {
        self.swap(ABANDONED)
    }

    fn swap(&self, to: u8) -> bool {
        self.state
            .compare_exchange(QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Sends the post's answer, once; false when it was already answered.
    pub(crate) fn answer(&self, answer: Answer) -> bool {
        match self.reply().take() {
            Some(sender) => {
                let _ = sender.send(answer);
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_answered(&self) -> bool {
        self.reply().is_none()
    }

    /// Whether the request stopped waiting (its client went away).
    pub(crate) fn requester_gone(&self) -> bool {
        self.reply()
            .as_ref()
            .is_some_and(|sender| sender.is_closed())
    }

    fn reply(&self) -> std::sync::MutexGuard<'_, Option<oneshot::Sender<Answer>>> {
        // A panic while holding this lock cannot leave the option half-made.
        self.reply
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A post in the writer's queue.
pub(crate) struct PendingPost {
    pub post: NewMessage,
    pub slot: Arc<PostSlot>,
}

/// The request's side: waits for the answer until the slot's deadline;
/// then gives the post up if the writer has not taken it (`refusal`), or
/// keeps waiting for the batch it is in.
pub(crate) async fn wait(
    slot: &PostSlot,
    mut answer: oneshot::Receiver<Answer>,
    refusal: impl FnOnce() -> StoreError,
) -> Answer {
    let stopped = |_| Err(StoreError::WriterStopped);
    tokio::select! {
        biased;
        result = &mut answer => return result.unwrap_or_else(stopped),
        _ = tokio::time::sleep_until(slot.deadline()) => {}
    }
    if slot.abandon() {
        return Err(refusal());
    }
    answer.await.unwrap_or_else(stopped)
}

/// A refusal: nothing was written; try again after `retry_after`.
pub(crate) fn unavailable(reason: &str, retry_after: Duration) -> StoreError {
    StoreError::Unavailable {
        reason: reason.to_owned(),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageId, User};

    fn refusal() -> StoreError {
        unavailable("test", Duration::from_secs(1))
    }

    fn message() -> Message {
        let id = MessageId::from_ulid(ulid::Ulid::new());
        Message {
            id,
            user: User {
                id: 1,
                name: "ann".into(),
            },
            text: "hi".into(),
            hashtags: Vec::new(),
            created_at: id.created_at(),
        }
    }

    fn in_a_second() -> Instant {
        Instant::now() + Duration::from_secs(1)
    }

    #[test]
    fn the_writer_and_the_request_cannot_both_win() {
        let (slot, _answer) = PostSlot::new(in_a_second());
        assert_eq!(slot.take(Instant::now(), refusal), Take::Taken);
        assert!(!slot.abandon(), "a taken post is not abandoned");

        let (slot, _answer) = PostSlot::new(in_a_second());
        assert!(slot.abandon());
        assert_eq!(slot.take(Instant::now(), refusal), Take::Skipped);
        assert!(!slot.is_answered(), "nobody answers an abandoned post");
    }

    #[test]
    fn a_post_past_its_deadline_is_refused_by_the_writer() {
        let (slot, mut answer) = PostSlot::new(Instant::now());
        assert_eq!(slot.take(Instant::now(), refusal), Take::Expired);
        assert!(matches!(
            answer.try_recv(),
            Ok(Err(StoreError::Unavailable { .. }))
        ));
        assert!(!slot.abandon());
    }

    #[test]
    fn a_post_whose_request_has_gone_is_skipped() {
        let (slot, answer) = PostSlot::new(in_a_second());
        drop(answer);
        assert!(slot.requester_gone());
        assert_eq!(slot.take(Instant::now(), refusal), Take::Skipped);
    }

    #[test]
    fn a_post_is_answered_once() {
        let (slot, mut answer) = PostSlot::new(in_a_second());
        assert!(slot.answer(Ok(message())));
        assert!(!slot.answer(Err(refusal())));
        assert!(slot.is_answered());
        assert!(answer.try_recv().unwrap().is_ok());
    }

    const SHORT: Duration = Duration::from_millis(200);

    fn soon() -> Instant {
        Instant::now() + SHORT
    }

    #[tokio::test]
    async fn a_request_gives_up_at_its_deadline_when_nobody_took_its_post() {
        let (slot, answer) = PostSlot::new(soon());
        let started = Instant::now();
        let result = wait(&slot, answer, refusal).await;
        assert!(matches!(result, Err(StoreError::Unavailable { .. })));
        let waited = started.elapsed();
        assert!(waited >= SHORT && waited < SHORT * 5, "{waited:?}");
        assert_eq!(slot.take(Instant::now(), refusal), Take::Skipped);
    }

    #[tokio::test]
    async fn a_taken_post_waits_for_its_batch_past_the_deadline() {
        let (slot, answer) = PostSlot::new(soon());
        assert_eq!(slot.take(Instant::now(), refusal), Take::Taken);
        let writer = slot.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SHORT * 3).await;
            writer.answer(Ok(message()));
        });
        let started = Instant::now();
        let result = wait(&slot, answer, refusal).await;
        assert!(result.is_ok(), "answered with the batch's outcome");
        assert!(started.elapsed() >= SHORT * 3);
    }

    #[tokio::test]
    async fn an_answer_before_the_deadline_comes_at_once() {
        let (slot, answer) = PostSlot::new(Instant::now() + Duration::from_secs(30));
        assert_eq!(slot.take(Instant::now(), refusal), Take::Taken);
        slot.answer(Ok(message()));
        let started = Instant::now();
        assert!(wait(&slot, answer, refusal).await.is_ok());
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
