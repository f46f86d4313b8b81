//! The GraphQL object types: `Message` and `User` (both relay `Node`s),
//! the message connection (`MessageConnection`, `MessageEdge`,
//! `PageInfo`), `TrendBucket` and `HashtagCount`, wrapping domain values.
//! Paging itself is `connection`'s, which does not know these types.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Interface, Object, Result, ResultExt, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::connection::{self, Page, PageArgs};
use super::cost;
use super::global_id::GlobalId;
use super::loaders::UserLoader;
use super::Services;
use crate::domain::listing::MessageFilter;
use crate::domain::trend::{HashtagCount, TrendBucket};
use crate::domain::{Cursor, Message, User, UserName};
use crate::live::Live;

/// Anything with a global id, fetched again with `node(id:)`.
#[derive(Interface)]
#[graphql(
    name = "Node",
    field(name = "id", ty = "ID", desc = "An opaque global id.")
)]
pub enum Node {
    Message(MessageObject),
    User(UserObject),
}

/// A message; shared, since a live message goes to every subscriber.
pub struct MessageObject(pub Arc<Message>);

impl From<Message> for MessageObject {
    fn from(message: Message) -> Self {
        MessageObject(Arc::new(message))
    }
}

#[Object(name = "Message")]
impl MessageObject {
    /// An opaque global id (see `node`); `message(id:)` also takes the
    /// plain message id the REST routes use.
    async fn id(&self) -> ID {
        ID(GlobalId::Message(self.0.id).encode())
    }

    async fn text(&self) -> &str {
        &self.0.text
    }

    /// In the order written, each shown as it was first written.
    #[graphql(complexity = "cost::HASHTAGS_COST")]
    async fn hashtags(&self) -> &[String] {
        &self.0.hashtags
    }

    async fn user(&self) -> UserObject {
        UserObject(self.0.user.clone())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A user, created by their first post.
pub struct UserObject(pub User);

#[Object(name = "User")]
impl UserObject {
    /// An opaque global id (see `node`).
    async fn id(&self) -> ID {
        ID(GlobalId::User(self.0.id).encode())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// This user's messages, newest first.
    #[graphql(complexity = "connection::page_cost(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<MessageConnection> {
        // A stored user's name passed validation when it was created.
        let user = UserName::parse("name", &self.0.name).ok();
        let filter = MessageFilter {
            user,
            ..MessageFilter::default()
        };
        let args = PageArgs::new(first, after, last, before);
        // Through the first-page cache, as `messages(filter: {user})` is:
        // a user's newest page is one of its keys.
        let live = ctx.data_opt::<Live>();
        let store = &ctx.data::<Services>()?.store;
        connection::load_via(live, store, &filter, &args)
            .await
            .map(MessageConnection::from)
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MessageConnection")]
pub struct MessageConnection {
    pub edges: Vec<MessageEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
#[graphql(name = "MessageEdge")]
pub struct MessageEdge {
    pub cursor: String,
    pub node: MessageObject,
}

#[derive(SimpleObject)]
#[graphql(name = "PageInfo")]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl From<Page> for MessageConnection {
    fn from(page: Page) -> Self {
        let edges: Vec<MessageEdge> = page
            .messages
            .into_iter()
            .map(|message| MessageEdge {
                cursor: Cursor::new(message.id).encode(),
                node: MessageObject::from(message),
            })
            .collect();
        MessageConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                has_previous_page: page.has_previous_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        }
    }
}

/// Looks a user up by id through the batching loader.
pub async fn user_by_id(ctx: &Context<'_>, id: i64) -> Result<Option<UserObject>> {
    let loader = ctx.data::<DataLoader<UserLoader>>()?;
    Ok(loader.load_one(id).await.extend()?.map(UserObject))
}

/// Messages created in `[fromDate, toDate)`, one aligned bucket.
#[derive(SimpleObject)]
#[graphql(name = "TrendBucket")]
pub struct TrendBucketObject {
    pub from_date: DateTime<Utc>,
    pub to_date: DateTime<Utc>,
    pub count: i64,
}

impl From<TrendBucket> for TrendBucketObject {
    fn from(bucket: TrendBucket) -> Self {
        TrendBucketObject {
            from_date: bucket.from,
            to_date: bucket.to,
            count: bucket.count,
        }
    }
}

/// How many messages carried a hashtag in a window.
#[derive(SimpleObject)]
#[graphql(name = "HashtagCount")]
pub struct HashtagCountObject {
    /// As first written.
    pub hashtag: String,
    pub count: i64,
}

impl From<HashtagCount> for HashtagCountObject {
    fn from(value: HashtagCount) -> Self {
        HashtagCountObject {
            hashtag: value.hashtag,
            count: value.count,
        }
    }
}
