//! A SQLite batch whose authors and hashtags are all known (every batch
//! once the names are warm), written in one call to the driver: `BEGIN`,
//! the inserts and `COMMIT` as one string of statements.
//!
//! Why: SQLite's driver runs each connection on a thread of its own, and
//! every call is a round trip to that thread, two thread hand-offs. A
//! transaction made three calls (`BEGIN`, the inserts, `COMMIT`); on two
//! cores that 10,000 subscribers keep busy, a POST waits for a core at
//! each hand-off (BENCHMARKS.md, "Live fan-out", tenth run).
//!
//! What a transaction object did, done here:
//! - **Undo.** The driver stops at the first statement that fails and
//!   leaves the transaction open: `ROLLBACK` follows on the same
//!   connection before it goes back to the pool.
//! - **Cancellation.** Dropping a transaction rolled it back, but a call
//!   dropped halfway would leave its transaction open (the driver stops
//!   sending once no one listens). So the call runs in a task of its own
//!   to its end, `COMMIT` or `ROLLBACK`, even when the writer stops
//!   waiting for it (the post timeout); and [`OneCall::wait`] lets the
//!   writer's read-back wait for it, so that it neither reads what the
//!   call has half done nor races its commit. The next one-call write
//!   waits for it the same way.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sea_orm::sqlx::{self, pool::PoolConnection, Sqlite, SqlitePool};
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, Statement};
use sea_query_binder::SqlxValues;
use tokio::sync::Mutex;

use super::stats::StoreStats;

/// The writer's one-call writes: the one still running, if any, and the
/// store's statement count. Cheap to clone.
#[derive(Clone)]
pub(crate) struct OneCall {
    /// Held by a one-call write from before it starts to its end.
    running: Arc<Mutex<()>>,
    stats: Arc<StoreStats>,
}

impl OneCall {
    pub(crate) fn new(stats: Arc<StoreStats>) -> OneCall {
        OneCall {
            running: Arc::default(),
            stats,
        }
    }

    /// Returns once no one-call write is running: what the last one did is
    /// committed or undone.
    pub(crate) async fn wait(&self) {
        drop(self.running.lock().await);
    }

    /// Runs `inserts` (statements separated by semicolons) between `BEGIN`
    /// and `COMMIT` in one call on one connection of `pool`: all of it is
    /// written, or none of it (see the module's notes).
    pub(super) async fn write(&self, pool: &SqlitePool, inserts: Statement) -> Result<(), DbErr> {
        // Taken before the task exists: a read-back that follows a
        // cancelled write cannot go first.
        let running = self.running.clone().lock_owned().await;
        let pool = pool.clone();
        let stats = self.stats.clone();
        let task = tokio::spawn(async move {
            let result = run(&pool, inserts, &stats).await;
            drop(running);
            result
        });
        match task.await {
            Ok(result) => result,
            // A panic in the driver's glue: its connection was dropped, and
            // with it the transaction (SQLite undoes an open transaction
            // when its connection closes).
            Err(error) => Err(DbErr::Custom(format!(
                "the batch's write task failed: {error}"
            ))),
        }
    }
}

async fn run(pool: &SqlitePool, inserts: Statement, stats: &StoreStats) -> Result<(), DbErr> {
    let mut connection = pool.acquire().await.map_err(acquire_error)?;
    let sql = format!("BEGIN;\n{};\nCOMMIT", inserts.sql);
    let values = inserts.values.unwrap_or(sea_orm::Values(Vec::new()));
    stats.statements.fetch_add(1, Ordering::Relaxed);
    let written = sqlx::query_with(&sql, SqlxValues(values))
        .execute(&mut *connection)
        .await;
    match written {
        Ok(_) => Ok(()),
        Err(error) => {
            undo(&mut connection).await;
            Err(DbErr::Exec(RuntimeErr::SqlxError(error)))
        }
    }
}

/// Rolls back what ran before the statement that failed. Nothing to undo
/// when `BEGIN` failed, or when SQLite undid the transaction itself; a
/// connection whose state is otherwise unknown is closed, not reused.
async fn undo(connection: &mut PoolConnection<Sqlite>) {
    if let Err(error) = sqlx::query("ROLLBACK").execute(&mut **connection).await {
        if !no_transaction(&error) {
            tracing::warn!(%error, "cannot roll a failed batch back; its connection is closed");
            connection.close_on_drop();
        }
    }
}

/// SQLite's answer to `ROLLBACK` outside a transaction.
fn no_transaction(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|error| error.message().contains("no transaction is active"))
}

/// A pool's refusal as the rest of the store sees it (SeaORM's mapping).
fn acquire_error(error: sqlx::Error) -> DbErr {
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        error => DbErr::Conn(RuntimeErr::SqlxError(error)),
    }
}
