//! Opening the database named by a URL: SQLite (the embedded default, a file
//! in WAL mode) or PostgreSQL / CockroachDB over the PostgreSQL protocol.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Connects to `url` with pool settings suited to its backend.
///
/// `log_statements` turns on SQL logging (the historical `cockroach.debug`).
pub async fn connect(url: &str, log_statements: bool) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(log_statements);
    if url.starts_with("sqlite:") {
        // An in-memory database exists once per connection: keep one.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        options
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .map_sqlx_sqlite_opts(|sqlite| {
                // WAL lets readers run beside the one writer; NORMAL sync is
                // durable across process crashes in WAL mode, and the busy
                // timeout makes a reader wait for a checkpoint, not fail.
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
            });
    } else {
        options.max_connections(16).min_connections(0);
    }
    Database::connect(options).await
}
