//! `trend_counts`: messages per (hashtag, minute), kept by the write path, so
//! a trend query costs what its number of minutes costs, never a scan of
//! messages.
//!
//! `hashtag_id` 0 counts all messages (real hashtag ids start at 1), which is
//! why the table has no foreign key and the entity no relation to
//! [`super::hashtag`]: a relation would claim a key the data breaks.

use sea_orm::entity::prelude::*;

use super::Index;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trend_counts")]
pub struct Model {
    /// A hashtag's id, or 0 for all messages.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hashtag_id: i64,
    /// Whole minutes since the Unix epoch; from `HOUR_ROWS` up, the key of
    /// an hour or day rollup of the minutes (see `store::trend_rollup`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: i64,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The index every trend reads, `(hashtag_id, minute, count)`.
pub const COVERING_INDEX: &str = "trend_counts_hashtag_minute_count";

/// `trendingHashtags` walks every tag's counters for the last few minutes
/// without reading each tag's whole history; a trend reads one series'
/// range of keys with their counts from the covering index alone (not made
/// on CockroachDB, whose primary index already holds `count`).
pub const INDEXES: &[Index<Column>] = &[
    Index {
        name: "trend_counts_minute_hashtag",
        columns: &[Column::Minute, Column::HashtagId],
    },
    Index {
        name: COVERING_INDEX,
        columns: &[Column::HashtagId, Column::Minute, Column::Count],
    },
];
