//! Counters the store keeps about its own work, exported on `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Write attempts in a row that could not reach the database after which
/// the writer counts as unhealthy (one blip does not flip readiness).
const UNHEALTHY_AFTER: u64 = 2;

#[derive(Debug, Default)]
pub struct StoreStats {
    /// Posts committed.
    pub posts: AtomicU64,
    /// Transactions committed by the group-commit writer.
    pub batches: AtomicU64,
    /// Transactions tried again after a serialization failure or deadlock.
    pub transaction_retries: AtomicU64,
    /// Posts that could not be written (answered with a server error).
    pub failed_posts: AtomicU64,
    /// SQL statements sent to the database (reads and writes).
    pub statements: AtomicU64,
    /// Posts refused with "unavailable, nothing written" (503): they waited
    /// their whole post timeout, in the queue or for a database out of reach.
    pub posts_unavailable: AtomicU64,
    /// Write attempts that failed because the database could not be
    /// reached, or did not answer within the post timeout.
    pub unreachable_attempts: AtomicU64,
    /// Commits whose outcome was unknown (the connection was lost during
    /// COMMIT), later settled by writing the batch again or reading it back.
    pub uncertain_commits: AtomicU64,
    /// Times the writer task panicked and was started again.
    pub writer_restarts: AtomicU64,
    /// Whether the writer task is running.
    pub writer_running: AtomicBool,
    /// Write attempts in a row that did not reach the database (reset by
    /// any write or probe that does).
    pub unreachable_streak: AtomicU64,
}

impl StoreStats {
    /// The writer is running and its last write attempts reached the
    /// database (see [`crate::store::Store::writer_healthy`]).
    pub fn writer_healthy(&self) -> bool {
        self.writer_running.load(Ordering::Relaxed)
            && self.unreachable_streak.load(Ordering::Relaxed) < UNHEALTHY_AFTER
    }

    pub(crate) fn reached_database(&self) {
        self.unreachable_streak.store(0, Ordering::Relaxed);
    }

    pub(crate) fn missed_database(&self) {
        self.unreachable_attempts.fetch_add(1, Ordering::Relaxed);
        self.unreachable_streak.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One missed attempt is a blip; the second in a row makes the writer
    /// unhealthy (and `/readyz` answer 503); one that reaches the database
    /// makes it healthy again. A writer that is not running is unhealthy.
    #[test]
    fn the_writer_turns_unhealthy_at_the_second_miss_in_a_row() {
        let stats = StoreStats::default();
        assert!(!stats.writer_healthy(), "not running yet");
        stats.writer_running.store(true, Ordering::Relaxed);
        assert!(stats.writer_healthy());
        stats.missed_database();
        assert!(stats.writer_healthy(), "one miss is a blip");
        stats.missed_database();
        assert!(!stats.writer_healthy(), "two in a row");
        stats.reached_database();
        assert!(stats.writer_healthy(), "reached again");
        stats.missed_database();
        assert!(stats.writer_healthy(), "the streak starts over");
        assert_eq!(stats.unreachable_attempts.load(Ordering::Relaxed), 3);
    }
}
