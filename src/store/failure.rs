//! What a failed write says about the database, and so what the writer
//! does next.
//!
//! - A **conflict** (serialization failure, deadlock, SQLite busy) is tried
//!   again at once by [`super::retry::with_retries`].
//! - **Unreachable**: the database could not be reached or could not serve
//!   any write just then (connection refused or lost, pool acquire timeout,
//!   I/O, TLS or protocol errors, the server shutting down or starting up,
//!   out of connections, memory or disk). No post is at fault, so the batch
//!   is retried whole while its posts can still wait. When it happens during
//!   COMMIT the commit may have landed: its outcome is unknown.
//! - **Ambiguous**: the database itself says the outcome is unknown
//!   (CockroachDB's 40003, "statement completion unknown").
//! - **Rejected**: anything else, which may be one post's fault (a
//!   constraint, a value the database refuses): the batch is written again
//!   post by post so that only the post at fault fails.

use sea_orm::sqlx::error::DatabaseError;
use sea_orm::sqlx::postgres::PgDatabaseError;
use sea_orm::sqlx::sqlite::SqliteError;
use sea_orm::sqlx::Error as SqlxError;
use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Conflict,
    Unreachable,
    Ambiguous,
    Rejected,
}

/// Sorts a write error into what the writer does about it.
pub(crate) fn classify(error: &DbErr) -> Failure {
    match error {
        DbErr::ConnectionAcquire(_) => Failure::Unreachable,
        // Errors of the connection itself (opening one, a pool that has
        // gone): whatever the cause, no post is at fault.
        DbErr::Conn(_) => Failure::Unreachable,
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            classify_sqlx(error)
        }
        _ => Failure::Rejected,
    }
}

