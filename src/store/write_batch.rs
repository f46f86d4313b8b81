//! The SQL of one group commit: every post of a batch written in one
//! transaction with multi-row statements, and one counter upsert per
//! (hashtag, minute) for the whole batch.
//!
//! Rows are sorted before they are written (users and hashtags by name,
//! counters by key) so that two batches on two processes lock rows in the
//! same order and cannot deadlock each other.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait, Value};

use super::names::NameCache;
use super::sql::Sql;
use crate::domain::{Message, MessageId, NewMessage, User};

/// The trend-counter key that counts every message, whatever its hashtags.
pub(crate) const ALL_MESSAGES: i64 = 0;

/// A post with the id (and so the creation time) the writer gave it.
pub(crate) struct IdentifiedPost<'a> {
    pub id: MessageId,
    pub post: &'a NewMessage,
}

/// Writes `posts` in one transaction; returns them as stored, in order.
/// With `notify`, the transaction also sends the batch's ids on
/// [`super::NOTIFY_CHANNEL`], which PostgreSQL delivers only on commit.
///
/// `committing` is set just before COMMIT is sent: a failure (or a
/// cancellation) after that point may have left the batch committed.
///
/// Authors and hashtags `names` already holds are neither created nor read
/// back; what the batch wrote is remembered there once it has committed.
pub(crate) async fn write_batch(
    db: &DatabaseConnection,
    names: &NameCache,
    posts: &[IdentifiedPost<'_>],
    notify: bool,
    committing: &AtomicBool,
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

    let txn = db.begin().await?;
    if !new_authors.is_empty() {
        user_ids.extend(ensure_users(&txn, &new_authors, Utc::now()).await?);
    }
    if !tags.is_empty() {
        hashtags.extend(ensure_hashtags(&txn, &tags).await?);
    }
    insert_messages(&txn, posts, &user_ids).await?;
    insert_links(&txn, posts, &user_ids, &hashtags).await?;
    bump_counters(&txn, posts, &hashtags).await?;
    if notify {
        notify_ids(&txn, posts).await?;
    }
    committing.store(true, Ordering::SeqCst);
    txn.commit().await?;
    names.remember_written(&user_ids, &hashtags);

    Ok(posts
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
        .collect())
}

/// Creates those of `names` that do not exist yet; returns each one's id.
async fn ensure_users<C: ConnectionTrait>(
    db: &C,
    names: &BTreeSet<&str>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, i64>, DbErr> {
    let backend = db.get_database_backend();

    let mut insert = Sql::new(backend);
    insert
        .push("INSERT INTO users (name, created_at) VALUES ")
        .bind_rows(
            names
                .iter()
                .map(|name| [Value::from(*name), Value::from(now)]),
        )
        .push(" ON CONFLICT (name) DO NOTHING");
    db.execute(insert.build()).await?;

    let mut select = Sql::new(backend);
    select
        .push("SELECT id, name FROM users WHERE name IN ")
        .bind_list(names.iter().copied());
    let rows = db.query_all(select.build()).await?;
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

/// Creates those of `wanted` (display by normalized name) that do not
/// exist yet; returns each one's id and stored display form (the first one
/// ever written) by normalized name.
async fn ensure_hashtags<C: ConnectionTrait>(
    db: &C,
    wanted: &BTreeMap<&str, &str>,
) -> Result<HashMap<String, (i64, String)>, DbErr> {
    let backend = db.get_database_backend();

    let mut insert = Sql::new(backend);
    insert
        .push("INSERT INTO hashtags (name, display) VALUES ")
        .bind_rows(
            wanted
                .iter()
                .map(|(name, display)| [Value::from(*name), Value::from(*display)]),
        )
        .push(" ON CONFLICT (name) DO NOTHING");
    db.execute(insert.build()).await?;

    let mut select = Sql::new(backend);
    select
        .push("SELECT id, name, display FROM hashtags WHERE name IN ")
        .bind_list(wanted.keys().copied());
    let rows = db.query_all(select.build()).await?;
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

async fn insert_messages<C: ConnectionTrait>(
    db: &C,
    posts: &[IdentifiedPost<'_>],
    user_ids: &HashMap<String, i64>,
) -> Result<(), DbErr> {
    let mut insert = Sql::new(db.get_database_backend());
    insert
        .push("INSERT INTO messages (id, user_id, text, created_at) VALUES ")
        .bind_rows(posts.iter().map(|p| {
            [
                Value::from(p.id.to_bytes().to_vec()),
                Value::from(user_ids[p.post.author.as_str()]),
                Value::from(p.post.text.as_str()),
                Value::from(p.id.created_at()),
            ]
        }));
    db.execute(insert.build()).await?;
    Ok(())
}

async fn insert_links<C: ConnectionTrait>(
    db: &C,
    posts: &[IdentifiedPost<'_>],
    user_ids: &HashMap<String, i64>,
    hashtags: &HashMap<String, (i64, String)>,
) -> Result<(), DbErr> {
    let mut rows = Vec::new();
    for p in posts {
        let user_id = user_ids[p.post.author.as_str()];
        for (position, tag) in p.post.hashtags.iter().enumerate() {
            rows.push([
                Value::from(hashtags[tag.normalized()].0),
                Value::from(p.id.to_bytes().to_vec()),
                Value::from(user_id),
                Value::from(position as i16),
            ]);
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = Sql::new(db.get_database_backend());
    insert
        .push("INSERT INTO message_hashtags (hashtag_id, message_id, user_id, position) VALUES ")
        .bind_rows(rows);
    db.execute(insert.build()).await?;
    Ok(())
}

/// `pg_notify` with the batch's ids, comma-separated (at most 256 ids of
/// 26 characters: well under PostgreSQL's 8000-byte payload limit).
async fn notify_ids<C: ConnectionTrait>(db: &C, posts: &[IdentifiedPost<'_>]) -> Result<(), DbErr> {
    let ids: Vec<String> = posts.iter().map(|p| p.id.to_string()).collect();
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT pg_notify(")
        .bind(super::NOTIFY_CHANNEL)
        .push(", ")
        .bind(ids.join(","))
        .push(")");
    db.execute(sql.build()).await?;
    Ok(())
}

/// One upsert for the whole batch: each (hashtag or all, minute) once, with
/// the batch's count for it.
async fn bump_counters<C: ConnectionTrait>(
    db: &C,
    posts: &[IdentifiedPost<'_>],
    hashtags: &HashMap<String, (i64, String)>,
) -> Result<(), DbErr> {
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
    // The hours and days of these minutes, in the same upsert.
    super::trend_rollup::add_rollups(&mut counts);
    let mut upsert = Sql::new(db.get_database_backend());
    upsert
        .push("INSERT INTO trend_counts (hashtag_id, minute, count) VALUES ")
        .bind_rows(
            counts
                .iter()
                .map(|((tag, minute), count)| [Value::from(*tag), Value::from(*minute), Value::from(*count)]),
        )
        .push(
            " ON CONFLICT (hashtag_id, minute) DO UPDATE SET count = trend_counts.count + excluded.count",
        );
    db.execute(upsert.build()).await?;
    Ok(())
}
