//! `message_hashtags`: links a message to its hashtags. Its primary key
//! (hashtag_id, message_id) is the index a hashtag listing walks. `user_id` is
//! copied from the message so that a listing by hashtag *and* user also walks
//! one index instead of filtering a hashtag's whole history.

use sea_orm_migration::prelude::*;

use crate::building_blocks::drop_table;

use crate::m20261127_000001_create_users::Users;
use crate::m20261127_000002_create_hashtags::Hashtags;
use crate::m20261127_000003_create_messages::Messages;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum MessageHashtags {
    Table,
    HashtagId,
    MessageId,
    UserId,
    /// Where the tag stands in the message's list, to show tags in the order written.
    Position,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessageHashtags::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MessageHashtags::HashtagId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageHashtags::MessageId)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageHashtags::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageHashtags::Position)
                            .small_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(MessageHashtags::HashtagId)
                            .col(MessageHashtags::MessageId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageHashtags::Table, MessageHashtags::HashtagId)
                            .to(Hashtags::Table, Hashtags::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageHashtags::Table, MessageHashtags::MessageId)
                            .to(Messages::Table, Messages::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageHashtags::Table, MessageHashtags::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, MessageHashtags::Table).await
    }
}