/// Whether `error` came from getting a connection, so that the statement
/// it stopped was never sent: such a failure cannot have written anything,
/// even when that statement was the one that commits.
pub(crate) fn never_sent(error: &DbErr) -> bool {
    // sea-orm reports a failed acquire (pool timeout, or connecting anew)
    // as these two, and a statement's own failure as `Exec` or `Query`.
    matches!(error, DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
}

fn classify_sqlx(error: &SqlxError) -> Failure {
    match error {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::Protocol(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed
        | SqlxError::BeginFailed => Failure::Unreachable,
        SqlxError::Database(database) => {
            if let Some(pg) = database.try_downcast_ref::<PgDatabaseError>() {
                classify_sqlstate(pg.code())
            } else if let Some(sqlite) = database.try_downcast_ref::<SqliteError>() {
                sqlite
                    .code()
                    .and_then(|code| code.parse().ok())
                    .map_or(Failure::Rejected, classify_sqlite)
            } else {
                Failure::Rejected
            }
        }
        _ => Failure::Rejected,
    }
}

/// PostgreSQL / CockroachDB SQLSTATE codes.
fn classify_sqlstate(code: &str) -> Failure {
    match code {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => Failure::Conflict,
        // statement_completion_unknown (CockroachDB: "result is ambiguous")
        "40003" => Failure::Ambiguous,
        // admin_shutdown, crash_shutdown, cannot_connect_now,
        // query_canceled (statement_timeout), lock_not_available
        // (lock_timeout), read_only_sql_transaction (a standby, or a
        // cluster that lost its write quorum)
        "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "25006" => Failure::Unreachable,
        // connection_exception (08), insufficient_resources (53: disk
        // full, out of memory, too many connections), system_error (58:
        // I/O)
        _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("58") => {
            Failure::Unreachable
        }
        _ => Failure::Rejected,
    }
}

/// SQLite extended result codes; the primary code is the low byte.
fn classify_sqlite(code: i32) -> Failure {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const NOMEM: i32 = 7;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    const PROTOCOL: i32 = 15;
    match code & 0xff {
        BUSY | LOCKED => Failure::Conflict,
        NOMEM | READONLY | IOERR | FULL | CANTOPEN | PROTOCOL => Failure::Unreachable,
        _ => Failure::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnAcquireErr;

    fn exec(error: SqlxError) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(error))
    }

    fn io(kind: std::io::ErrorKind) -> DbErr {
        exec(SqlxError::Io(std::io::Error::from(kind)))
    }

    #[test]
    fn a_database_out_of_reach_is_nobody_s_fault() {
        for error in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            DbErr::Conn(RuntimeErr::SqlxError(SqlxError::PoolTimedOut)),
            DbErr::Conn(RuntimeErr::Internal("connect".into())),
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
            io(std::io::ErrorKind::UnexpectedEof),
            io(std::io::ErrorKind::BrokenPipe),
            DbErr::Query(RuntimeErr::SqlxError(SqlxError::Protocol(
                "unexpected".into(),
            ))),
            exec(SqlxError::PoolClosed),
            exec(SqlxError::WorkerCrashed),
        ] {
            assert_eq!(classify(&error), Failure::Unreachable, "{error:?}");
        }
    }

    /// A failed acquire never sent its statement; a lost connection during
    /// one may have (it is uncertain once that statement commits).
    #[test]
    fn only_a_failed_acquire_is_known_not_to_have_sent() {
        assert!(never_sent(&DbErr::ConnectionAcquire(
            ConnAcquireErr::Timeout
        )));
        assert!(never_sent(&DbErr::Conn(RuntimeErr::SqlxError(
            SqlxError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
        ))));
        assert!(!never_sent(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(!never_sent(&io(std::io::ErrorKind::UnexpectedEof)));
    }

    #[test]
    fn sqlstates_are_sorted_by_what_they_mean() {
        for code in [
            "57P01", "57P02", "57P03", "08006", "08001", "53300", "53100", "58030",
        ] {
            assert_eq!(classify_sqlstate(code), Failure::Unreachable, "{code}");
        }
        assert_eq!(classify_sqlstate("40001"), Failure::Conflict);
        assert_eq!(classify_sqlstate("40P01"), Failure::Conflict);
        assert_eq!(classify_sqlstate("40003"), Failure::Ambiguous);
        // Constraint violations and bad values can be one post's fault.
        for code in ["23505", "23503", "22001", "22P02", "42P01", "XX000"] {
            assert_eq!(classify_sqlstate(code), Failure::Rejected, "{code}");
        }
    }

    #[test]
    fn sqlite_codes_are_read_by_their_primary_code() {
        assert_eq!(classify_sqlite(5), Failure::Conflict);
        assert_eq!(classify_sqlite(517), Failure::Conflict); // BUSY_SNAPSHOT
        assert_eq!(classify_sqlite(10), Failure::Unreachable);
        assert_eq!(classify_sqlite(266), Failure::Unreachable); // IOERR_READ
        assert_eq!(classify_sqlite(13), Failure::Unreachable);
        assert_eq!(classify_sqlite(2067), Failure::Rejected); // CONSTRAINT_UNIQUE
        assert_eq!(classify_sqlite(1555), Failure::Rejected); // CONSTRAINT_PRIMARYKEY
        assert_eq!(classify_sqlite(1), Failure::Rejected);
    }

    #[test]
    fn errors_of_our_own_making_may_be_a_post_s_fault() {
        for error in [
            DbErr::Custom("user \"x\" was not created".into()),
            DbErr::Exec(RuntimeErr::Internal("x".into())),
            exec(SqlxError::Encode("bad".into())),
            exec(SqlxError::RowNotFound),
        ] {
            assert_eq!(classify(&error), Failure::Rejected, "{error:?}");
        }
    }

    /// Real errors from a real database, not hand-made ones: a unique
    /// violation is the post's affair; a closed pool is not.
    #[tokio::test]
    async fn errors_from_sqlite_itself_are_classified() {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let run = |sql: &'static str| {
            let db = db.clone();
            async move {
                db.execute(Statement::from_string(db.get_database_backend(), sql))
                    .await
            }
        };
        run("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        run("INSERT INTO t VALUES (1)").await.unwrap();
        let duplicate = run("INSERT INTO t VALUES (1)").await.unwrap_err();
        assert_eq!(classify(&duplicate), Failure::Rejected, "{duplicate:?}");
        db.clone().close().await.unwrap();
        let closed = run("SELECT 1").await.unwrap_err();
        assert_eq!(classify(&closed), Failure::Unreachable, "{closed:?}");
    }
}
