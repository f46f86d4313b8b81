//! `hashtags`: one row per tag, unique by its normalized (lower-case) form,
//! shown as it was first written. Ids start at 1: 0 is "all messages" in
//! [`super::trend_count`].

use sea_orm::entity::prelude::*;

use super::Index;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hashtags")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The normalized tag, what lookups match. 64 characters can take up to
    /// 256 bytes in UTF-8; the domain enforces the limit in characters.
    #[sea_orm(column_type = "String(StringLen::N(256))", unique)]
    pub name: String,
    /// The tag as first written, what responses show.
    #[sea_orm(column_type = "String(StringLen::N(256))")]
    pub display: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::message_hashtag::Entity")]
    MessageHashtag,
}

impl Related<super::message_hashtag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MessageHashtag.def()
    }
}

/// A hashtag's messages, through the links.
impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        super::message_hashtag::Relation::Message.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::message_hashtag::Relation::Hashtag.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// No secondary index: the unique name has its own, made by the constraint.
pub const INDEXES: &[Index<Column>] = &[];
