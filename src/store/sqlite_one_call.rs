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
//! - **Cancellation.** Dropping a transaction rolled it back. A call
//!   dropped halfway (the writer stops waiting at the post timeout) is
//!   rolled back too: the driver stops after the statement it is running,
//!   and a `ROLLBACK` queued behind it, from a task of its own, undoes
//!   the rest (or finds the call committed, if `COMMIT` was that
//!   statement). [`OneCall::wait`] lets the writer's read-back wait for
//!   that, so that it never reads a call half done; the next call waits
//!   the same way. (The call itself runs in the writer's task: a task of
//!   its own for every call queued each batch twice behind whatever else
//!   the runtime had to do, and cost group commit a tenth of its posts
//!   per second in `cargo bench --bench write_path`.)

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sea_orm::sqlx::{self, pool::PoolConnection, Sqlite, SqlitePool};
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, Statement};
use sea_query_binder::SqlxValues;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::stats::StoreStats;

/// The writer's one-call writes: the one running or being undone, if any,
/// and the store's statement count. Cheap to clone.
#[derive(Clone)]
pub(crate) struct OneCall {
    /// Held by a call from before it starts until what it did is
    /// committed or undone.
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

    /// Returns once no call is running or being undone: what the last one
    /// did is committed or undone.
    pub(crate) async fn wait(&self) {
        drop(self.running.lock().await);
    }

    /// Runs `inserts` (statements separated by semicolons) between `BEGIN`
    /// and `COMMIT` in one call on one connection of `pool`: all of it is
    /// written, or none of it (see the module's notes).
    pub(super) async fn write(&self, pool: &SqlitePool, inserts: Statement) -> Result<(), DbErr> {
        let running = self.running.clone().lock_owned().await;
        let connection = pool.acquire().await.map_err(acquire_error)?;
        let mut call = Call {
            connection: Some(connection),
            running: Some(running),
        };
        let result = call.run(inserts, &self.stats).await;
        call.finish();
        result
    }
}

/// A call and its connection; undone from a task of its own if dropped
/// before it finished.
struct Call {
    connection: Option<PoolConnection<Sqlite>>,
    /// Released once what the call did is committed or undone.
    running: Option<OwnedMutexGuard<()>>,
}

impl Call {
    async fn run(&mut self, inserts: Statement, stats: &StoreStats) -> Result<(), DbErr> {
        let connection = self.connection.as_mut().expect("a call runs once");
        let sql = format!("BEGIN;\n{};\nCOMMIT", inserts.sql);
        let values = inserts.values.unwrap_or(sea_orm::Values(Vec::new()));
        stats.statements.fetch_add(1, Ordering::Relaxed);
        let written = sqlx::query_with(&sql, SqlxValues(values))
            .execute(&mut **connection)
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(error) => {
                undo(connection).await;
                Err(DbErr::Exec(RuntimeErr::SqlxError(error)))
            }
        }
    }

    /// The call ended: its connection goes back to the pool.
    fn finish(mut self) {
        self.connection = None;
        self.running = None;
    }
}

impl Drop for Call {
    /// Dropped before it finished: the driver stops after the statement
    /// it is running, and the `ROLLBACK` queued behind it undoes the rest.
    fn drop(&mut self) {
        let (Some(mut connection), Some(running)) = (self.connection.take(), self.running.take())
        else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    undo(&mut connection).await;
                    drop(connection);
                    drop(running);
                });
            }
            // No runtime to undo it on: closing the connection does (SQLite
            // rolls back what a closing connection left open).
            Err(_) => connection.close_on_drop(),
        }
    }
}

/// Rolls back what a failed or dropped call left open. Nothing to undo
/// when `BEGIN` failed or was never run, when `COMMIT` ran, or when SQLite
/// undid the transaction itself; a connection whose state is otherwise
/// unknown is closed, not reused.
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
