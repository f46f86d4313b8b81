//! The `idempotency_keys` table: a post that came with a key leaves a record
//! (user, key, hash of its body, its message id), written by the writer in
//! the post's own transaction (see [`keys_rows_insert`]), so that a key is taken
//! exactly when its message is stored, whichever process wrote it.
//!
//! A retry is answered from the record ([`replay`]): the first post's
//! message when the body is the same, a refusal when it is not. Two posts
//! racing with one key meet at the table's primary key: the second one's
//! batch fails on it, is written again post by post, and that post alone is
//! answered [`super::StoreError::KeyTaken`] (nothing written), then from
//! the record. Records past the retention are deleted in bounded rounds by
//! a background task ([`spawn_cleanup`]).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{ArrayType, Expr, Order, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, Value};

use super::entity::idempotency_key::{self, Column};
use super::entity::user;
use super::periodic::{self, Chore};
use super::query::insert_rows;
use super::write_batch::IdentifiedPost;
use super::{read, Clock, Posted, StoreError};
use crate::domain::{Idempotency, MessageId, RequestHash, UserName};

/// The shortest retention: a client's retries within a day are safe.
pub const MIN_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often the cleanup runs (first after one interval, so that a store
/// that starts sends nothing more than it did).
const CLEANUP_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Records deleted by one statement, and rounds in one cleanup: a backlog
/// is worked off over several runs rather than in one long transaction.
const CLEANUP_BATCH: u64 = 1000;
const CLEANUP_ROUNDS: u32 = 100;

/// The records of the batch's posts that have a key, sorted by (user, key)
/// so that concurrent batches take the keys in one order; `None` when no
/// post has a key: a batch without keys sends no statement more.
///
/// A plain insert, not `ON CONFLICT DO NOTHING`: a key already taken (by an
/// earlier post, or by another post of the same batch) must stop the post
/// that carries it, and a unique violation does (see `super::commit`).
pub(crate) fn keys_rows_insert(
    backend: sea_orm::DbBackend,
    posts: &[IdentifiedPost<'_>],
    user_ids: &HashMap<String, i64>,
) -> Option<sea_orm::sea_query::InsertStatement> {
    let mut rows: Vec<(i64, &IdentifiedPost<'_>, &Idempotency)> = posts
        .iter()
        .filter_map(|p| {
            let idempotency = p.post.idempotency.as_ref()?;
            Some((user_ids[p.post.author.as_str()], p, idempotency))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| (a.0, a.2.key.as_str()).cmp(&(b.0, b.2.key.as_str())));
    let insert = insert_rows(
        backend,
        idempotency_key::Entity,
        [
            (Column::UserId, ArrayType::BigInt),
            (Column::Key, ArrayType::String),
            (Column::RequestHash, ArrayType::Bytes),
            (Column::MessageId, ArrayType::Bytes),
            (Column::CreatedAt, ArrayType::ChronoDateTimeUtc),
        ],
        rows.into_iter().map(|(user_id, p, idempotency)| {
            [
                Value::from(user_id),
                Value::from(idempotency.key.as_str()),
                Value::from(idempotency.request_hash.0.to_vec()),
                Value::from(p.id.to_bytes().to_vec()),
                // The message's own time, on the store's clock.
                Value::from(p.id.created_at()),
            ]
        }),
    );
    Some(insert)
}

/// What a stored record says.
struct Record {
    request_hash: Vec<u8>,
    message_id: Vec<u8>,
}

/// The record of `author`'s `key`, if any (one statement: the user is found
/// by name inside it, as a new author has no id in any cache yet).
async fn find<C: ConnectionTrait>(
    db: &C,
    author: &UserName,
    key: &str,
) -> Result<Option<Record>, DbErr> {
    let backend = db.get_database_backend();
    let author_id = Query::select()
        .column(user::Column::Id)
        .from(user::Entity)
        .and_where(Expr::col(user::Column::Name).eq(author.as_str()))
        .to_owned();
    let select = Query::select()
        .columns([Column::RequestHash, Column::MessageId])
        .from(idempotency_key::Entity)
        .and_where(Expr::col(Column::UserId).in_subquery(author_id))
        .and_where(Expr::col(Column::Key).eq(key))
        .to_owned();
    let Some(row) = db.query_one(backend.build(&select)).await? else {
        return Ok(None);
    };
    Ok(Some(Record {
        request_hash: row.try_get("", "request_hash")?,
        message_id: row.try_get("", "message_id")?,
    }))
}

/// The answer the record of `author`'s key gives a post with
/// `idempotency`, or `None` when the key is not taken: the stored message
/// for the same body, [`Posted::KeyReused`] for another.
pub(crate) async fn replay<C: ConnectionTrait>(
    db: &C,
    author: &UserName,
    idempotency: &Idempotency,
) -> Result<Option<Posted>, StoreError> {
    let Some(record) = find(db, author, idempotency.key.as_str()).await? else {
        return Ok(None);
    };
    if RequestHash::from_slice(&record.request_hash) != Some(idempotency.request_hash) {
        return Ok(Some(Posted::KeyReused));
    }
    let id = MessageId::from_bytes(&record.message_id).ok_or_else(|| {
        StoreError::Writer("an idempotency record holds a malformed message id".to_owned())
    })?;
    match read::get_messages(db, &[id]).await?.pop() {
        Some(message) => Ok(Some(Posted::Replayed(message))),
        None => Err(StoreError::Writer(format!(
            "message {id} of an idempotency record is not stored"
        ))),
    }
}

/// The oldest time a record may have and be kept, `retention` before the
/// store's now; `None` when that is before any time chrono can say.
pub(crate) fn cutoff(clock: &Clock, retention: Duration) -> Option<DateTime<Utc>> {
    let now = DateTime::<Utc>::from(clock());
    now.checked_sub_signed(TimeDelta::from_std(retention).ok()?)
}

/// Deletes the records older than `before`, in rounds of at most
/// [`CLEANUP_BATCH`] rows, oldest first; returns how many.
pub(crate) async fn delete_expired<C: ConnectionTrait>(
    db: &C,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut total = 0;
    for _ in 0..CLEANUP_ROUNDS {
        let deleted = db
            .execute(delete_oldest(db.get_database_backend(), before))
            .await?
            .rows_affected();
        total += deleted;
        if deleted < CLEANUP_BATCH {
            break;
        }
    }
    Ok(total)
}

/// `DELETE … WHERE (user_id, key) IN (SELECT user_id, key … WHERE
/// created_at < $1 ORDER BY created_at LIMIT n)`: a bounded delete in a
/// form every backend takes (PostgreSQL has no `DELETE … LIMIT`).
fn delete_oldest(backend: sea_orm::DbBackend, before: DateTime<Utc>) -> Statement {
    let oldest = Query::select()
        .columns([Column::UserId, Column::Key])
        .from(idempotency_key::Entity)
        .and_where(Expr::col(Column::CreatedAt).lt(before))
        .order_by(Column::CreatedAt, Order::Asc)
        .limit(CLEANUP_BATCH)
        .to_owned();
    let delete = Query::delete()
        .from_table(idempotency_key::Entity)
        .and_where(
            Expr::tuple([
                SimpleExpr::from(Expr::col(Column::UserId)),
                SimpleExpr::from(Expr::col(Column::Key)),
            ])
            .in_subquery(oldest),
        )
        .to_owned();
    backend.build(&delete)
}

/// Starts deleting the records older than `retention` every
/// [`CLEANUP_INTERVAL`], for as long as the returned chore is held. A
/// failed run is logged and tried again at the next.
pub(crate) fn spawn_cleanup(db: DatabaseConnection, clock: Clock, retention: Duration) -> Chore {
    periodic::every(CLEANUP_INTERVAL, move || {
        let (db, clock) = (db.clone(), clock.clone());
        async move {
            let Some(before) = cutoff(&clock, retention) else {
                return;
            };
            match delete_expired(&db, before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "expired idempotency keys deleted"),
                Err(error) => {
                    tracing::warn!(%error, "could not delete expired idempotency keys; trying again later")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;

    #[test]
    fn the_cleanup_deletes_a_bounded_batch_of_the_oldest_records() {
        let before = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            delete_oldest(DbBackend::Postgres, before).sql,
            r#"DELETE FROM "idempotency_keys" WHERE ("user_id", "key") IN (SELECT "user_id", "key" FROM "idempotency_keys" WHERE "created_at" < $1 ORDER BY "created_at" ASC LIMIT $2)"#
        );
    }

    #[test]
    fn the_cutoff_is_the_retention_before_the_stores_now() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let clock: Clock = std::sync::Arc::new(move || now.into());
        assert_eq!(
            cutoff(&clock, MIN_RETENTION),
            Some(now - TimeDelta::hours(24))
        );
    }
}
