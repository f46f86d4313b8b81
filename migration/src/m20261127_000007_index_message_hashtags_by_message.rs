//! The index that loads the hashtags of a page of messages in one statement.

use sea_orm_migration::prelude::*;

use crate::building_blocks::{create_index, drop_index};
use crate::m20261127_000005_create_message_hashtags::MessageHashtags;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "message_hashtags_message";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_index(
            manager,
            NAME,
            MessageHashtags::Table,
            [MessageHashtags::MessageId],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, NAME, MessageHashtags::Table).await
    }
}
