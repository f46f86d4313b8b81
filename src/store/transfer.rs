//! The SQL of `dunder export`, `dunder import` and `dunder archive`: a
//! connection of their own on the database the settings name (no writer
//! task, no live side), keyset pages of messages oldest first, and deletes
//! by id. Restoring messages is in [`super::transfer_import`].

use sea_orm::sea_query::{ArrayType, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait, Value};
use std::sync::atomic::AtomicU64;

use super::entity::{idempotency_key, message, message_hashtag};
use super::names::{NameCache, NAME_CACHE_CAPACITY};
use super::query::is_one_of;
use super::read::{id_value, list_messages};
use super::retry::with_retries;
use crate::domain::listing::{MessageFilter, PageRequest};
use crate::domain::{Cursor, Message, MessageId};

pub use super::transfer_import::{RestoreOutcome, Restored};

/// A database opened for moving messages in and out of it.
pub struct TransferDb {
    pub(super) db: DatabaseConnection,
    names: NameCache,
    /// Transactions retried after a conflict (not reported; the writer's
    /// metric counts its own).
    pub(super) retries: AtomicU64,
}

impl TransferDb {
    /// Opens `url` (applying pending migrations first when `migrate`).
    pub async fn open(url: &str, migrate: bool, log_statements: bool) -> Result<Self, DbErr> {
        let db = super::connect::connect(url, log_statements).await?;
        if migrate {
            super::migrate_database(&db).await?;
        }
        Ok(TransferDb {
            db,
            names: NameCache::new(NAME_CACHE_CAPACITY),
            retries: AtomicU64::new(0),
        })
    }

    /// Up to `limit` messages of `filter` after `after` (the last message of
    /// the previous page), oldest first: the listings' own keyset walk, on
    /// the index the filter calls for, so every page costs the same.
    pub async fn page(
        &self,
        filter: &MessageFilter,
        after: Option<MessageId>,
        limit: u64,
    ) -> Result<Vec<Message>, DbErr> {
        let page = PageRequest::newer(after.map(Cursor::new), limit);
        list_messages(&self.db, &self.names, filter, &page).await
    }

    /// Deletes the messages `ids` (those that exist), with their hashtag
    /// links and the idempotency records that point at them, in one
    /// transaction; returns how many messages were deleted. Users, hashtags
    /// and trend counters stay: ids never change, and the counters keep
    /// counting the days the messages were posted on.
    pub async fn delete(&self, ids: &[MessageId]) -> Result<u64, DbErr> {
        if ids.is_empty() {
            return Ok(0);
        }
        with_retries(&self.retries, || async {
            let txn = self.db.begin().await?;
            let backend = txn.get_database_backend();
            let values = || ids.iter().map(|id| id_value(*id)).collect::<Vec<Value>>();
            let links = Query::delete()
                .from_table(message_hashtag::Entity)
                .and_where(is_one_of(
                    backend,
                    message_hashtag::Column::MessageId,
                    ArrayType::Bytes,
                    values(),
                ))
                .to_owned();
            txn.execute(backend.build(&links)).await?;
            // The records' time is their message's: bounding it lets the
            // delete walk the created_at index instead of the whole table.
            let (low, high) = time_span(ids);
            let keys = Query::delete()
                .from_table(idempotency_key::Entity)
                .and_where(Expr::col(idempotency_key::Column::CreatedAt).gte(low))
                .and_where(Expr::col(idempotency_key::Column::CreatedAt).lte(high))
                .and_where(is_one_of(
                    backend,
                    idempotency_key::Column::MessageId,
                    ArrayType::Bytes,
                    values(),
                ))
                .to_owned();
            txn.execute(backend.build(&keys)).await?;
            let messages = Query::delete()
                .from_table(message::Entity)
                .and_where(is_one_of(
                    backend,
                    message::Column::Id,
                    ArrayType::Bytes,
                    values(),
                ))
                .to_owned();
            let deleted = txn.execute(backend.build(&messages)).await?.rows_affected();
            txn.commit().await?;
            Ok(deleted)
        })
        .await
    }

    /// Closes the connections.
    pub async fn close(self) -> Result<(), DbErr> {
        self.db.close().await
    }
}

/// The earliest and latest creation times of `ids` (not empty).
fn time_span(ids: &[MessageId]) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let low = ids.iter().min().map(MessageId::created_at);
    let high = ids.iter().max().map(MessageId::created_at);
    (
        low.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        high.unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
    )
}
