//! The SQL of one group commit: every post of a batch written in one
//! transaction with multi-row statements, and one counter upsert per
//! (hashtag, minute) for the whole batch.
//!
//! Rows are sorted before they are written (users and hashtags by name,
//! counters by key) so that two batches on two processes lock rows in the
//! same order and cannot deadlock each other.
//!
//! Each statement has one text whatever the batch's size on PostgreSQL
//! and CockroachDB: its rows travel as one bound array per column (see
//! [`super::query`]), so the writer's connections prepare each statement
//! once.
//!
//! On PostgreSQL and CockroachDB a batch whose authors and hashtags are all
//! known (every batch once the names are warm) is one statement, which is
//! its own transaction: the inserts and the counter upsert as
//! data-modifying `WITH` parts of a `SELECT` that sends the notifications.
//! One round trip instead of seven (BEGIN, four statements, two
//! notifications, COMMIT): the single writer waits on each of them, and on
//! two busy cores each wait is a trip through both schedulers. On SQLite
//! such a batch is one call to the driver instead of three: `BEGIN`, its
//! inserts and `COMMIT` as one string of statements (see
//! [`super::sqlite_one_call`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, ArrayType, CommonTableExpression, Expr, Func, InsertStatement, OnConflict, Query,
    SimpleExpr, WithClause,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};

use super::entity::{hashtag, message, message_hashtag, trend_count, user};
use super::names::NameCache;
use super::own_mark::{successor, MarkNotice};
use super::query::{has_arrays, insert_rows, is_one_of};
use super::read::id_value;
use super::sqlite_one_call::OneCall;
use crate::domain::{Message, MessageId, NewMessage, User};

/// The trend-counter key that counts every message, whatever its hashtags.
pub(crate) const ALL_MESSAGES: i64 = 0;

/// A post with the id (and so the creation time) the writer gave it.
pub(crate) struct IdentifiedPost<'a> {
    pub id: MessageId,
    pub post: &'a NewMessage,
}

