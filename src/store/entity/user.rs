//! `users`: one row per user name, created on first use. The id is the
//! database's own (auto-increment; `unique_rowid()` on CockroachDB) and never
//! changes, so other tables and caches may hold it.

use sea_orm::entity::prelude::*;

use super::Index;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The name as written; unique, at most 64 characters (the domain checks
    /// the limit, the column only bounds it).
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
    /// Through the copy of the author kept on each link (see
    /// [`super::message_hashtag`]).
    #[sea_orm(has_many = "super::message_hashtag::Entity")]
    MessageHashtag,
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl Related<super::message_hashtag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageHashtag.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// No secondary index: the unique name has its own, made by the constraint.
pub const INDEXES: &[Index<Column>] = &[];
