//! User names and hashtags in Unicode Normalization Form C, the form the
//! server compares and stores them in from this version on. A row written
//! before in another form is rewritten; rows that then collide are merged
//! into the oldest (lowest id), with everything that refers to them:
//!
//! - users: the other rows' messages and links move to the kept user;
//! - hashtags: links move to the kept tag, except where the message already
//!   links to it (a message that wrote both spellings keeps one link), and
//!   the trend counters (minutes, hours and days) are added to the kept
//!   tag's, less one in each of its buckets for every such message, so
//!   trends stay exact.
//!
//! Each merge is one transaction: a crash leaves every group merged or not,
//! and running the migration again (its record was not written) finds and
//! finishes the rest. Groups are found in memory from one read of each
//! table's ids and names; only rows that change are written.
//!
//! Names with invisible or direction-control characters, refused from this
//! version on, are left as they are: folding `alice` followed by U+200B
//! into `alice` would give alice the posts of whoever imitated her.
//!
//! It must run while no server of an earlier version is posting: such a
//! server caches name-to-id lookups, and could still write with the id of
//! a row merged away.
//!
//! The normalization must stay the server's (`dunder::domain::canonical`):
//! NFC for user names and hashtag displays, and the lowercase of the NFC
//! display for a hashtag's matching name.

use std::collections::{BTreeMap, HashMap};

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseTransaction, QueryResult, StatementBuilder, TransactionTrait,
};
use unicode_normalization::UnicodeNormalization;

use crate::m20261127_000001_create_users::Users;
use crate::m20261127_000002_create_hashtags::Hashtags;
use crate::m20261127_000003_create_messages::Messages;
use crate::m20261127_000005_create_message_hashtags::MessageHashtags;
use crate::m20261127_000008_create_trend_counts::TrendCounts;
use crate::m20261201_000010_roll_trend_counts_up_by_hour::HOUR_ROWS;
use crate::m20261201_000011_roll_trend_counts_up_by_day::DAY_ROWS;

/// Counter rows written per statement when a tag's counters are merged.
const COUNTERS_PER_STATEMENT: usize = 500;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        normalize_users(db).await?;
        normalize_hashtags(db).await
    }

    /// Nothing to undo: the normalized names are valid in the earlier
    /// schema too, and merged rows cannot be told apart again.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// Rows grouped by their normalized key, each group in id order.
fn group<T>(rows: Vec<(i64, T)>, key: impl Fn(&T) -> String) -> BTreeMap<String, Vec<(i64, T)>> {
    let mut groups: BTreeMap<String, Vec<(i64, T)>> = BTreeMap::new();
    for (id, row) in rows {
        groups.entry(key(&row)).or_default().push((id, row));
    }
    for members in groups.values_mut() {
        members.sort_by_key(|(id, _)| *id);
    }
    groups
}

async fn query_all<C: ConnectionTrait>(
    db: &C,
    statement: &SelectStatement,
) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all(db.get_database_backend().build(statement))
        .await
}

async fn exec<C: ConnectionTrait, S: StatementBuilder>(db: &C, statement: &S) -> Result<(), DbErr> {
    db.execute(db.get_database_backend().build(statement))
        .await
        .map(|_| ())
}

async fn normalize_users<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<(), DbErr> {
    let rows = query_all(
        db,
        Query::select()
            .columns([Users::Id, Users::Name])
            .from(Users::Table),
    )
    .await?;
    let users = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get_by_index::<i64>(0)?,
                row.try_get_by_index::<String>(1)?,
            ))
        })
        .collect::<Result<Vec<(i64, String)>, DbErr>>()?;
    for (canonical, members) in group(users, |name| nfc(name)) {
        if members.len() == 1 && members[0].1 == canonical {
            continue;
        }
        let keep = members[0].0;
        let txn = db.begin().await?;
        for (other, _) in &members[1..] {
            for (table, column) in [
                (Messages::Table.into_iden(), Messages::UserId.into_iden()),
                (
                    MessageHashtags::Table.into_iden(),
                    MessageHashtags::UserId.into_iden(),
                ),
            ] {
                exec(
                    &txn,
                    Query::update()
                        .table(table)
                        .value(column.clone(), keep)
                        .and_where(Expr::col(column).eq(*other)),
                )
                .await?;
            }
            exec(
                &txn,
                Query::delete()
                    .from_table(Users::Table)
                    .and_where(Expr::col(Users::Id).eq(*other)),
            )
            .await?;
        }
        if members[0].1 != canonical {
            exec(
                &txn,
                Query::update()
                    .table(Users::Table)
                    .value(Users::Name, canonical.as_str())
                    .and_where(Expr::col(Users::Id).eq(keep)),
            )
            .await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

/// A hashtag row: its matching name and its display.
struct Tag {
    name: String,
    display: String,
}

async fn normalize_hashtags<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<(), DbErr> {
    let rows = query_all(
        db,
        Query::select()
            .columns([Hashtags::Id, Hashtags::Name, Hashtags::Display])
            .from(Hashtags::Table),
    )
    .await?;
    let tags = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get_by_index::<i64>(0)?,
                Tag {
                    name: row.try_get_by_index(1)?,
                    display: row.try_get_by_index(2)?,
                },
            ))
        })
        .collect::<Result<Vec<(i64, Tag)>, DbErr>>()?;
    for (canonical, members) in group(tags, |tag| nfc(&tag.display).to_lowercase()) {
        let (keep, kept) = &members[0];
        let display = nfc(&kept.display);
        if members.len() == 1 && kept.name == canonical && kept.display == display {
            continue;
        }
        let txn = db.begin().await?;
        for (other, _) in &members[1..] {
            merge_hashtag(&txn, *keep, *other).await?;
        }
        exec(
            &txn,
            Query::update()
                .table(Hashtags::Table)
                .value(Hashtags::Name, canonical.as_str())
                .value(Hashtags::Display, display.as_str())
                .and_where(Expr::col(Hashtags::Id).eq(*keep)),
        )
        .await?;
        txn.commit().await?;
    }
    Ok(())
}