/// Writes `posts` in one transaction; returns them as stored, in order.
/// With `notify` (this process's id), the transaction also sends the
/// batch's ids on [`super::NOTIFY_CHANNEL`] and the process's mark once
/// the batch is in (just above its largest id: the writer stamps the next
/// batch only after this one) on [`super::MARKS_CHANNEL`]; PostgreSQL
/// delivers both only on commit, in this order.
///
/// `committing` is set just before COMMIT is sent: a failure (or a
/// cancellation) after that point may have left the batch committed.
/// `one_call_writes` writes SQLite batches whose names are all known.
///
/// Authors and hashtags `names` already holds are neither created nor read
/// back; what the batch wrote is remembered there once it has committed.
pub(crate) async fn write_batch(
    db: &DatabaseConnection,
    names: &NameCache,
    posts: &[IdentifiedPost<'_>],
    notify: Option<u64>,
    committing: &AtomicBool,
    one_call_writes: &OneCall,
) -> Result<Vec<Message>, DbErr> {
    let authors: BTreeSet<&str> = posts.iter().map(|p| p.post.author.as_str()).collect();
    // The first-written display of each tag in this batch, by normalized name.
    let mut tags: BTreeMap<&str, &str> = BTreeMap::new();
    for tag in posts.iter().flat_map(|p| &p.post.hashtags) {
        tags.entry(tag.normalized()).or_insert(tag.display());
    }
    let mut user_ids = names.known_users(authors.iter().copied());
    let mut hashtags = names.known_hashtags(tags.keys().copied());
    let new_authors: BTreeSet<&str> = authors
        .into_iter()
        .filter(|name| !user_ids.contains_key(*name))
        .collect();
    tags.retain(|name, _| !hashtags.contains_key(*name));

    let backend = db.get_database_backend();
    if has_arrays(backend) && new_authors.is_empty() && tags.is_empty() {
        let statement = one_statement_batch(backend, posts, &user_ids, &hashtags, notify);
        // The statement commits by itself: from the moment it is sent, a
        // lost connection leaves its outcome unknown.
        committing.store(true, Ordering::SeqCst);
        db.execute(statement).await?;
        return Ok(stored_messages(posts, &user_ids, &hashtags));
    }
    if backend == DbBackend::Sqlite && notify.is_none() && new_authors.is_empty() && tags.is_empty()
    {
        let inserts = one_call(backend, batch_inserts(backend, posts, &user_ids, &hashtags));
        // As above: once the call is sent, it may commit even if this
        // write is dropped (its undo finds COMMIT done, `sqlite_one_call`).
        committing.store(true, Ordering::SeqCst);
        one_call_writes
            .write(db.get_sqlite_connection_pool(), inserts)
            .await?;
        return Ok(stored_messages(posts, &user_ids, &hashtags));
    }

    let txn = db.begin().await?;
    if !new_authors.is_empty() {
        user_ids.extend(ensure_users(&txn, &new_authors, Utc::now()).await?);
    }
    if !tags.is_empty() {
        hashtags.extend(ensure_hashtags(&txn, &tags).await?);
    }
    let inserts = batch_inserts(backend, posts, &user_ids, &hashtags);
    if backend == DbBackend::Sqlite {
        txn.execute(one_call(backend, inserts)).await?;
    } else {
        for insert in inserts {
            txn.execute(insert).await?;
        }
    }
    if let Some(process_id) = notify {
        notify_ids(&txn, posts).await?;
        notify_mark(&txn, process_id, posts).await?;
    }
    committing.store(true, Ordering::SeqCst);
    txn.commit().await?;
    names.remember_written(&user_ids, &hashtags);
    Ok(stored_messages(posts, &user_ids, &hashtags))
}

/// The whole batch as one statement (PostgreSQL and CockroachDB, names all
/// known): `WITH keys AS (INSERT …), messages AS (INSERT …), links AS
/// (INSERT …), counts AS (INSERT … ON CONFLICT …) SELECT pg_notify(ids),
/// pg_notify(mark)`, or `SELECT 1` without notifications. Every part runs
/// exactly once whether or not it is referenced, and foreign keys are
/// checked at the end of the statement, so the order of the parts does
/// not matter; a part that fails (a taken key, an id already stored)
/// fails the whole statement, and nothing is written. The parts are the
/// same statements as the transaction's, so the text varies only with
/// which parts a batch has (keys, links, notifications).
fn one_statement_batch(
    backend: DbBackend,
    posts: &[IdentifiedPost<'_>],
    user_ids: &HashMap<String, i64>,
    hashtags: &HashMap<String, (i64, String)>,
    notify: Option<u64>,
) -> Statement {
    let mut with = WithClause::new();
    for (name, insert) in batch_parts(backend, posts, user_ids, hashtags) {
        with.cte(
            CommonTableExpression::new()
                .table_name(Alias::new(name))
                .query(insert)
                .to_owned(),
        );
    }
    let mut select = Query::select();
    match notify.and_then(|process_id| Some((process_id, posts.iter().map(|p| p.id).max()?))) {
        Some((process_id, last)) => {
            select
                .expr(ids_notification(posts))
                .expr(mark_notification(&MarkNotice {
                    process_id,
                    mark: successor(last),
                    last: Some(last),
                }));
        }
        None => {
            select.expr(Expr::val(1));
        }
    }
    backend.build(&select.with(with))
}

/// The batch's messages as the poster is answered with them, in order.
fn stored_messages(
    posts: &[IdentifiedPost<'_>],
    user_ids: &HashMap<String, i64>,
    hashtags: &HashMap<String, (i64, String)>,
) -> Vec<Message> {
    posts
        .iter()
        .map(|p| {
            let name = p.post.author.as_str();
            Message {
                id: p.id,
                user: User {
                    id: user_ids[name],
                    name: name.to_owned(),
                },
                text: p.post.text.as_str().to_owned(),
                hashtags: p
                    .post
                    .hashtags
                    .iter()
                    .map(|h| hashtags[h.normalized()].1.clone())
                    .collect(),
                created_at: p.id.created_at(),
            }
        })
        .collect()
}

/// Creates those of `names` that do not exist yet; returns each one's id.
async fn ensure_users<C: ConnectionTrait>(
    db: &C,
    names: &BTreeSet<&str>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, i64>, DbErr> {
    let backend = db.get_database_backend();
    db.execute(insert_users(backend, names, now)).await?;
    let rows = db.query_all(select_users(backend, names)).await?;
    let mut ids = HashMap::with_capacity(rows.len());
    for row in rows {
        ids.insert(
            row.try_get::<String>("", "name")?,
            row.try_get::<i64>("", "id")?,
        );
    }
    if let Some(missing) = names.iter().find(|name| !ids.contains_key(**name)) {
        return Err(DbErr::Custom(format!("user {missing:?} was not created")));
    }
    Ok(ids)
}

/// `INSERT INTO users (name, created_at) … ON CONFLICT (name) DO NOTHING`.
fn insert_users(backend: DbBackend, names: &BTreeSet<&str>, now: DateTime<Utc>) -> Statement {
    let mut insert = insert_rows(
        backend,
        user::Entity,
        [
            (user::Column::Name, ArrayType::String),
            (user::Column::CreatedAt, ArrayType::ChronoDateTimeUtc),
        ],
        names
            .iter()
            .map(|name| [Value::from(*name), Value::from(now)]),
    );
    insert.on_conflict(
        OnConflict::column(user::Column::Name)
            .do_nothing()
            .to_owned(),
    );
    backend.build(&insert)
}

/// The ids of the users `names` (those that exist).
fn select_users(backend: DbBackend, names: &BTreeSet<&str>) -> Statement {
    let select = Query::select()
        .columns([user::Column::Id, user::Column::Name])
        .from(user::Entity)
        .and_where(is_one_of(
            backend,
            user::Column::Name,
            ArrayType::String,
            names.iter().map(|name| Value::from(*name)).collect(),
        ))
        .to_owned();
    backend.build(&select)
}

/// Creates those of `wanted` (display by normalized name) that do not
/// exist yet; returns each one's id and stored display form (the first one
/// ever written) by normalized name.
pub(super) async fn ensure_hashtags<C: ConnectionTrait>(
    db: &C,
    wanted: &BTreeMap<&str, &str>,
) -> Result<HashMap<String, (i64, String)>, DbErr> {
    let backend = db.get_database_backend();
    db.execute(insert_hashtags(backend, wanted)).await?;
    let rows = db.query_all(select_hashtags(backend, wanted)).await?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        found.insert(
            row.try_get::<String>("", "name")?,
            (
                row.try_get::<i64>("", "id")?,
                row.try_get::<String>("", "display")?,
            ),
        );
    }
    if let Some(missing) = wanted.keys().find(|name| !found.contains_key(**name)) {
        return Err(DbErr::Custom(format!(
            "hashtag {missing:?} was not created"
        )));
    }
    Ok(found)
}

/// `INSERT INTO hashtags (name, display) … ON CONFLICT (name) DO NOTHING`.
fn insert_hashtags(backend: DbBackend, wanted: &BTreeMap<&str, &str>) -> Statement {
    let mut insert = insert_rows(
        backend,
        hashtag::Entity,
        [
            (hashtag::Column::Name, ArrayType::String),
            (hashtag::Column::Display, ArrayType::String),
        ],
        wanted
            .iter()
            .map(|(name, display)| [Value::from(*name), Value::from(*display)]),
    );
    insert.on_conflict(
        OnConflict::column(hashtag::Column::Name)
            .do_nothing()
            .to_owned(),
    );
    backend.build(&insert)
}

/// The ids and stored display forms of the hashtags `wanted` names.
fn select_hashtags(backend: DbBackend, wanted: &BTreeMap<&str, &str>) -> Statement {
    let select = Query::select()
        .columns([
            hashtag::Column::Id,
            hashtag::Column::Name,
            hashtag::Column::Display,
        ])
        .from(hashtag::Entity)
        .and_where(is_one_of(
            backend,
            hashtag::Column::Name,
            ArrayType::String,
            wanted.keys().map(|name| Value::from(*name)).collect(),
        ))
        .to_owned();
    backend.build(&select)
}

/// The batch's inserts, in order, each with its name in the one-statement
/// batch: the idempotency keys first (a taken key stops the batch before
/// its messages), the messages, their links to hashtags (if any post has
/// one), the trend counters.
fn batch_parts(
    backend: DbBackend,
    posts: &[IdentifiedPost<'_>],
    user_ids: &HashMap<String, i64>,
    hashtags: &HashMap<String, (i64, String)>,
) -> Vec<(&'static str, InsertStatement)> {
    let mut parts = Vec::with_capacity(4);
    if let Some(keys) = super::idempotency::keys_rows_insert(backend, posts, user_ids) {
        parts.push(("keys_written", keys));
    }
    parts.push((
        "messages_written",
        message_rows(backend, batch_messages(posts, user_ids)),
    ));
    if let Some(links) = link_rows(backend, batch_links(posts, user_ids, hashtags)) {
        parts.push(("links_written", links));
    }
    parts.push(("counts_written", counter_rows(backend, posts, hashtags)));
    parts
}

/// [`batch_parts`], built: the statements of the transaction.
fn batch_inserts(
    backend: DbBackend,
    posts: &[IdentifiedPost<'_>],
    user_ids: &HashMap<String, i64>,
    hashtags: &HashMap<String, (i64, String)>,
) -> Vec<Statement> {
    batch_parts(backend, posts, user_ids, hashtags)
        .iter()
        .map(|(_, insert)| backend.build(insert))
        .collect()
}

/// `statements` sent as one, separated by semicolons, their values in
/// order (SQLite: the driver runs them in turn on its thread, binding each
/// its own placeholders, and stops at the first that fails).
///
/// SQLite's driver runs each call on a thread of its own and the writer
/// waits for its answer: a statement a call costs two thread hand-offs and
/// their wake-ups, each a chance to wait for a core. One call for the
/// batch's inserts instead of three or four keeps a POST's time (and its
/// tail, when live delivery keeps the cores busy) short. PostgreSQL runs
/// one statement per bound call; it has its own one-statement batch.
fn one_call(backend: DbBackend, statements: Vec<Statement>) -> Statement {
    let mut sql = String::new();
    let mut values = Vec::new();
    for statement in statements {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&statement.sql);
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    Statement::from_sql_and_values(backend, sql, values)
}

/// Each post's message row: (id, author's id, text).
fn batch_messages<'a>(
    posts: &'a [IdentifiedPost<'_>],
    user_ids: &'a HashMap<String, i64>,
) -> impl Iterator<Item = (MessageId, i64, &'a str)> + 'a {
    posts
        .iter()
        .map(|p| (p.id, user_ids[p.post.author.as_str()], p.post.text.as_str()))
}

/// `INSERT INTO messages` of `rows` (id, author's id, text; the creation
/// time is the id's), one bound array per column: the writer's and the
/// import's.
pub(super) fn message_rows_insert<'a>(
    backend: DbBackend,
    rows: impl IntoIterator<Item = (MessageId, i64, &'a str)>,
) -> Statement {
    backend.build(&message_rows(backend, rows))
}

fn message_rows<'a>(
    backend: DbBackend,
    rows: impl IntoIterator<Item = (MessageId, i64, &'a str)>,
) -> InsertStatement {
    insert_rows(
        backend,
        message::Entity,
        [
            (message::Column::Id, ArrayType::Bytes),
            (message::Column::UserId, ArrayType::BigInt),
            (message::Column::Text, ArrayType::String),
            (message::Column::CreatedAt, ArrayType::ChronoDateTimeUtc),
        ],
        rows.into_iter().map(|(id, user_id, text)| {
            [
                id_value(id),
                Value::from(user_id),
                Value::from(text),
                Value::from(id.created_at()),
            ]
        }),
    )
}

/// Each post's links to its hashtags: (hashtag id, message id, author's
/// id, position).
fn batch_links<'a>(
    posts: &'a [IdentifiedPost<'_>],
    user_ids: &'a HashMap<String, i64>,
    hashtags: &'a HashMap<String, (i64, String)>,
) -> impl Iterator<Item = (i64, MessageId, i64, i16)> + 'a {
    posts.iter().flat_map(move |p| {
        let user_id = user_ids[p.post.author.as_str()];
        p.post
            .hashtags
            .iter()
            .enumerate()
            .map(move |(position, tag)| {
                (hashtags[tag.normalized()].0, p.id, user_id, position as i16)
            })
    })
}

/// `INSERT INTO message_hashtags` of `rows` (hashtag id, message id,
/// author's id, position), one bound array per column; `None` when there
/// are none. The writer's and the import's.
pub(super) fn link_rows_insert(
    backend: DbBackend,
    rows: impl IntoIterator<Item = (i64, MessageId, i64, i16)>,
) -> Option<Statement> {
    Some(backend.build(&link_rows(backend, rows)?))
}

fn link_rows(
    backend: DbBackend,
    rows: impl IntoIterator<Item = (i64, MessageId, i64, i16)>,
) -> Option<InsertStatement> {
    let rows: Vec<[Value; 4]> = rows
        .into_iter()
        .map(|(hashtag_id, id, user_id, position)| {
            [
                Value::from(hashtag_id),
                id_value(id),
                Value::from(user_id),
                Value::from(position),
            ]
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let insert = insert_rows(
        backend,
        message_hashtag::Entity,
        [
            (message_hashtag::Column::HashtagId, ArrayType::BigInt),
            (message_hashtag::Column::MessageId, ArrayType::Bytes),
            (message_hashtag::Column::UserId, ArrayType::BigInt),
            (message_hashtag::Column::Position, ArrayType::SmallInt),
        ],
        rows,
    );
    Some(insert)
}

/// `pg_notify` with the batch's ids, comma-separated (at most 256 ids of
/// 26 characters: well under PostgreSQL's 8000-byte payload limit).
async fn notify_ids<C: ConnectionTrait>(db: &C, posts: &[IdentifiedPost<'_>]) -> Result<(), DbErr> {
    let select = Query::select().expr(ids_notification(posts)).to_owned();
    db.execute(db.get_database_backend().build(&select)).await?;
    Ok(())
}

/// `pg_notify(ids channel, the batch's ids)`.
fn ids_notification(posts: &[IdentifiedPost<'_>]) -> SimpleExpr {
    let ids: Vec<String> = posts.iter().map(|p| p.id.to_string()).collect();
    Func::cust(Alias::new("pg_notify"))
        .args([
            SimpleExpr::from(super::NOTIFY_CHANNEL),
            SimpleExpr::from(ids.join(",")),
        ])
        .into()
}

/// `pg_notify` of this process's mark after the batch (see
/// [`super::own_mark::MarkNotice`]); called by name like [`notify_ids`].
async fn notify_mark<C: ConnectionTrait>(
    db: &C,
    process_id: u64,
    posts: &[IdentifiedPost<'_>],
) -> Result<(), DbErr> {
    let Some(last) = posts.iter().map(|p| p.id).max() else {
        return Ok(());
    };
    let notice = MarkNotice {
        process_id,
        mark: successor(last),
        last: Some(last),
    };
    db.execute(mark_notify_statement(db.get_database_backend(), &notice))
        .await?;
    Ok(())
}

/// `SELECT pg_notify(marks channel, notice)`.
pub(crate) fn mark_notify_statement(backend: DbBackend, notice: &MarkNotice) -> Statement {
    let select = Query::select().expr(mark_notification(notice)).to_owned();
    backend.build(&select)
}

/// `pg_notify(marks channel, notice)`.
fn mark_notification(notice: &MarkNotice) -> SimpleExpr {
    Func::cust(Alias::new("pg_notify"))
        .args([
            SimpleExpr::from(super::MARKS_CHANNEL),
            SimpleExpr::from(notice.to_payload()),
        ])
        .into()
}

/// One upsert for the whole batch, `INSERT INTO trend_counts … ON
/// CONFLICT (hashtag_id, minute) DO UPDATE SET count = trend_counts.count +
/// excluded.count`: each (hashtag or all, minute) once (an upsert may not
/// touch a row twice), with the batch's count for it.
fn counter_rows(
    backend: DbBackend,
    posts: &[IdentifiedPost<'_>],
    hashtags: &HashMap<String, (i64, String)>,
) -> InsertStatement {
    let mut counts: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for p in posts {
        let minute = p.id.created_at().timestamp().div_euclid(60);
        *counts.entry((ALL_MESSAGES, minute)).or_default() += 1;
        for tag in &p.post.hashtags {
            *counts
                .entry((hashtags[tag.normalized()].0, minute))
                .or_default() += 1;
        }
    }
    minute_counts(backend, counts)
}

/// The upsert adding `counts` (per hashtag or all, and minute) to their
/// minutes, and to their hours' and days' rollups, each key once and in
/// key order; the writer's and the import's.
pub(super) fn minute_counts_upsert(
    backend: DbBackend,
    counts: BTreeMap<(i64, i64), i64>,
) -> Statement {
    backend.build(&minute_counts(backend, counts))
}

fn minute_counts(backend: DbBackend, mut counts: BTreeMap<(i64, i64), i64>) -> InsertStatement {
    // The hours and days of these minutes, in the same upsert.
    super::trend_rollup::add_rollups(&mut counts);
    let mut upsert = insert_rows(
        backend,
        trend_count::Entity,
        [
            (trend_count::Column::HashtagId, ArrayType::BigInt),
            (trend_count::Column::Minute, ArrayType::BigInt),
            (trend_count::Column::Count, ArrayType::BigInt),
        ],
        counts.iter().map(|((tag, minute), count)| {
            [Value::from(*tag), Value::from(*minute), Value::from(*count)]
        }),
    );
    upsert.on_conflict(
        OnConflict::columns([trend_count::Column::HashtagId, trend_count::Column::Minute])
            .value(
                trend_count::Column::Count,
                Expr::col((trend_count::Entity, trend_count::Column::Count)).add(Expr::col((
                    Alias::new("excluded"),
                    trend_count::Column::Count,
                ))),
            )
            .to_owned(),
    );
    upsert
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserName;

    /// `n` posts by `n` authors, each with two hashtags of its own.
    fn posts(n: usize) -> Vec<(MessageId, NewMessage)> {
        let mut ids = ulid::Generator::new();
        (0..n)
            .map(|i| {
                let author = UserName::parse("user", &format!("user{i}")).unwrap();
                let tags = [format!("a{i}"), format!("b{i}")];
                let post = NewMessage::parse(author, "hello", &tags, 500).unwrap();
                (MessageId::from_ulid(ids.generate().unwrap()), post)
            })
            .collect()
    }

    /// Every statement of a batch, as written for `n` posts of new names.
    fn statements(backend: DbBackend, n: usize) -> Vec<Statement> {
        let posts = posts(n);
        let posts: Vec<IdentifiedPost> = posts
            .iter()
            .map(|(id, post)| IdentifiedPost { id: *id, post })
            .collect();
        let authors: BTreeSet<&str> = posts.iter().map(|p| p.post.author.as_str()).collect();
        let tags: BTreeMap<&str, &str> = posts
            .iter()
            .flat_map(|p| &p.post.hashtags)
            .map(|tag| (tag.normalized(), tag.display()))
            .collect();
        let user_ids: HashMap<String, i64> = authors
            .iter()
            .enumerate()
            .map(|(id, name)| (name.to_string(), id as i64 + 1))
            .collect();
        let hashtags: HashMap<String, (i64, String)> = tags
            .iter()
            .enumerate()
            .map(|(id, (name, display))| (name.to_string(), (id as i64 + 1, display.to_string())))
            .collect();
        vec![
            insert_users(backend, &authors, Utc::now()),
            select_users(backend, &authors),
            insert_hashtags(backend, &tags),
            select_hashtags(backend, &tags),
        ]
        .into_iter()
        .chain(batch_inserts(backend, &posts, &user_ids, &hashtags))
        .collect()
    }

    /// On PostgreSQL a batch of one post and a batch of fifty send the same
    /// statement texts (so each is prepared once per connection), with one
    /// bound array per column.
    #[test]
    fn a_batch_has_the_same_statement_texts_on_postgres_whatever_its_size() {
        let one = statements(DbBackend::Postgres, 1);
        let fifty = statements(DbBackend::Postgres, 50);
        for (one, fifty) in one.iter().zip(&fifty) {
            assert_eq!(one.sql, fifty.sql);
            assert!(
                !one.sql.contains("VALUES") && !one.sql.contains(" IN "),
                "{}",
                one.sql
            );
            let values = |s: &Statement| s.values.as_ref().unwrap().0.len();
            assert_eq!(values(one), values(fifty), "{}", one.sql);
        }
        assert_eq!(
            one[6].sql,
            r#"INSERT INTO "trend_counts" ("hashtag_id", "minute", "count") SELECT "r"."hashtag_id", "r"."minute", "r"."count" FROM UNNEST(CAST($1 AS INT8[]), CAST($2 AS INT8[]), CAST($3 AS INT8[])) AS "r"("hashtag_id", "minute", "count") ON CONFLICT ("hashtag_id", "minute") DO UPDATE SET "count" = "trend_counts"."count" + "excluded"."count""#
        );
        // The whole batch in one statement: the same text whatever its size,
        // and each part the transaction's own statement.
        let batch = |n: usize, notify: Option<u64>| {
            let posts = posts(n);
            let posts: Vec<IdentifiedPost> = posts
                .iter()
                .map(|(id, post)| IdentifiedPost { id: *id, post })
                .collect();
            let user_ids = posts
                .iter()
                .enumerate()
                .map(|(n, p)| (p.post.author.as_str().to_owned(), n as i64 + 1))
                .collect();
            let hashtags = posts
                .iter()
                .flat_map(|p| &p.post.hashtags)
                .enumerate()
                .map(|(n, tag)| {
                    (
                        tag.normalized().to_owned(),
                        (n as i64 + 1, tag.display().to_owned()),
                    )
                })
                .collect();
            one_statement_batch(DbBackend::Postgres, &posts, &user_ids, &hashtags, notify)
        };
        let (one_post, fifty_posts) = (batch(1, Some(7)), batch(50, Some(7)));
        assert_eq!(one_post.sql, fifty_posts.sql);
        let parts: Vec<&str> = one_post.sql.split(" AS (").collect();
        assert_eq!(
            parts.len(),
            4,
            "messages, links, counters: {}",
            one_post.sql
        );
        assert!(one_post
            .sql
            .starts_with(r#"WITH "messages_written" AS (INSERT INTO "messages""#));
        for part in [&one[4].sql, &one[5].sql] {
            let unnumbered = |sql: &str| sql.replace(char::is_numeric, "");
            assert!(
                unnumbered(&one_post.sql).contains(&unnumbered(part)),
                "{part}"
            );
        }
        assert!(
            one_post
                .sql
                .ends_with(r#"SELECT pg_notify($12, $13), pg_notify($14, $15)"#),
            "{}",
            one_post.sql
        );
        assert!(
            batch(1, None).sql.ends_with(") SELECT $12"),
            "{}",
            batch(1, None).sql
        );

        // SQLite has no arrays: VALUES and IN lists, one text per size.
        let one = statements(DbBackend::Sqlite, 1);
        let fifty = statements(DbBackend::Sqlite, 50);
        for (one, fifty) in one.iter().zip(&fifty) {
            assert_ne!(one.sql, fifty.sql);
        }
    }
}
