//! SQLite's WAL checkpoints, off the write path.
//!
//! In WAL mode a commit appends to the write-ahead log, and by default the
//! commit that takes the log past 1,000 pages also copies it back into the
//! database file and syncs both: that one commit, and the POST waiting on
//! it, took 15 to 27 ms instead of about 1 (one post in a hundred, one
//! at a time; BENCHMARKS.md, "Live fan-out", sixth run). The writer's
//! connections therefore never checkpoint (`wal_autocheckpoint=0`, see
//! `connect::connect_writer`); this task does it from a read connection,
//! every [`CHECKPOINT_INTERVAL`], in `PASSIVE` mode: it copies what no
//! reader still needs and never waits for, or blocks, the writer. The log
//! starts over at the writer's next transaction once a checkpoint has
//! copied all of it, so it stays near what one interval writes.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::periodic::{self, Chore};

/// How often the log is copied back into the database file.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Starts checkpointing the SQLite database behind `db` (a file in WAL
/// mode) every [`CHECKPOINT_INTERVAL`], for as long as the returned chore
/// is held (SQLite checkpoints by itself when the last connection closes).
/// A failed checkpoint is logged and tried again at the next; the log only
/// grows meanwhile.
pub(crate) fn spawn(db: DatabaseConnection) -> Chore {
    periodic::every(CHECKPOINT_INTERVAL, move || {
        let db = db.clone();
        async move {
            if let Err(error) = checkpoint(&db).await {
                tracing::warn!(%error, "WAL checkpoint failed; trying again later");
            }
        }
    })
}

/// One passive checkpoint; returns the log's size and how much of it is
/// now in the database file, in pages.
pub(crate) async fn checkpoint(db: &DatabaseConnection) -> Result<(i64, i64), DbErr> {
    let row = db
        .query_one(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("wal_checkpoint answered no row".to_owned()))?;
    // (busy, log pages, checkpointed pages); busy is always 0 when passive.
    let logged: i64 = row.try_get_by_index(1)?;
    let copied: i64 = row.try_get_by_index(2)?;
    Ok((logged, copied))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::connect::{connect, connect_writer, WAL_SIZE_LIMIT};

    fn sql(text: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, text)
    }

    /// The database file's name in the directory of [`store_pools`].
    const DATABASE: &str = "log.db";

    /// A SQLite file in a directory of its own, with a store's two pools on
    /// it: reads, and the writer's (one connection).
    async fn store_pools() -> (tempfile::TempDir, DatabaseConnection, DatabaseConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}?mode=rwc", dir.path().join(DATABASE).display());
        let reads = connect(&url, false).await.unwrap();
        let writes = connect_writer(&url, false, 1, Duration::from_secs(5))
            .await
            .unwrap();
        (dir, reads, writes)
    }

    async fn autocheckpoint(db: &DatabaseConnection) -> i64 {
        let row = db
            .query_one(sql("PRAGMA wal_autocheckpoint"))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    }

    /// The writer's commits leave the log alone however long it grows, and
    /// the task copies it into the database file.
    #[tokio::test]
    async fn the_log_is_copied_back_by_the_task_not_by_the_writers_commits() {
        let (dir, reads, writes) = store_pools().await;
        let file = dir.path().join(DATABASE);
        assert_eq!(
            autocheckpoint(&writes).await,
            0,
            "the writer never checkpoints"
        );
        assert_eq!(
            autocheckpoint(&reads).await,
            1000,
            "SQLite's default elsewhere"
        );

        writes
            .execute(sql("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)"))
            .await
            .unwrap();
        // About 1,600 pages of 4 KiB, one commit each 16 KiB: past the
        // 1,000 pages at which a commit would checkpoint by default.
        for _ in 0..400 {
            writes
                .execute(sql("INSERT INTO t (body) VALUES (randomblob(16384))"))
                .await
                .unwrap();
        }
        let file_size = || std::fs::metadata(&file).unwrap().len();
        assert!(
            file_size() < 1024 * 1024,
            "no commit copied the log into the file ({} bytes)",
            file_size()
        );

        let _task = spawn(reads.clone());
        let deadline = std::time::Instant::now() + CHECKPOINT_INTERVAL * 10;
        while file_size() < 6 * 1024 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "the task did not checkpoint ({} bytes)",
                file_size()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (logged, copied) = checkpoint(&reads).await.unwrap();
        assert_eq!(logged, copied, "everything logged is in the file");
    }

    /// A log that grew past the limit between two checkpoints is cut back
    /// to it when it starts over (the writer's next commit after the task
    /// copied it all), not kept at its largest.
    #[tokio::test]
    async fn a_log_grown_past_the_limit_is_cut_back_when_it_starts_over() {
        let (dir, reads, writes) = store_pools().await;
        let log = dir.path().join(format!("{DATABASE}-wal"));
        writes
            .execute(sql("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)"))
            .await
            .unwrap();
        // One transaction of about 20 MiB: the log grows past the limit.
        writes
            .execute(sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1280)
                 INSERT INTO t (body) SELECT randomblob(16384) FROM n",
            ))
            .await
            .unwrap();
        let log_size = || std::fs::metadata(&log).unwrap().len();
        assert!(log_size() > WAL_SIZE_LIMIT, "{} bytes", log_size());

        let (logged, copied) = checkpoint(&reads).await.unwrap();
        assert_eq!(logged, copied, "everything logged is in the file");
        writes
            .execute(sql("INSERT INTO t (body) VALUES (x'00')"))
            .await
            .unwrap();
        assert!(
            log_size() <= WAL_SIZE_LIMIT,
            "the log was not cut back ({} bytes)",
            log_size()
        );
    }
}
