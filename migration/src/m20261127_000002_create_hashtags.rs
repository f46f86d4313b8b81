//! `hashtags`: one row per tag, unique by its normalized (lower-case) form,
//! shown as it was first written.

use sea_orm_migration::prelude::*;

use crate::building_blocks::{drop_table, serial_id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Hashtags {
    Table,
    Id,
    Name,
    Display,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Hashtags::Table)
                    .if_not_exists()
                    .col(serial_id(Hashtags::Id))
                    // 64 characters can take up to 256 bytes in UTF-8; the
                    // limit is enforced in characters by the domain layer.
                    .col(
                        ColumnDef::new(Hashtags::Name)
                            .string_len(256)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Hashtags::Display).string_len(256).not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, Hashtags::Table).await
    }
}
