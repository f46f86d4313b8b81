//! The store: the only place that speaks SQL. It opens the database named by
//! a URL, applies migrations, writes posts through the group-commit writer
//! and answers listings and trend queries, all with domain types.

mod checkpoint;
mod commit;
mod connect;
pub mod entity;
mod failure;
mod idempotency;
mod marks_table;
mod names;
mod own_mark;
mod pending;
mod periodic;
mod query;
mod read;
mod retry;
mod sqlite_one_call;
mod stats;
mod transfer;
mod transfer_import;
mod transfer_users;
mod trend;
mod trend_rollup;
mod users;
mod write_batch;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use crate::domain::listing::{MessageFilter, PageRequest};
use crate::domain::trend::{HashtagCount, TrendBucket, TrendQuery, TrendingQuery};
use crate::domain::{DomainError, Field, Message, MessageId, NewMessage, User};
pub use idempotency::MIN_RETENTION as MIN_IDEMPOTENCY_RETENTION;
pub use marks_table::MarkRow;
pub use own_mark::{MarkNotice, OwnMark, MARKS_CHANNEL};
pub use stats::StoreStats;
pub use transfer::{RestoreOutcome, Restored, TransferDb};
pub use writer::MAX_BATCH;
use writer::{WriterHandle, WriterSetup};

/// A store failure: never the client's fault. The text and the causes are
/// for the log only; the faces answer without them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A statement failed. The database's own error is kept as the cause
    /// (shared, since one failed batch answers several posts).
    #[error("database error: {0}")]
    Database(#[source] Arc<DbErr>),
    /// The post's idempotency key was already taken by another post (in
    /// the database, or earlier in the same batch): nothing was written.
    /// [`Store::post_once`] answers it from the key's record.
    #[error("the post's idempotency key is already taken; the post was not written")]
    KeyTaken,
    /// The writer's account of a post it could not answer with a message:
    /// not written, or written with an outcome it cannot tell.
    #[error("{0}")]
    Writer(String),
    #[error("the writer task has stopped")]
    WriterStopped,
    /// The write could not be made in time (the database cannot be reached,
    /// or the writer is too busy) and nothing was written: the client may
    /// try again after `retry_after` (503 with `Retry-After`).
    #[error("not written, try again later: {reason}")]
    Unavailable {
        reason: String,
        retry_after: std::time::Duration,
    },
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        StoreError::Database(Arc::new(error))
    }
}

/// Where the write path reads the time that stamps a message id. The
/// system clock in production; tests set their own to post "at" known times.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Called by the writer with every batch it committed, before the posters
/// hear 201: how new messages reach live feeds in this process.
pub type CommitHook = Arc<dyn Fn(&[Message]) + Send + Sync>;

/// Called with the rows of the marks table each time the tail relay reads
/// it (see [`Store::poll_marks`]): how other processes' marks reach the
/// live side when there is no NOTIFY.
pub type MarksHook = Arc<dyn Fn(Vec<MarkRow>) + Send + Sync>;

/// The PostgreSQL channel that carries the ids of committed messages to
/// other Dunder processes (LISTEN/NOTIFY).
pub const NOTIFY_CHANNEL: &str = "dunder_messages";

/// How [`Store::post_once`] answered a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Written now.
    Stored(Message),
    /// Its author's idempotency key was already taken by a post with the
    /// same body: that post's message. Nothing was written.
    Replayed(Message),
    /// Its author's idempotency key was already taken by a post with
    /// another body. Nothing was written.
    KeyReused,
}

impl Posted {
    /// The message and whether it is a replay, or the client's mistake.
    pub fn into_message(self) -> Result<(Message, bool), DomainError> {
        match self {
            Posted::Stored(message) => Ok((message, false)),
            Posted::Replayed(message) => Ok((message, true)),
            Posted::KeyReused => Err(DomainError::KeyReused {
                field: Field::IdempotencyKey,
            }),
        }
    }
}

/// How to open a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// Apply pending migrations before anything else.
    pub migrate: bool,
    /// Log every SQL statement (the historical `cockroach.debug`).
    pub log_statements: bool,
    pub clock: Clock,
    /// The most posts one group commit carries (1..=[`MAX_BATCH`]); 1 turns
    /// group commit off, which the write benchmark uses as its baseline.
    pub max_batch: usize,
    pub on_commit: Option<CommitHook>,
    /// Given the marks table's rows at each tail relay poll.
    pub on_marks: Option<MarksHook>,
    /// How long a post may wait to be written, from when it is sent (queue
    /// included), before it is refused with [`StoreError::Unavailable`] and
    /// not written. A post the writer has already taken waits for its
    /// batch's outcome instead. Also bounds one write attempt, and sets the
    /// writer pool's acquire timeout (half of it).
    pub post_timeout: Duration,
    /// Connections in the writer's own pool, which reads cannot take.
    pub write_connections: u32,
    /// How long an idempotency key's record is kept (at least
    /// [`MIN_IDEMPOTENCY_RETENTION`]), counted on `clock`.
    pub idempotency_retention: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        let writer = crate::config::WriterSettings::default();
        StoreOptions {
            migrate: true,
            log_statements: false,
            clock: Arc::new(SystemTime::now),
            max_batch: MAX_BATCH,
            on_commit: None,
            on_marks: None,
            post_timeout: Duration::from_millis(writer.post_timeout_ms),
            write_connections: writer.connections,
            idempotency_retention: Duration::from_secs(writer.idempotency_retention_hours * 3600),
        }
    }
}

