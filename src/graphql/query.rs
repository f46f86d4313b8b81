//! `Query`: listings as relay connections, lookups by id and name, trends.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, InputObject, Object, Result, ResultExt, ID};
use chrono::{DateTime, Utc};

use super::connection::{self, PageArgs};
use super::cost;
use super::global_id::GlobalId;
use super::loaders::MessageLoader;
use super::types::{
    user_by_id, HashtagCountObject, MessageConnection, MessageObject, Node, TrendBucketObject,
    UserObject,
};
use super::Services;
use crate::domain::listing::MessageFilter;
use crate::domain::trend::{TrendQuery, TrendingQuery};
use crate::domain::{Aggregation, DomainError, Field, Hashtag, MessageId, UserName};
use crate::live::Live;

/// Which messages a listing covers; every field optional, combined with AND.
/// The date range is half-open: `fromDate <= createdAt < toDate`.
#[derive(InputObject, Default)]
#[graphql(name = "MessageFilter")]
pub struct MessageFilterInput {
    /// Matched case-insensitively; a leading `#` is dropped.
    pub hashtag: Option<String>,
    pub user_name: Option<String>,
    pub from_date: Option<DateTime<Utc>>,
    pub to_date: Option<DateTime<Utc>>,
}

impl MessageFilterInput {
    pub fn parse(&self) -> Result<MessageFilter, DomainError> {
        MessageFilter {
            hashtag: self
                .hashtag
                .as_deref()
                .map(|raw| Hashtag::parse("hashtag", raw))
                .transpose()?,
            user: self
                .user_name
                .as_deref()
                .map(|raw| UserName::parse(Field::UserName, raw))
                .transpose()?,
            from: self.from_date,
            to: self.to_date,
        }
        .validated()
    }
}

pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// Messages, newest first, page by page (`first`/`after` forward,
    /// `last`/`before` backward; at most 100 a page, 20 by default).
    #[graphql(complexity = "connection::page_cost(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<MessageFilterInput>,
    ) -> Result<MessageConnection> {
        let filter = filter.unwrap_or_default().parse().extend()?;
        let args = PageArgs::new(first, after, last, before);
        // Through the first-page cache: the page everybody reads first.
        let live = ctx.data_opt::<Live>();
        let store = &ctx.data::<Services>()?.store;
        connection::load_via(live, store, &filter, &args)
            .await
            .map(MessageConnection::from)
    }

    /// One message, by its global id or by the plain id REST answers with;
    /// null when there is none.
    async fn message(&self, ctx: &Context<'_>, id: ID) -> Result<Option<MessageObject>> {
        let id = match GlobalId::parse("id", &id) {
            Ok(GlobalId::Message(id)) => id,
            Ok(GlobalId::User(_)) => return Ok(None),
            Err(_) => MessageId::parse("id", &id).extend()?,
        };
        message_by_id(ctx, id).await
    }

    /// Any node by its global id; null when there is none.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        match GlobalId::parse("id", &id).extend()? {
            GlobalId::Message(id) => Ok(message_by_id(ctx, id).await?.map(Node::Message)),
            GlobalId::User(id) => Ok(user_by_id(ctx, id).await?.map(Node::User)),
        }
    }

    /// A user by name; null when nobody has posted under that name.
    async fn user(&self, ctx: &Context<'_>, name: String) -> Result<Option<UserObject>> {
        let name = UserName::parse("name", &name).extend()?;
        let store = &ctx.data::<Services>()?.store;
        Ok(store
            .user_by_name(name.as_str())
            .await
            .extend()?
            .map(UserObject))
    }

    /// Messages per aligned bucket (`aggregation` a Go duration of whole
    /// minutes, at least `1m`), for one hashtag or all; non-empty buckets
    /// only, oldest first. Costs one item per bucket the range covers.
    #[graphql(complexity = "cost::trend_cost(from_date, to_date, &aggregation, child_complexity)")]
    async fn trend(
        &self,
        ctx: &Context<'_>,
        hashtag: Option<String>,
        from_date: DateTime<Utc>,
        to_date: DateTime<Utc>,
        #[graphql(default = "1m")] aggregation: String,
    ) -> Result<Vec<TrendBucketObject>> {
        let query = trend_query(hashtag, from_date, to_date, &aggregation).extend()?;
        let buckets = ctx.data::<Services>()?.store.trend(&query).await.extend()?;
        Ok(buckets.into_iter().map(TrendBucketObject::from).collect())
    }

    /// The hashtags with the most messages in the last `window` (the
    /// current minute included), most used first.
    #[graphql(complexity = "cost::trending_cost(first, child_complexity)")]
    async fn trending_hashtags(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = "1h")] window: String,
        #[graphql(default = 10)] first: Option<i32>,
    ) -> Result<Vec<HashtagCountObject>> {
        let first = first.unwrap_or(10);
        let query = TrendingQuery::new(&window, first.into()).extend()?;
        let counts = ctx
            .data::<Services>()?
            .store
            .trending(&query)
            .await
            .extend()?;
        Ok(counts.into_iter().map(HashtagCountObject::from).collect())
    }
}

fn trend_query(
    hashtag: Option<String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    aggregation: &str,
) -> Result<TrendQuery, DomainError> {
    let hashtag = hashtag
        .as_deref()
        .map(|raw| Hashtag::parse("hashtag", raw))
        .transpose()?;
    let aggregation = Aggregation::parse("aggregation", aggregation)?;
    TrendQuery::new(hashtag, from, to, aggregation)
}

async fn message_by_id(ctx: &Context<'_>, id: MessageId) -> Result<Option<MessageObject>> {
    let loader = ctx.data::<DataLoader<MessageLoader>>()?;
    Ok(loader.load_one(id).await.extend()?.map(MessageObject::from))
}
