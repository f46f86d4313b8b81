//! Hour rollups of the trend counters, backfilled from the minutes: one
//! counter per (hashtag or all, hour) beside the minutes in `trend_counts`,
//! at `minute` = [`HOUR_ROWS`] + the hour's first minute. From this
//! migration on, the write path adds each batch to its hours in the same
//! upsert as its minutes, so a trend of whole hours reads one row an hour.
//!
//! The statement recomputes every hour from the minutes and overwrites it,
//! so running it again (after a crash before its record) gives the same
//! rows. It must not run while a process that does not keep rollups is
//! still writing: minutes it counts afterwards would be missing from their
//! hours.

use sea_orm_migration::prelude::*;

use crate::building_blocks::roll_up_minutes;

/// The first `minute` key of the hour rows. Real minutes (48 bits of
/// milliseconds: about 4.7e9) stay far below it.
pub const HOUR_ROWS: i64 = 1 << 40;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        roll_up_minutes(manager, 60, HOUR_ROWS).await
    }

    /// The rollups are counters like the minutes: taking them away is
    /// deleting their rows.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::building_blocks::delete_counters(manager, HOUR_ROWS, 2 * HOUR_ROWS).await
    }
}
