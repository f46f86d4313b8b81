//! This process's low-water mark: the smallest message id its writer may
//! still commit. Other processes' live feeds hold a message until every
//! process's mark has passed it (see `live::marks`), so the mark must never
//! be above an id this process commits later.
//!
//! Ids are minted here, under the same lock that computes the mark, so that
//! no batch can be stamped between reading the clock for a mark and
//! announcing it:
//! - while a batch is being written, the mark is its first (smallest) id;
//! - when idle, it is the smallest id the next stamp can give: the clock's
//!   current millisecond with zero random bits, or just above the last id
//!   minted if the clock stands still or stepped back (ids rise strictly
//!   within the process).
//!
//! Also the text form of a mark announcement, which the write path sends
//! with each batch and the live side with its heartbeats.

use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use ulid::{Generator, Ulid};

use super::Clock;
use crate::domain::MessageId;

/// The PostgreSQL channel of mark announcements (beside
/// [`super::NOTIFY_CHANNEL`], which keeps carrying only message ids).
pub const MARKS_CHANNEL: &str = "dunder_marks";

/// The writer's ids and what is in flight.
pub struct OwnMark {
    process_id: u64,
    clock: Clock,
    state: Mutex<State>,
}

struct State {
    /// Kept across writer restarts, so that ids still rise within the
    /// process.
    ids: Generator,
    /// The largest id minted so far.
    last_minted: Option<MessageId>,
    /// The first id of the batch being written.
    in_flight: Option<MessageId>,
    /// The largest id of the last batch done.
    last_done: Option<MessageId>,
}

impl OwnMark {
    /// A mark for a new process, with a random process id.
    pub(crate) fn new(clock: Clock) -> OwnMark {
        OwnMark {
            process_id: fastrand::u64(..),
            clock,
            state: Mutex::new(State {
                ids: Generator::new(),
                last_minted: None,
                in_flight: None,
                last_done: None,
            }),
        }
    }

    /// This process's random id, chosen when the store opened.
    pub fn process_id(&self) -> u64 {
        self.process_id
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ids for a batch of `count` posts, each stamped with the clock when
    /// minted; the batch is in flight until [`OwnMark::finished`].
    pub(crate) fn stamp(&self, count: usize) -> Vec<MessageId> {
        let mut state = self.state();
        let ids: Vec<MessageId> = (0..count)
            .map(|_| {
                let id = state
                    .ids
                    .generate_from_datetime((self.clock)())
                    .unwrap_or_else(|_| Ulid::new());
                MessageId::from_ulid(id)
            })
            .collect();
        if let Some(largest) = ids.iter().max() {
            state.last_minted = state.last_minted.max(Some(*largest));
        }
        if state.in_flight.is_none() {
            state.in_flight = ids.iter().min().copied();
        }
        ids
    }

    /// The batch in flight is done (committed and handed to the commit
    /// hook, or failed for good).
    pub(crate) fn finished(&self, largest: Option<MessageId>) {
        let mut state = self.state();
        state.in_flight = None;
        if largest.is_some() {
            state.last_done = state.last_done.max(largest);
        }
    }

    /// The smallest id this process may still commit. A batch done was
    /// handed to the hub, whose fan-out may not have put it in every
    /// feed's queue yet: the live marks also hold what the hub has not
    /// handed out (`Hub::lowest_unhanded`).
    pub fn mark(&self) -> MessageId {
        let state = self.state();
        let idle = self.idle_mark(&state);
        state.in_flight.map_or(idle, |first| idle.min(first))
    }

    /// The largest id of the last batch done: a peer applies this
    /// process's mark once its relay has brought that message.
    pub fn last_done(&self) -> Option<MessageId> {
        self.state().last_done
    }

    /// The smallest id the next stamp can give.
    fn idle_mark(&self, state: &State) -> MessageId {
        let millis = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            .min((1 << 48) - 1) as u64;
        let now = MessageId::from_ulid(Ulid::from_parts(millis, 0));
        match state.last_minted {
            Some(last) => now.max(successor(last)),
            None => now,
        }
    }
}

/// The id just above `id`.
pub(crate) fn successor(id: MessageId) -> MessageId {
    MessageId::from_ulid(Ulid(id.ulid().0.saturating_add(1)))
}

/// One process's announcement of its mark: the process, its mark, and the
/// largest id it has written (which a peer must have received before it
/// applies the mark, since the mark and the message travel apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkNotice {
    pub process_id: u64,
    pub mark: MessageId,
    pub last: Option<MessageId>,
}

impl MarkNotice {
    /// `process/mark/last` (process in hex; `last` empty if none).
    pub fn to_payload(&self) -> String {
        let last = self.last.map(|id| id.to_string()).unwrap_or_default();
        format!("{:x}/{}/{}", self.process_id, self.mark, last)
    }

    /// Reads back [`MarkNotice::to_payload`]; `None` for anything else.
    pub fn parse(payload: &str) -> Option<MarkNotice> {
        let mut parts = payload.split('/');
        let process_id = u64::from_str_radix(parts.next()?, 16).ok()?;
        let mark = MessageId::parse("mark", parts.next()?).ok()?;
        let last = match parts.next()? {
            "" => None,
            text => Some(MessageId::parse("last", text).ok()?),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(MarkNotice {
            process_id,
            mark,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A mark whose clock reads `millis` milliseconds since the epoch.
    fn at(millis: Arc<AtomicU64>) -> OwnMark {
        OwnMark::new(Arc::new(move || {
            UNIX_EPOCH + Duration::from_millis(millis.load(Ordering::SeqCst))
        }))
    }

    fn floor(ms: u64) -> MessageId {
        MessageId::from_ulid(Ulid::from_parts(ms, 0))
    }

    #[test]
    fn the_mark_is_the_batch_in_flight_then_the_clock() {
        let millis = Arc::new(AtomicU64::new(1_000));
        let own = at(millis.clone());
        assert_eq!(own.mark(), floor(1_000));
        let ids = own.stamp(3);
        millis.store(2_000, Ordering::SeqCst);
        // In flight: the batch's first id, whatever the clock says.
        assert_eq!(own.mark(), ids[0]);
        assert!(ids.iter().all(|id| *id >= own.mark()));
        own.finished(ids.iter().max().copied());
        assert_eq!(own.mark(), floor(2_000));
        assert_eq!(own.last_done(), ids.iter().max().copied());
    }

    #[test]
    fn a_clock_that_stands_still_or_steps_back_keeps_the_mark_below_the_next_id() {
        let millis = Arc::new(AtomicU64::new(5_000));
        let own = at(millis.clone());
        let first = own.stamp(2);
        own.finished(first.iter().max().copied());
        millis.store(4_000, Ordering::SeqCst);
        let mark = own.mark();
        assert!(mark > first[1], "above what was minted");
        let next = own.stamp(1);
        assert!(next[0] >= mark, "the next id is at or above the mark");
    }

    #[test]
    fn a_notice_reads_back() {
        let notice = MarkNotice {
            process_id: u64::MAX - 7,
            mark: floor(42),
            last: Some(floor(41)),
        };
        assert_eq!(MarkNotice::parse(&notice.to_payload()), Some(notice));
        let idle = MarkNotice {
            last: None,
            ..notice
        };
        assert_eq!(MarkNotice::parse(&idle.to_payload()), Some(idle));
        for bad in ["", "x/y/z", "1/2", "ff/01ARZ3NDEKTSV4RRFFQ69G5FAV//"] {
            assert_eq!(MarkNotice::parse(bad), None, "{bad:?}");
        }
    }
}
