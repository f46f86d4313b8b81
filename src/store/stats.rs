//! Counters the store keeps about its own work, exported on `/metrics`.

use std::sync::atomic::AtomicU64;

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
}