/// The writer pool's acquire timeout (and SQLite busy timeout) for a post
/// timeout: half of it, so that a database out of reach is noticed while
/// the post can still be answered, within sane bounds.
fn write_wait(post_timeout: Duration) -> Duration {
    (post_timeout / 2).clamp(Duration::from_millis(50), Duration::from_secs(10))
}

/// A handle on the database; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    writer: WriterHandle,
    stats: Arc<StoreStats>,
    clock: Clock,
    notify: Arc<AtomicBool>,
    /// Behind one pointer, so that a store stays small to hold and clone.
    shared: Arc<Shared>,
}

/// What every clone of a store shares that the writer does not use.
struct Shared {
    url: Box<str>,
    /// User and hashtag ids by name, for listings' filters; the writer
    /// holds it too.
    names: Arc<names::NameCache>,
    /// The writer's ids and this process's mark.
    own_mark: Arc<OwnMark>,
    on_marks: Option<MarksHook>,
    idempotency_retention: Duration,
    /// Deletes expired idempotency records while the store lives.
    _cleanup: periodic::Chore,
    /// Checkpoints a SQLite file's write-ahead log while the store lives
    /// (the writer does not; see `checkpoint`).
    _checkpointer: Option<periodic::Chore>,
}

impl Store {
    /// Opens `url`; applies pending migrations first when asked to.
    ///
    /// Reads and the writer get pools of their own (except for an in-memory
    /// SQLite database, which exists once per connection and so has one).
    /// The writer's pool connects lazily: the database has already answered
    /// the read pool.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store, DbErr> {
        let mut db = connect::connect(url, options.log_statements).await?;
        let stats = Arc::new(StoreStats::default());
        count_statements(&mut db, &stats);
        if options.migrate {
            migrate_database(&db).await?;
        }
        let write_db = if connect::is_in_memory(url) {
            db.clone()
        } else {
            let mut write_db = connect::connect_writer(
                url,
                options.log_statements,
                options.write_connections,
                write_wait(options.post_timeout),
            )
            .await?;
            count_statements(&mut write_db, &stats);
            write_db
        };
        let notify = Arc::new(AtomicBool::new(false));
        let names = Arc::new(names::NameCache::new(names::NAME_CACHE_CAPACITY));
        let own_mark = Arc::new(OwnMark::new(options.clock.clone()));
        let writer = WriterHandle::spawn(WriterSetup {
            names: names.clone(),
            db: write_db,
            stats: stats.clone(),
            own_mark: own_mark.clone(),
            max_batch: options.max_batch.clamp(1, MAX_BATCH),
            on_commit: options.on_commit,
            one_call: sqlite_one_call::OneCall::new(stats.clone()),
            notify: notify.clone(),
            post_timeout: options.post_timeout,
        });
        let idempotency_retention = options.idempotency_retention.max(MIN_IDEMPOTENCY_RETENTION);
        let cleanup =
            idempotency::spawn_cleanup(db.clone(), options.clock.clone(), idempotency_retention);
        let checkpointer = (db.get_database_backend() == DbBackend::Sqlite
            && !connect::is_in_memory(url))
        .then(|| checkpoint::spawn(db.clone()));
        Ok(Store {
            db,
            writer,
            stats,
            clock: options.clock,
            notify,
            shared: Arc::new(Shared {
                url: url.into(),
                names,
                own_mark,
                on_marks: options.on_marks,
                idempotency_retention,
                _cleanup: cleanup,
                _checkpointer: checkpointer,
            }),
        })
    }

    /// Writes one post (in a group commit with whatever else is waiting) and
    /// returns it as stored, after the commit.
    ///
    /// [`StoreError::Unavailable`] when the writer could not take the post
    /// within the post timeout (busy, or the database out of reach): then
    /// nothing was written. A post the writer took waits for its batch's
    /// outcome; it is never answered "not written" when it was stored.
    /// A post with an idempotency key whose key is taken is answered
    /// [`StoreError::KeyTaken`]: [`Store::post_once`] answers it instead.
    #[tracing::instrument(skip_all, fields(user = %post.author))]
    pub async fn post(&self, post: NewMessage) -> Result<Message, StoreError> {
        self.writer.post(post).await
    }

    /// Writes a post at most once per idempotency key of its author: a post
    /// without a key is written as [`Store::post`] does; one whose key is
    /// already taken is answered from the key's record and not written
    /// ([`Posted::Replayed`] for the same body, [`Posted::KeyReused`] for
    /// another). The record is looked up before the post is queued (a
    /// retry costs one read), and again when the writer finds the key taken
    /// (a concurrent post with it won) or cannot tell whether the post was
    /// stored (the record says, as it is written in the post's
    /// transaction).
    #[tracing::instrument(skip_all, fields(user = %post.author))]
    pub async fn post_once(&self, post: NewMessage) -> Result<Posted, StoreError> {
        let Some(idempotency) = post.idempotency.clone() else {
            return self.post(post).await.map(Posted::Stored);
        };
        let author = post.author.clone();
        if let Some(answer) = idempotency::replay(&self.db, &author, &idempotency).await? {
            return Ok(answer);
        }
        match self.post(post).await {
            Ok(message) => Ok(Posted::Stored(message)),
            // Refused before anything was written: the client tries again.
            Err(error @ StoreError::Unavailable { .. }) => Err(error),
            Err(error) => match idempotency::replay(&self.db, &author, &idempotency).await {
                Ok(Some(answer)) => Ok(answer),
                Ok(None) => Err(error),
                Err(lookup) => {
                    tracing::warn!(error = %lookup, "cannot read the idempotency record back");
                    Err(error)
                }
            },
        }
    }

    /// Deletes the idempotency records older than the retention (counted
    /// back from [`Store::now`]); returns how many. The store does it by
    /// itself every few minutes.
    pub async fn delete_expired_idempotency_keys(&self) -> Result<u64, StoreError> {
        let Some(before) = idempotency::cutoff(&self.clock, self.shared.idempotency_retention)
        else {
            return Ok(0);
        };
        Ok(idempotency::delete_expired(&self.db, before).await?)
    }

    /// Whether posts can be written now, for `/readyz`: false while the
    /// writer task is down (between a panic and its restart) and while the
    /// database is out of the writer's reach (from the second write attempt
    /// in a row that could not reach it, or did not finish within the post
    /// timeout, until a write or the writer's probe, every second while
    /// idle, reaches it again).
    pub fn writer_healthy(&self) -> bool {
        self.writer.healthy()
    }

    /// One page of a listing, in the page's direction.
    #[tracing::instrument(skip(self))]
    pub async fn list(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(read::list_messages(&self.db, &self.shared.names, filter, page).await?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn get(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        Ok(read::get_messages(&self.db, &[id]).await?.pop())
    }

    /// The messages with these ids that exist, in no particular order (one
    /// statement for all, hashtags included).
    #[tracing::instrument(skip(self))]
    pub async fn get_many(&self, ids: &[MessageId]) -> Result<Vec<Message>, StoreError> {
        Ok(read::get_messages(&self.db, ids).await?)
    }

    /// Up to `limit` message ids above `after`, ascending (an index-only
    /// read: for relays that only need to learn what is new).
    pub async fn ids_after(
        &self,
        after: MessageId,
        limit: u64,
    ) -> Result<Vec<MessageId>, StoreError> {
        Ok(read::ids_after(&self.db, after, limit).await?)
    }

    /// The database's current time, which every process sharing the
    /// database agrees on (unlike [`Store::now`], each process's own).
    pub async fn database_now(&self) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        Ok(read::database_now(&self.db).await?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(users::user_by_name(&self.db, name).await?)
    }

    /// The users with these ids that exist, in no particular order.
    #[tracing::instrument(skip(self))]
    pub async fn users_by_id(&self, ids: &[i64]) -> Result<Vec<User>, StoreError> {
        Ok(users::users_by_id(&self.db, ids).await?)
    }

    /// The most used hashtags of the window that ends now.
    #[tracing::instrument(skip(self))]
    pub async fn trending(&self, query: &TrendingQuery) -> Result<Vec<HashtagCount>, StoreError> {
        Ok(trend::trending(&self.db, query, self.now()).await?)
    }

    /// The store's idea of now: the clock that stamps new messages.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::<chrono::Utc>::from((self.clock)())
    }

    /// The non-empty buckets of a trend query, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn trend(&self, query: &TrendQuery) -> Result<Vec<TrendBucket>, StoreError> {
        Ok(trend::trend(&self.db, &self.shared.names, query).await?)
    }

    /// The database's plan for reading one page of a listing (see
    /// [`Store::explain`]), one line per plan node; empty when the filter cannot
    /// match anything. For the tests and docs that show a page's cost does
    /// not grow with the cursor's depth.
    pub async fn explain_list(
        &self,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Vec<String>, StoreError> {
        match read::listing_statement(&self.db, &self.shared.names, filter, page).await? {
            Some(statement) => self.explain(statement).await,
            None => Ok(Vec::new()),
        }
    }

    /// The database's plan for [`Store::get_many`] of `ids`, as
    /// [`Store::explain_list`] gives it: for the tests that show a lookup by
    /// ids walks the primary key, whatever the number of ids.
    pub async fn explain_get_many(&self, ids: &[MessageId]) -> Result<Vec<String>, StoreError> {
        self.explain(read::messages_by_id(self.backend(), ids))
            .await
    }

    /// The database's plan for `statement`, one line per plan node:
    /// PostgreSQL's `EXPLAIN`, or SQLite's `EXPLAIN QUERY PLAN`, whose
    /// fourth column says what each step does.
    async fn explain(&self, mut statement: Statement) -> Result<Vec<String>, StoreError> {
        let (explain, column) = match statement.db_backend {
            DbBackend::Sqlite => ("EXPLAIN QUERY PLAN", 3),
            _ => ("EXPLAIN", 0),
        };
        statement.sql = format!("{explain} {}", statement.sql);
        let rows = self.db.query_all(statement).await?;
        rows.iter()
            .map(|row| {
                row.try_get_by_index::<String>(column)
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// Whether the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .execute(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT 1",
            ))
            .await?;
        Ok(())
    }

    /// Makes every write batch also `NOTIFY` [`NOTIFY_CHANNEL`] with its
    /// message ids, in its transaction (so only on commit). PostgreSQL only.
    pub fn enable_notify(&self) {
        self.notify.store(true, Ordering::Relaxed);
    }

    /// The writer's ids and this process's low-water mark.
    pub fn own_mark(&self) -> &Arc<OwnMark> {
        &self.shared.own_mark
    }

    /// Writes a process's row of the marks table; `updated_at` must differ
    /// from the row's previous value, or readers take the process for
    /// silent.
    pub async fn upsert_mark(
        &self,
        notice: &MarkNotice,
        updated_at: i64,
    ) -> Result<(), StoreError> {
        self.db
            .execute(marks_table::upsert(self.backend(), notice, updated_at))
            .await?;
        Ok(())
    }

    /// Deletes this process's row of the marks table (it stops).
    pub async fn delete_mark(&self, process_id: u64) -> Result<(), StoreError> {
        self.db
            .execute(marks_table::delete(self.backend(), process_id))
            .await?;
        Ok(())
    }

    /// Reads the marks table and hands its rows to the marks hook (for the
    /// tail relay, at each poll); a failed read is logged and skipped: the
    /// marks heard before still stand, and age out if it lasts.
    pub async fn poll_marks(&self) {
        let Some(hook) = &self.shared.on_marks else {
            return;
        };
        match marks_table::read(&self.db).await {
            Ok(rows) => hook(rows),
            Err(error) => tracing::warn!(%error, "could not read the live marks"),
        }
    }

    /// The statement that announces `notice` on [`MARKS_CHANNEL`], as text
    /// with its values inline, for a connection of its own (the live side
    /// sends it on its LISTEN connection).
    pub fn mark_notify_sql(notice: &MarkNotice) -> String {
        let statement = write_batch::mark_notify_statement(DbBackend::Postgres, notice);
        statement.to_string()
    }

    /// Whether the server behind a PostgreSQL URL is CockroachDB.
    pub async fn is_cockroach(&self) -> Result<bool, StoreError> {
        Ok(migration::is_cockroach(&self.db).await?)
    }

    /// The URL the store was opened with (for relays that need their own
    /// connection, such as LISTEN).
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The connection, for tests and tools that inspect the database itself.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// Counts every statement sent on `db` in `stats`.
fn count_statements(db: &mut DatabaseConnection, stats: &Arc<StoreStats>) {
    let counted = stats.clone();
    db.set_metric_callback(move |_| {
        counted.statements.fetch_add(1, Ordering::Relaxed);
    });
}

/// Applies pending migrations, one DDL statement at a time (see the
/// migration crate); returns the names of those applied.
pub async fn migrate_database(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let applied = migration::run_pending(db).await?;
    for name in &applied {
        tracing::info!(migration = %name, "migration applied");
    }
    Ok(applied)
}

/// Opens `url` and applies pending migrations, for `dunder migrate`.
pub async fn migrate_url(url: &str, log_statements: bool) -> Result<Vec<String>, DbErr> {
    let db = connect::connect(url, log_statements).await?;
    let applied = migrate_database(&db).await;
    db.close().await?;
    applied
}
