//! `messages`: keyed by a 16-byte, time-ordered id (a ULID made by the
//! application), so "newest first" is "id descending" and a date bound is an
//! id bound. The id is bytes, not text: bytes compare the same way on every
//! backend, text in the order of a collation.

use sea_orm::entity::prelude::*;

use super::Index;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// The ULID's 16 bytes, big-endian, so byte order is time order. Made by
    /// the application, never by the database. The migration declared the
    /// column with sea-query's `binary()`, which SQLite spells `blob(1)`; no
    /// backend enforces a length on bytes, so the entity says the real one.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Binary(16)")]
    pub id: Vec<u8>,
    pub user_id: i64,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
    #[sea_orm(has_many = "super::message_hashtag::Entity")]
    MessageHashtag,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::message_hashtag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageHashtag.def()
    }
}

/// A message's hashtags, through the links.
impl Related<super::hashtag::Entity> for Entity {
    fn to() -> RelationDef {
        super::message_hashtag::Relation::Hashtag.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::message_hashtag::Relation::Message.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// A listing by user walks (user_id, id), newest first by id.
pub const INDEXES: &[Index<Column>] = &[Index {
    name: "messages_user_id_id",
    columns: &[Column::UserId, Column::Id],
}];
