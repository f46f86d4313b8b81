//! `message_hashtags`: links a message to its hashtags. The primary key
//! (hashtag_id, message_id) is the index a hashtag listing walks. `user_id`
//! is copied from the message so that a listing by hashtag *and* user also
//! walks one index instead of filtering a hashtag's whole history.

use sea_orm::entity::prelude::*;

use super::Index;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_hashtags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hashtag_id: i64,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Binary(16)")]
    pub message_id: Vec<u8>,
    /// The message's author, copied (it never changes).
    pub user_id: i64,
    /// Where the tag stands in the message's list, to show tags in the order
    /// written.
    pub position: i16,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::hashtag::Entity",
        from = "Column::HashtagId",
        to = "super::hashtag::Column::Id"
    )]
    Hashtag,
    #[sea_orm(
        belongs_to = "super::message::Entity",
        from = "Column::MessageId",
        to = "super::message::Column::Id"
    )]
    Message,
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::hashtag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Hashtag.def()
    }
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

pub const INDEXES: &[Index<Column>] = &[
    // A listing by hashtag and user.
    Index {
        name: "message_hashtags_hashtag_user_message",
        columns: &[Column::HashtagId, Column::UserId, Column::MessageId],
    },
    // The hashtags of a page of messages, in one statement.
    Index {
        name: "message_hashtags_message",
        columns: &[Column::MessageId],
    },
];
