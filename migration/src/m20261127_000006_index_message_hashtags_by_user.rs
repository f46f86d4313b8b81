//! The index a listing by hashtag and user walks: (hashtag_id, user_id, message_id).

use sea_orm_migration::prelude::*;

use crate::m20261127_000005_create_message_hashtags::MessageHashtags;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "message_hashtags_hashtag_user_message";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(MessageHashtags::Table)
                    .col(MessageHashtags::HashtagId)
                    .col(MessageHashtags::UserId)
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
