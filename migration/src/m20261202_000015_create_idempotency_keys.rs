//! `idempotency_keys`: the outcome of each post that came with an
//! idempotency key, per user, so that a retry with the same key is answered
//! with the first post's message instead of writing a second one. A row is
//! written in the same transaction as its message, so a key is taken if and
//! only if its message is stored, on every process sharing the database.
//! Rows older than the retention are deleted by the store's cleanup.

use sea_orm_migration::prelude::*;

use crate::building_blocks::drop_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum IdempotencyKeys {
    Table,
    /// The posting user's id; keys are per user.
    UserId,
    /// The key as the client sent it: 1 to 255 visible ASCII characters.
    Key,
    /// SHA-256 of the request's body in a canonical form: a retry must
    /// carry the same body.
    RequestHash,
    /// The 16 bytes of the message the key's first post stored.
    MessageId,
    /// When the message was stored (its id's time): what the retention
    /// counts from.
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IdempotencyKeys::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::Key)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::RequestHash)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::MessageId)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, IdempotencyKeys::Table).await
    }
}
