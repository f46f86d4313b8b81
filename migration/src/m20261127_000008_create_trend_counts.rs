//! `trend_counts`: messages per (hashtag, minute), kept by the write path, so a
//! trend query costs what its number of minutes costs, never a scan of
//! messages. `hashtag_id` 0 counts all messages (real ids start at 1), which
//! is why it has no foreign key.

use sea_orm_migration::prelude::*;

use crate::building_blocks::drop_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum TrendCounts {
    Table,
    HashtagId,
    /// Whole minutes since the Unix epoch.
    Minute,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TrendCounts::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(TrendCounts::HashtagId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TrendCounts::Minute).big_integer().not_null())
                    .col(ColumnDef::new(TrendCounts::Count).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(TrendCounts::HashtagId)
                            .col(TrendCounts::Minute),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, TrendCounts::Table).await
    }
}
