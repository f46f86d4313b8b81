//! The index that loads the hashtags of a page of messages in one statement.

use sea_orm_migration::prelude::*;

use crate::m20261127_000005_create_message_hashtags::MessageHashtags;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "message_hashtags_message";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(MessageHashtags::Table)
                    .col(MessageHashtags::MessageId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(MessageHashtags::Table)
                    .to_owned(),
            )
            .await
    }
}
