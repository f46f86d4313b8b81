//! `live_marks`: each Dunder process's low-water mark (the smallest message
//! id it may still commit), for the tail relay, which has no NOTIFY to carry
//! it. One row per running process, upserted while it runs and deleted when
//! it stops; readers ignore a row that stops changing (see `live::marks`).

use sea_orm_migration::prelude::*;

use crate::building_blocks::drop_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum LiveMarks {
    Table,
    /// The process's random id, chosen when it starts.
    ProcessId,
    /// The mark: a message id in its 26-character text form.
    Mark,
    /// When the process wrote the row, in milliseconds since the Unix epoch
    /// on its own clock; only compared with its own previous value.
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LiveMarks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(LiveMarks::ProcessId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LiveMarks::Mark).string_len(26).not_null())
                    .col(
                        ColumnDef::new(LiveMarks::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, LiveMarks::Table).await
    }
}
