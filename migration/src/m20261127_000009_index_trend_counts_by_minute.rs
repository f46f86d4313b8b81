//! The index `trendingHashtags` walks: every tag's counters for the last few
//! minutes, without reading each tag's whole history.

use sea_orm_migration::prelude::*;

use crate::building_blocks::{create_index, drop_index};
use crate::m20261127_000008_create_trend_counts::TrendCounts;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "trend_counts_minute_hashtag";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_index(
            manager,
            NAME,
            TrendCounts::Table,
            [TrendCounts::Minute, TrendCounts::HashtagId],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, NAME, TrendCounts::Table).await
    }
}
