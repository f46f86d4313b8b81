//! The index a listing by user walks: (user_id, id), newest first by id.

use sea_orm_migration::prelude::*;

use crate::building_blocks::{create_index, drop_index};
use crate::m20261127_000003_create_messages::Messages;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_index(
            manager,
            "messages_user_id_id",
            Messages::Table,
            [Messages::UserId, Messages::Id],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, "messages_user_id_id", Messages::Table).await
    }
}
