//! The writer's own tests: answers after lost commits, refusals when the
//! database is out of reach, the supervisor after a panic, and SQLite
//! batches written in one call (all or nothing, even when dropped).

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use ulid::{Generator, Ulid};

use super::*;
use crate::domain::UserName;
use crate::store::commit::identified;
use crate::store::names::NameCache;
use crate::store::write_batch::{write_batch, IdentifiedPost};
use crate::store::{connect, migrate_database};
use sea_orm::{DbBackend, TransactionTrait};

const TIMEOUT: Duration = Duration::from_millis(400);

async fn sqlite() -> (tempfile::TempDir, DatabaseConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/w.db?mode=rwc", dir.path().display());
    let db = connect::connect(&url, false).await.unwrap();
    migrate_database(&db).await.unwrap();
    (dir, db)
}

/// A fresh, migrated database of its own on the tests' PostgreSQL
/// (`DUNDER_TEST_POSTGRES_URL`), dropped with the guard. Unreachable is a
/// failure, as everywhere in the tests.
async fn postgres() -> (FreshPostgres, DatabaseConnection) {
    let admin_url = std::env::var("DUNDER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("dunder_test_{}", Ulid::new().to_string().to_lowercase());
    let admin = sea_orm::Database::connect(&admin_url)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {admin_url} is unreachable: {error}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let _ = admin.close().await;
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    let db = connect::connect(&format!("{server}/{name}{query}"), false)
        .await
        .unwrap();
    migrate_database(&db).await.unwrap();
    (FreshPostgres { admin_url, name }, db)
}

struct FreshPostgres {
    admin_url: String,
    name: String,
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // The test's runtime cannot be blocked on: a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A migrated database on `backend` and whatever keeps it alive.
async fn fresh(backend: DbBackend) -> (Box<dyn std::any::Any>, DatabaseConnection) {
    match backend {
        DbBackend::Postgres => {
            let (guard, db) = postgres().await;
            (Box::new(guard), db)
        }
        _ => {
            let (guard, db) = sqlite().await;
            (Box::new(guard), db)
        }
    }
}

/// A writer pool on a port where nothing listens: every connection is
/// refused, as when the database is down.
async fn unreachable() -> DatabaseConnection {
    connect::connect_writer(
        "postgres://postgres@127.0.0.1:9/none",
        false,
        1,
        Duration::from_millis(100),
    )
    .await
    .unwrap()
}

fn post(text: &str) -> NewMessage {
    NewMessage::parse(UserName::parse("user", "ann").unwrap(), text, &[], 500).unwrap()
}

/// An empty name cache, as a process starts with.
fn fresh_names() -> NameCache {
    NameCache::new(crate::store::names::NAME_CACHE_CAPACITY)
}

fn setup(db: DatabaseConnection, on_commit: Option<CommitHook>) -> WriterSetup {
    WriterSetup {
        db,
        names: Arc::new(fresh_names()),
        stats: Arc::new(StoreStats::default()),
        own_mark: Arc::new(crate::store::own_mark::OwnMark::new(Arc::new(
            SystemTime::now,
        ))),
        max_batch: MAX_BATCH,
        on_commit,
        one_call: one_call(),
        notify: Arc::new(AtomicBool::new(false)),
        post_timeout: TIMEOUT,
    }
}

/// One-call writes of their own, counted apart.
fn one_call() -> OneCall {
    counted_one_call().0
}

/// One-call writes and the statements they count.
fn counted_one_call() -> (OneCall, Arc<StoreStats>) {
    let stats = Arc::new(StoreStats::default());
    (OneCall::new(stats.clone()), stats)
}

fn writer(setup: WriterSetup) -> Writer {
    Writer::new(setup, mpsc::channel(1).1)
}

/// Posts as the writer has taken them, each with a fresh id and `wait`
/// to go; and the receivers their requests would wait on.
fn taken(
    posts: &[&str],
    wait: Duration,
) -> (
    Vec<Taken>,
    Vec<tokio::sync::oneshot::Receiver<Result<Message, StoreError>>>,
) {
    let mut batch = Vec::new();
    let mut answers = Vec::new();
    let mut ids = Generator::new();
    for text in posts {
        let (slot, answer) = PostSlot::new(Instant::now() + wait);
        assert_eq!(slot.take(Instant::now(), || unreachable!()), Take::Taken);
        batch.push(Taken {
            id: MessageId::from_ulid(ids.generate().unwrap()),
            post: post(text),
            slot,
        });
        answers.push(answer);
    }
    (batch, answers)
}

/// The trend counters, all summed: each post adds the same to them.
async fn counted(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT COALESCE(SUM(count), 0) AS n FROM trend_counts",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// A SQLite writer pool of one connection, as `connect_writer` opens it
/// (what one call leaves open, the next call on the pool meets), whose
/// names are warm: one post by `ann` with `#rust` is written, by a
/// transaction.
struct WarmSqlite {
    _dir: tempfile::TempDir,
    /// The read pool, on connections of its own.
    reads: DatabaseConnection,
    db: DatabaseConnection,
    names: NameCache,
    calls: OneCall,
    /// The one-call statements counted.
    stats: Arc<StoreStats>,
    /// What one post adds to the trend counters.
    per_post: i64,
}

impl WarmSqlite {
    async fn new() -> WarmSqlite {
        let (dir, reads) = sqlite().await;
        let url = format!("sqlite:{}/w.db?mode=rwc", dir.path().display());
        let db = connect::connect_writer(&url, false, 1, Duration::from_secs(5))
            .await
            .unwrap();
        let (calls, stats) = counted_one_call();
        let mut warm = WarmSqlite {
            _dir: dir,
            reads,
            db,
            names: fresh_names(),
            calls,
            stats,
            per_post: 0,
        };
        let (first, _answers) = taken(&["warm #rust"], TIMEOUT);
        warm.write(&first).await.unwrap();
        assert_eq!(warm.one_calls(), 0, "new names: a transaction");
        warm.per_post = counted(&warm.db).await;
        assert!(warm.per_post > 0);
        warm
    }

    async fn write(&self, batch: &[Taken]) -> Result<Vec<Message>, sea_orm::DbErr> {
        let posts = identified(batch);
        let committing = AtomicBool::new(false);
        write_batch(
            &self.db,
            &self.names,
            &posts,
            None,
            &committing,
            &self.calls,
        )
        .await
    }

    fn one_calls(&self) -> u64 {
        self.stats.statements.load(Ordering::Relaxed)
    }

    /// The trend counters, in posts: exactly a whole number of them.
    async fn counted_posts(&self) -> i64 {
        let counted = counted(&self.db).await;
        assert_eq!(counted % self.per_post, 0, "counters of part of a post");
        counted / self.per_post
    }
}

/// Once its author and hashtags are known, a SQLite batch is one call to
/// the driver, and writes what the transaction wrote: messages, hashtag
/// links and counters.
#[tokio::test]
async fn a_batch_with_known_names_is_one_call_on_sqlite() {
    let warm = WarmSqlite::new().await;
    let (batch, _answers) = taken(&["second #rust", "third #rust"], TIMEOUT);
    let written = warm.write(&batch).await.unwrap();
    assert_eq!(warm.one_calls(), 1, "known names: one call");
    let ids: Vec<MessageId> = batch.iter().map(|taken| taken.id).collect();
    assert_eq!(read::get_messages(&warm.db, &ids).await.unwrap(), written);
    assert_eq!(written[0].hashtags, ["rust"]);
    assert_eq!(warm.counted_posts().await, 3);
}

/// A SQLite call that fails halfway (its second post's id is taken) leaves
/// nothing of its batch, and its connection out of any transaction: the
/// next batch on the same connection is written.
#[tokio::test]
async fn a_failed_one_call_batch_leaves_nothing_on_sqlite() {
    let warm = WarmSqlite::new().await;
    let (stored, _answers) = taken(&["stored #rust"], TIMEOUT);
    warm.write(&stored).await.unwrap();
    assert_eq!(warm.one_calls(), 1);

    let (mut clashing, _answers) = taken(&["fresh #rust"], TIMEOUT);
    let fresh_id = clashing[0].id;
    clashing.extend(stored);
    let error = warm
        .write(&clashing)
        .await
        .expect_err("the second post's id is taken");
    assert!(crate::store::retry::is_unique_violation(&error), "{error}");
    assert_eq!(warm.one_calls(), 2, "it was the one-call path");
    // Read on the same (only) connection: an open transaction would show it.
    assert_eq!(read::get_messages(&warm.db, &[fresh_id]).await.unwrap(), []);
    assert_eq!(warm.counted_posts().await, 2);

    let (next, _answers) = taken(&["next #rust"], TIMEOUT);
    let written = warm.write(&next).await.expect("no transaction left open");
    assert_eq!(
        read::get_messages(&warm.db, &[next[0].id]).await.unwrap(),
        written
    );
    assert_eq!(warm.counted_posts().await, 3);
}

/// A SQLite batch whose writer stops waiting once the call is sent (the
/// post timeout) is rolled back whole, the read-back waits for that, and
/// no transaction is left open.
#[tokio::test]
async fn a_one_call_batch_dropped_once_sent_is_rolled_back_on_sqlite() {
    let warm = WarmSqlite::new().await;
    // Another connection holds the write lock: the call waits in SQLite,
    // past `BEGIN`, for as long as the test keeps it.
    let blocker = warm.reads.begin().await.unwrap();
    blocker
        .execute_unprepared("DELETE FROM trend_counts WHERE 0")
        .await
        .unwrap();
    let (batch, _answers) = taken(&["one #rust", "two #rust", "three #rust"], TIMEOUT);
    let mut write = Box::pin(warm.write(&batch));
    // Polled until the call is counted: the poll that counts it also
    // sends it to the driver.
    while warm.one_calls() == 0 {
        assert!(
            futures::poll!(&mut write).is_pending(),
            "waits for the lock"
        );
        tokio::task::yield_now().await;
    }
    assert!(
        futures::poll!(&mut write).is_pending(),
        "waits for the lock"
    );
    drop(write);
    blocker.rollback().await.unwrap();

    warm.calls.wait().await;
    let ids: Vec<MessageId> = batch.iter().map(|taken| taken.id).collect();
    assert_eq!(read::get_messages(&warm.db, &ids).await.unwrap(), []);
    assert_eq!(warm.counted_posts().await, 1);

    let (next, _answers) = taken(&["next #rust"], TIMEOUT);
    warm.write(&next).await.expect("no transaction left open");
    assert_eq!(warm.counted_posts().await, 2);
}

/// A commit that landed though its answer was lost: writing the post
/// again meets its own id, and the poster hears it is stored. On both
/// backends, whose duplicate-key errors differ.
async fn a_post_already_committed_is_answered_as_stored(backend: DbBackend) {
    let (_guard, db) = fresh(backend).await;
    let (batch, answers) = taken(&["once #only"], TIMEOUT);
    let post = &batch[0].post;
    let id = batch[0].id;
    let first = write_batch(
        &db,
        &fresh_names(),
        &[IdentifiedPost { id, post }],
        None,
        &AtomicBool::new(false),
        &one_call(),
    )
    .await
    .unwrap();

    let published = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = published.clone();
    let writer = writer(setup(
        db.clone(),
        Some(Arc::new(move |messages: &[Message]| {
            seen.lock().unwrap().extend(messages.iter().map(|m| m.id));
        })),
    ));
    write_and_answer(&writer, batch, false).await;
    let answered = answers
        .into_iter()
        .next()
        .unwrap()
        .await
        .unwrap()
        .expect("answered as stored");
    assert_eq!(answered, first[0]);
    assert_eq!(*published.lock().unwrap(), [id]);
    assert_eq!(writer.setup.stats.failed_posts.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_post_already_committed_is_answered_as_stored_on_sqlite() {
    a_post_already_committed_is_answered_as_stored(DbBackend::Sqlite).await;
}

#[tokio::test]
async fn a_post_already_committed_is_answered_as_stored_on_postgres() {
    a_post_already_committed_is_answered_as_stored(DbBackend::Postgres).await;
}

/// The same for a batch of several posts: none is answered "not written",
/// none is written twice.
async fn a_batch_already_committed_is_answered_as_stored(backend: DbBackend) {
    let (_guard, db) = fresh(backend).await;
    let (batch, answers) = taken(&["one", "two", "three"], TIMEOUT);
    let posts = identified(&batch);
    let first = write_batch(
        &db,
        &fresh_names(),
        &posts,
        None,
        &AtomicBool::new(false),
        &one_call(),
    )
    .await
    .unwrap();
    drop(posts);
    let writer = writer(setup(db.clone(), None));
    write_and_answer(&writer, batch, false).await;
    for (answer, stored) in answers.into_iter().zip(first) {
        assert_eq!(answer.await.unwrap().expect("stored"), stored);
    }
    let stats = &writer.setup.stats;
    assert_eq!(stats.failed_posts.load(Ordering::Relaxed), 0);
    assert_eq!(stats.posts.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn a_batch_already_committed_is_answered_as_stored_on_sqlite() {
    a_batch_already_committed_is_answered_as_stored(DbBackend::Sqlite).await;
}

#[tokio::test]
async fn a_batch_already_committed_is_answered_as_stored_on_postgres() {
    a_batch_already_committed_is_answered_as_stored(DbBackend::Postgres).await;
}

/// A database out of reach: the batch is retried whole until its earliest
/// deadline, then every post is refused as unavailable (not split, not a
/// server error).
#[tokio::test]
async fn a_batch_that_cannot_reach_the_database_is_refused_by_its_deadline() {
    let writer = writer(setup(unreachable().await, None));
    let (mut batch, mut answers) = taken(&["a", "b"], TIMEOUT * 3);
    let (sooner, answer) = taken(&["c"], TIMEOUT);
    batch.extend(sooner);
    answers.extend(answer);
    let started = Instant::now();
    write_and_answer(&writer, batch, false).await;
    let took = started.elapsed();
    assert!(took <= TIMEOUT + Duration::from_millis(300), "{took:?}");
    for answer in answers {
        match answer.await.unwrap() {
            Err(StoreError::Unavailable { retry_after, .. }) => {
                assert_eq!(retry_after, RETRY_AFTER_UNREACHABLE)
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
    let stats = &writer.setup.stats;
    assert!(stats.unreachable_attempts.load(Ordering::Relaxed) >= 2);
    assert_eq!(stats.failed_posts.load(Ordering::Relaxed), 0);
    assert!(stats.unreachable_streak.load(Ordering::Relaxed) >= 2);
}

/// Through the queue: a post sent while the database is out of reach is
/// answered "unavailable" within about two post timeouts, counted, and the
/// writer reports itself unhealthy.
#[tokio::test]
async fn a_post_is_refused_in_time_when_the_database_is_out_of_reach() {
    let setup = setup(unreachable().await, None);
    let stats = setup.stats.clone();
    let handle = WriterHandle::spawn(setup);
    assert!(handle.healthy());
    for _ in 0..3 {
        let started = Instant::now();
        let result = handle.post(post("lost")).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() <= TIMEOUT * 2 + Duration::from_millis(300));
    }
    assert_eq!(stats.posts_unavailable.load(Ordering::Relaxed), 3);
    assert!(!handle.healthy());
}

/// A panicking commit hook kills the writer task: its post is answered
/// from the database (it was committed), the writer starts again, and the
/// next post goes through.
#[tokio::test]
async fn a_panicking_writer_is_restarted_and_its_posts_answered() {
    let (_dir, db) = sqlite().await;
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let hook: CommitHook = Arc::new(move |_: &[Message]| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("hook failure (expected by the test)");
        }
    });
    let setup = setup(db.clone(), Some(hook));
    let stats = setup.stats.clone();
    let handle = WriterHandle::spawn(setup);
    let first = tokio::time::timeout(Duration::from_secs(5), handle.post(post("first")))
        .await
        .expect("answered, not left hanging")
        .expect("committed before the panic, so stored");
    assert_eq!(
        read::get_messages(&db, &[first.id]).await.unwrap(),
        std::slice::from_ref(&first)
    );
    let second = tokio::time::timeout(Duration::from_secs(5), handle.post(post("second")))
        .await
        .expect("the restarted writer answers")
        .expect("stored");
    assert!(second.id > first.id, "ids still rise after the restart");
    assert_eq!(stats.writer_restarts.load(Ordering::Relaxed), 1);
    assert!(handle.healthy());
}

/// Posts a dead writer left behind that are not in the database get an
/// error, never silence.
#[tokio::test]
async fn posts_of_a_dead_writer_that_were_not_stored_get_an_error() {
    let (_dir, db) = sqlite().await;
    let writer = writer(setup(db, None));
    let (batch, answers) = taken(&["never written"], TIMEOUT);
    *writer.in_flight() = batch.iter().map(|t| (t.id, t.slot.clone())).collect();
    drop(batch);
    settle_in_flight(&writer).await;
    for answer in answers {
        assert!(matches!(answer.await.unwrap(), Err(StoreError::Writer(_))));
    }
    assert_eq!(writer.setup.stats.failed_posts.load(Ordering::Relaxed), 1);
}

/// A batch written with `notify` announces its ids, then, in the same
/// transaction (so only on commit, and next), this process's mark after
/// it: just above its largest id, which it names as the message a peer
/// must have before using the mark. PostgreSQL only: NOTIFY is its own.
#[tokio::test]
async fn a_batch_announces_its_ids_then_its_mark_on_postgres() {
    use sea_orm::sqlx::postgres::PgListener;

    let (_guard, db) = postgres().await;
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool())
        .await
        .unwrap();
    listener
        .listen_all([crate::store::NOTIFY_CHANNEL, crate::store::MARKS_CHANNEL])
        .await
        .unwrap();
    let (batch, _answers) = taken(&["one", "two"], TIMEOUT);
    let posts = identified(&batch);
    write_batch(
        &db,
        &fresh_names(),
        &posts,
        Some(0xabc),
        &AtomicBool::new(false),
        &one_call(),
    )
    .await
    .unwrap();

    let ids: Vec<String> = batch.iter().map(|taken| taken.id.to_string()).collect();
    assert_eq!(
        heard(&mut listener).await,
        (crate::store::NOTIFY_CHANNEL.to_owned(), ids.join(","))
    );
    let largest = batch.iter().map(|taken| taken.id).max().unwrap();
    let notice = crate::store::MarkNotice {
        process_id: 0xabc,
        mark: crate::store::own_mark::successor(largest),
        last: Some(largest),
    };
    assert_eq!(
        heard(&mut listener).await,
        (crate::store::MARKS_CHANNEL.to_owned(), notice.to_payload())
    );
}

/// The next notification's channel and payload.
async fn heard(listener: &mut sea_orm::sqlx::postgres::PgListener) -> (String, String) {
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification within 10 s")
        .unwrap();
    (heard.channel().to_owned(), heard.payload().to_owned())
}