/// Moves hashtag `other`'s links and counters to `keep`, then deletes it.
async fn merge_hashtag(txn: &DatabaseTransaction, keep: i64, other: i64) -> Result<(), DbErr> {
    let linked_to_keep = Query::select()
        .column(MessageHashtags::MessageId)
        .from(MessageHashtags::Table)
        .and_where(Expr::col(MessageHashtags::HashtagId).eq(keep))
        .to_owned();
    let both = |select: &mut SelectStatement| {
        select
            .from(MessageHashtags::Table)
            .and_where(Expr::col(MessageHashtags::HashtagId).eq(other))
            .and_where(Expr::col(MessageHashtags::MessageId).in_subquery(linked_to_keep.clone()));
    };
    // Messages that link to both: counted under each tag, to be counted
    // once under the merged one.
    let mut select = Query::select();
    select.column(MessageHashtags::MessageId);
    both(&mut select);
    let twice: Vec<Vec<u8>> = query_all(txn, &select)
        .await?
        .iter()
        .map(|row| row.try_get_by_index(0))
        .collect::<Result<_, DbErr>>()?;
    exec(
        txn,
        Query::delete()
            .from_table(MessageHashtags::Table)
            .and_where(Expr::col(MessageHashtags::HashtagId).eq(other))
            .and_where(Expr::col(MessageHashtags::MessageId).in_subquery(linked_to_keep.clone())),
    )
    .await?;
    exec(
        txn,
        Query::update()
            .table(MessageHashtags::Table)
            .value(MessageHashtags::HashtagId, keep)
            .and_where(Expr::col(MessageHashtags::HashtagId).eq(other)),
    )
    .await?;

    // The counters: `other`'s added to `keep`'s, less the messages above.
    let mut deltas: HashMap<i64, i64> = HashMap::new();
    for row in query_all(
        txn,
        Query::select()
            .columns([TrendCounts::Minute, TrendCounts::Count])
            .from(TrendCounts::Table)
            .and_where(Expr::col(TrendCounts::HashtagId).eq(other)),
    )
    .await?
    {
        *deltas.entry(row.try_get_by_index(0)?).or_default() += row.try_get_by_index::<i64>(1)?;
    }
    for id in &twice {
        let minute = message_minute(id)?;
        for key in [
            minute,
            HOUR_ROWS + minute - minute % 60,
            DAY_ROWS + minute - minute % 1440,
        ] {
            *deltas.entry(key).or_default() -= 1;
        }
    }
    exec(
        txn,
        Query::delete()
            .from_table(TrendCounts::Table)
            .and_where(Expr::col(TrendCounts::HashtagId).eq(other)),
    )
    .await?;
    let deltas: Vec<(i64, i64)> = deltas.into_iter().filter(|(_, d)| *d != 0).collect();
    for chunk in deltas.chunks(COUNTERS_PER_STATEMENT) {
        let mut insert = Query::insert();
        insert.into_table(TrendCounts::Table).columns([
            TrendCounts::HashtagId,
            TrendCounts::Minute,
            TrendCounts::Count,
        ]);
        for (key, delta) in chunk {
            insert.values_panic([keep.into(), (*key).into(), (*delta).into()]);
        }
        insert.on_conflict(
            OnConflict::columns([TrendCounts::HashtagId, TrendCounts::Minute])
                .value(
                    TrendCounts::Count,
                    Expr::col((TrendCounts::Table, TrendCounts::Count))
                        .add(Expr::col((Alias::new("excluded"), TrendCounts::Count))),
                )
                .to_owned(),
        );
        exec(txn, &insert).await?;
    }
    // Buckets that held only messages counted twice are empty now.
    exec(
        txn,
        Query::delete()
            .from_table(TrendCounts::Table)
            .and_where(Expr::col(TrendCounts::HashtagId).eq(keep))
            .and_where(Expr::col(TrendCounts::Count).lte(0)),
    )
    .await?;
    exec(
        txn,
        Query::delete()
            .from_table(Hashtags::Table)
            .and_where(Expr::col(Hashtags::Id).eq(other)),
    )
    .await
}

/// The minute a message was counted in: its id is a ULID, whose first six
/// bytes are its creation time in milliseconds.
fn message_minute(id: &[u8]) -> Result<i64, DbErr> {
    let Some(millis) = id.get(..6) else {
        return Err(DbErr::Custom(format!("message id of {} bytes", id.len())));
    };
    let millis = millis
        .iter()
        .fold(0_i64, |acc, byte| (acc << 8) | i64::from(*byte));
    Ok(millis.div_euclid(60_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_minute_comes_from_its_id() {
        // 2019-09-24T00:00:59.999Z is minute 26,154,720 since 1970.
        let millis: i64 = 1_569_283_259_999;
        let mut id = millis.to_be_bytes()[2..].to_vec();
        id.extend([0xff; 10]);
        assert_eq!(message_minute(&id).unwrap(), 26_154_720);
        assert!(message_minute(&[1, 2]).is_err());
    }

    #[test]
    fn groups_are_by_normalized_key_in_id_order() {
        let groups = group(
            vec![
                (9, "Jos\u{e9}".to_owned()),
                (4, "Jose\u{301}".to_owned()),
                (5, "ann".to_owned()),
            ],
            |name| nfc(name),
        );
        assert_eq!(groups.len(), 2);
        let ids: Vec<i64> = groups["Jos\u{e9}"].iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [4, 9]);
    }
}
