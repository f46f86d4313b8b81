//! Opening the database named by a URL: SQLite (the embedded default, a file
//! in WAL mode) or PostgreSQL / CockroachDB over the PostgreSQL protocol.
//!
//! A store opens two pools: one for reads, and a small one the writer keeps
//! for itself, so that a burst of reads can never leave a post waiting for a
//! connection. The write pool's timeouts are short, derived from how long a
//! post may wait, so that an unreachable database is noticed in time to
//! answer the post.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// How long a read waits for a connection (or SQLite for a lock).
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SQLite reader waits for a lock (a checkpoint, say).
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The size the writer's connections cut the write-ahead log file to
/// when it starts over (see [`sqlite_settings`]): a few seconds of the
/// heaviest posting, so that a steady load does not cut and grow it at
/// every checkpoint.
pub(crate) const WAL_SIZE_LIMIT: u64 = 16 * 1024 * 1024;
/// An idle time and a lifetime that never end: sea-orm sets them only as
/// durations.
const KEPT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Connects to `url` with pool settings suited to its backend, for reads
/// (and for migrations and tools).
///
/// `log_statements` turns on SQL logging (the historical `cockroach.debug`).
pub async fn connect(url: &str, log_statements: bool) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    // sea-orm's connect timeout is sqlx's acquire timeout as well.
    options
        .connect_timeout(READ_TIMEOUT)
        .acquire_timeout(READ_TIMEOUT)
        .sqlx_logging(log_statements);
    if url.starts_with("sqlite:") {
        // Every connection is opened here, by the thread that opens the
        // store, and kept as long as the pool (sqlx closes a connection
        // idle for 10 minutes or open for 30 by default, and opens another):
        // - an in-memory database exists once per connection: one is
        //   kept, and closing it would lose the database;
        // - each connection has a driver thread, which takes the priority
        //   of the thread that opens the connection. Reads also come from
        //   the subscribers' threads (a query over a WebSocket, a feed's
        //   replay), which run at delivery's lower priority; a connection
        //   opened from one ran every later read at that priority, REST
        //   ones too.
        let connections = if is_in_memory(url) { 1 } else { 8 };
        options
            .max_connections(connections)
            .min_connections(connections)
            .idle_timeout(KEPT)
            .max_lifetime(KEPT);
        sqlite_settings(&mut options, READ_BUSY_TIMEOUT, Checkpoints::OnCommit);
    } else {
        options.max_connections(16).min_connections(0);
    }
    Database::connect(options).await
}

/// Connects the writer's own pool, lazily: `connections` connections, and
/// an acquire timeout of `wait` (also SQLite's busy timeout: how long a
/// write waits for the database lock another process holds).
///
/// On SQLite both pools open the same file in WAL mode: readers never block
/// the one writer nor the writer them, and only the writer's connections
/// write, one transaction at a time.
pub async fn connect_writer(
    url: &str,
    log_statements: bool,
    connections: u32,
    wait: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let connections = connections.max(1);
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(wait)
        .acquire_timeout(wait)
        .max_connections(connections)
        .min_connections(1)
        .connect_lazy(true)
        .sqlx_logging(log_statements);
    if url.starts_with("sqlite:") {
        // A commit never checkpoints the log: the store's checkpoint task
        // does, off the write path (see `checkpoint`).
        sqlite_settings(&mut options, wait, Checkpoints::Never);
        // No ping before each batch: a SQLite connection is an open file,
        // it cannot go stale as a network connection can, and the ping was
        // a round trip to its driver thread on every batch.
        options.test_before_acquire(false);
    }
    Database::connect(options).await
}

/// Whether `url` names an in-memory SQLite database, which exists once per
/// connection: such a store has one pool for reads and writes.
pub fn is_in_memory(url: &str) -> bool {
    url.starts_with("sqlite:") && (url.contains(":memory:") || url.contains("mode=memory"))
}

/// Whether a connection's commits checkpoint the write-ahead log.
#[derive(Clone, Copy)]
enum Checkpoints {
    /// SQLite's default: the commit that takes the log past 1,000 pages.
    /// Reads never commit anything; the few writes outside the writer
    /// (migrations, tools, cleanups) may.
    OnCommit,
    /// Never: the writer's connections.
    Never,
}

fn sqlite_settings(options: &mut ConnectOptions, busy_timeout: Duration, checkpoints: Checkpoints) {
    options.map_sqlx_sqlite_opts(move |sqlite| {
        // WAL lets readers run beside the one writer; NORMAL sync is
        // durable across process crashes in WAL mode, and the busy timeout
        // makes a connection wait for a lock (a checkpoint, another
        // process's write), not fail at once.
        let sqlite = sqlite
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        match checkpoints {
            Checkpoints::OnCommit => sqlite,
            // Once the log has been copied back and starts over, the file
            // is cut to this size: SQLite otherwise keeps it at the largest
            // it ever grew to (an import, a long burst of posts between
            // two checkpoints).
            Checkpoints::Never => sqlite
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string()),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's read pools open every connection at once and keep them:
    /// none is closed for idling or age, and none opened later, by
    /// whichever thread reads then (see `connect`).
    #[tokio::test]
    async fn sqlite_read_connections_are_all_opened_at_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("sqlite:{}/kept.db?mode=rwc", dir.path().display());
        for (url, connections) in [(file.as_str(), 8), ("sqlite::memory:", 1)] {
            let db = connect(url, false).await.unwrap();
            let pool = db.get_sqlite_connection_pool();
            assert_eq!(pool.size(), connections, "{url}");
            let options = pool.options();
            assert_eq!(options.get_min_connections(), connections);
            assert_eq!(options.get_max_connections(), connections);
            assert_eq!(options.get_idle_timeout(), Some(KEPT));
            assert_eq!(options.get_max_lifetime(), Some(KEPT));
        }
    }

    #[test]
    fn in_memory_sqlite_is_recognized() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite:file:x?mode=memory&cache=shared"));
        assert!(!is_in_memory("sqlite:/tmp/d.db?mode=rwc"));
        assert!(!is_in_memory("postgres://u@h/memory"));
    }

    /// Two pools on one file: the writer's writes are seen by the readers'
    /// pool at once, and a long read does not hold the writer up.
    #[tokio::test]
    async fn two_pools_share_one_sqlite_file() {
        use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}/two.db?mode=rwc", dir.path().display());
        let reads = connect(&url, false).await.unwrap();
        let writes = connect_writer(&url, false, 2, Duration::from_millis(500))
            .await
            .unwrap();
        let sql = |s: &str| Statement::from_string(sea_orm::DbBackend::Sqlite, s);
        writes
            .execute(sql("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            .await
            .unwrap();
        // A reader holds a snapshot open while the writer commits twice.
        let reader = reads.begin().await.unwrap();
        reader.query_all(sql("SELECT * FROM t")).await.unwrap();
        for id in 1..=2 {
            let txn = writes.begin().await.unwrap();
            txn.execute(sql(&format!("INSERT INTO t VALUES ({id})")))
                .await
                .unwrap();
            txn.commit().await.unwrap();
        }
        reader.commit().await.unwrap();
        let rows = reads.query_all(sql("SELECT * FROM t")).await.unwrap();
        assert_eq!(rows.len(), 2);
        let mode = reads
            .query_one(sql("PRAGMA journal_mode"))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<String>(0)
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
