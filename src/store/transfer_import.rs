//! Restoring exported messages: one batch in one transaction, keeping each
//! message's id, its author's name (and id, where the database has room for
//! it), its hashtags, and adding it to the trend counters and their hour
//! and day rollups exactly as the write path would have.
//!
//! A message whose id is already stored is skipped, counters included, so
//! an import that stopped half-way can be run again from the start.
//! Authors and hashtags are created only when missing; an existing user
//! keeps its id (other code caches it), and an existing hashtag its display.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::sea_query::{ArrayType, Query};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};

use super::entity::message;
use super::query::is_one_of;
use super::read::id_value;
use super::retry::with_retries;
use super::transfer::TransferDb;
use super::write_batch::{link_rows_insert, message_rows_insert, ALL_MESSAGES};
use crate::domain::{Hashtag, MessageId, MessageText, UserName};

/// A message to restore, validated by the domain's parsers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    pub id: MessageId,
    /// The author's id where it came from; kept when the name is new here
    /// and the id free.
    pub user_id: Option<i64>,
    pub author: UserName,
    pub text: MessageText,
    /// In the order written.
    pub hashtags: Vec<Hashtag>,
}

/// What restoring a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestoreOutcome {
    pub inserted: u64,
    /// Already stored (or twice in the batch): left alone.
    pub skipped: u64,
}

impl TransferDb {
    /// Restores `batch` in one transaction. With `count`, the new messages
    /// are added to the trend counters (not when they are counted already,
    /// as an archive's messages are in the database they came from).
    pub async fn restore(&self, batch: &[Restored], count: bool) -> Result<RestoreOutcome, DbErr> {
        with_retries(&self.retries, || async {
            let txn = self.db.begin().await?;
            let outcome = restore_in(&txn, batch, count).await?;
            txn.commit().await?;
            Ok(outcome)
        })
        .await
    }
}

async fn restore_in(
    txn: &DatabaseTransaction,
    batch: &[Restored],
    count: bool,
) -> Result<RestoreOutcome, DbErr> {
    let backend = txn.get_database_backend();
    let existing = existing_ids(txn, batch).await?;
    let mut seen = HashSet::new();
    let new: Vec<&Restored> = batch
        .iter()
        .filter(|m| !existing.contains(&m.id) && seen.insert(m.id))
        .collect();
    let outcome = RestoreOutcome {
        inserted: new.len() as u64,
        skipped: (batch.len() - new.len()) as u64,
    };
    if new.is_empty() {
        return Ok(outcome);
    }
    let users = super::transfer_users::ensure_users(txn, &new).await?;
    let tags = ensure_hashtags(txn, &new).await?;
    let messages = message_rows_insert(
        backend,
        new.iter()
            .map(|m| (m.id, users[m.author.as_str()], m.text.as_str())),
    );
    txn.execute(messages).await?;
    let tag_ids = &tags;
    let links = link_rows_insert(
        backend,
        new.iter().flat_map(|m| {
            let user_id = users[m.author.as_str()];
            m.hashtags.iter().enumerate().map(move |(position, tag)| {
                (tag_ids[tag.normalized()], m.id, user_id, position as i16)
            })
        }),
    );
    if let Some(links) = links {
        txn.execute(links).await?;
    }
    if count {
        txn.execute(counters_upsert(backend, &new, &tags)).await?;
    }
    Ok(outcome)
}

/// The ids of `batch` already stored.
async fn existing_ids<C: ConnectionTrait>(
    db: &C,
    batch: &[Restored],
) -> Result<HashSet<MessageId>, DbErr> {
    let backend = db.get_database_backend();
    let select = Query::select()
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(is_one_of(
            backend,
            message::Column::Id,
            ArrayType::Bytes,
            batch.iter().map(|m| id_value(m.id)).collect(),
        ))
        .to_owned();
    let mut ids = HashSet::new();
    for row in db.query_all(backend.build(&select)).await? {
        let bytes: Vec<u8> = row.try_get("", "id")?;
        if let Some(id) = MessageId::from_bytes(&bytes) {
            ids.insert(id);
        }
    }
    Ok(ids)
}

/// Each hashtag's id by normalized name, creating those missing with the
/// display of their first use in the batch: the write path's own
/// statements.
async fn ensure_hashtags<C: ConnectionTrait>(
    db: &C,
    new: &[&Restored],
) -> Result<HashMap<String, i64>, DbErr> {
    let mut wanted: BTreeMap<&str, &str> = BTreeMap::new();
    for tag in new.iter().flat_map(|m| &m.hashtags) {
        wanted.entry(tag.normalized()).or_insert(tag.display());
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let found = super::write_batch::ensure_hashtags(db, &wanted).await?;
    Ok(found
        .into_iter()
        .map(|(name, (id, _display))| (name, id))
        .collect())
}

/// One upsert adding the messages to their minutes, hours and days, for
/// all messages and for each hashtag, each key once and in key order.
fn counters_upsert(
    backend: DbBackend,
    new: &[&Restored],
    tags: &HashMap<String, i64>,
) -> Statement {
    let mut counts: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for m in new {
        let minute = m.id.created_at().timestamp().div_euclid(60);
        *counts.entry((ALL_MESSAGES, minute)).or_default() += 1;
        for tag in &m.hashtags {
            *counts.entry((tags[tag.normalized()], minute)).or_default() += 1;
        }
    }
    super::write_batch::minute_counts_upsert(backend, counts)
}
