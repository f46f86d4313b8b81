//! Day rollups of the trend counters, backfilled from the minutes: one
//! counter per (hashtag or all, UTC day) at `minute` = [`DAY_ROWS`] + the
//! day's first minute, kept by the write path like the hours (see the
//! previous migration, whose rules this one follows).

use sea_orm_migration::prelude::*;

use crate::building_blocks::roll_up_minutes;
use crate::m20261201_000010_roll_trend_counts_up_by_hour::HOUR_ROWS;

/// The first `minute` key of the day rows, right after the hours' range.
pub const DAY_ROWS: i64 = 2 * HOUR_ROWS;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        roll_up_minutes(manager, 24 * 60, DAY_ROWS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::building_blocks::delete_counters(manager, DAY_ROWS, DAY_ROWS + HOUR_ROWS).await
    }
}
