//! The index a listing by user walks: (user_id, id), newest first by id.

use sea_orm_migration::prelude::*;

use crate::m20261127_000003_create_messages::Messages;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("messages_user_id_id")
                    .table(Messages::Table)
                    .col(Messages::UserId)
                    .col(Messages::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("messages_user_id_id")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await
    }
}
