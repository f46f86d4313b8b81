//! `idempotency_keys`: the outcome of each post that came with an
//! idempotency key, keyed by (user, key), written in the same transaction
//! as its message (see `store::idempotency`).

use sea_orm::entity::prelude::*;

use super::Index;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// The posting user's id: the same key from two users is two records.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// The key as sent: 1 to 255 visible ASCII characters.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(255))"
    )]
    pub key: String,
    /// SHA-256 of the post's body in canonical form (32 bytes).
    #[sea_orm(column_type = "Binary(32)")]
    pub request_hash: Vec<u8>,
    /// The stored message's 16-byte id.
    #[sea_orm(column_type = "Binary(16)")]
    pub message_id: Vec<u8>,
    /// The message's time: the retention counts from it.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The cleanup deletes the records past the retention, oldest first.
pub const INDEXES: &[Index<Column>] = &[Index {
    name: "idempotency_keys_created_at",
    columns: &[Column::CreatedAt],
}];
