//! A covering index of the trend counters, `(hashtag_id, minute, count)`:
//! a trend reads a range of one series' keys and their counts from the
//! index alone (an index-only scan on PostgreSQL, a covering index on
//! SQLite), instead of one table row per counter. The rows of one series
//! are written a minute at a time, among every other series' rows of that
//! minute, so in the table they are spread one to a page; a trend of 8,640
//! minutes read about 6,200 pages for them, the index a few dozen.
//!
//! Not on CockroachDB: its primary index is the table (the range scan on
//! `(hashtag_id, minute)` reads `count` with the key), so this index would
//! only cost every counter upsert a second write.

use sea_orm_migration::prelude::*;

use crate::building_blocks::{create_index, drop_index};
use crate::m20261127_000008_create_trend_counts::TrendCounts;
use crate::server_kind::is_cockroach;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "trend_counts_hashtag_minute_count";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if is_cockroach(manager.get_connection()).await? {
            return Ok(());
        }
        create_index(
            manager,
            NAME,
            TrendCounts::Table,
            [
                TrendCounts::HashtagId,
                TrendCounts::Minute,
                TrendCounts::Count,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if is_cockroach(manager.get_connection()).await? {
            return Ok(());
        }
        drop_index(manager, NAME, TrendCounts::Table).await
    }
}
