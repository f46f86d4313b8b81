//! `Subscription`: new messages as they are posted (resumable with
//! `after`), and the live count of the current trend bucket.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, Result, ResultExt, Subscription};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use super::errors::{coded, LAGGED, REPLAY_LIMIT};
use super::global_id::GlobalId;
use super::query::MessageFilterInput;
use super::types::{MessageObject, TrendBucketObject};
use super::ws::{Carried, EncodeSource, Outlet};
use super::Services;
use crate::domain::{Aggregation, Cursor, DomainError, Hashtag, MessageId};
use crate::live::{message_feed, trend_feed, FeedEvent, Live};
use crate::store::StoreError;

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Messages that pass `filter`, as they are posted. With `after` (a
    /// cursor from a connection, REST's `next_cursor` or a lagged error, or
    /// the id of the last message received),
    /// first everything posted after it, oldest first, then live: no gap,
    /// no duplicate. A subscriber that falls behind gets one `LAGGED` error
    /// whose `extensions.cursor` resumes it, and the subscription ends.
    async fn message_posted(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageFilterInput>,
        after: Option<String>,
    ) -> Result<BoxStream<'static, Result<MessageObject>>> {
        // The execution that builds a selection's shared payloads (see
        // `ws::outlet`): the messages it is given, nothing else.
        if let Some(source) = ctx.data_opt::<EncodeSource>() {
            return Ok(source
                .messages()
                .map(|message| Ok(MessageObject(message)))
                .boxed());
        }
        let filter = filter.unwrap_or_default().parse().extend()?;
        let after = after.as_deref().map(parse_after).transpose().extend()?;
        let store = ctx.data::<Services>()?.store.clone();
        let live = ctx.data::<Live>()?;
        let feed = message_feed(
            store,
            live.hub().clone(),
            filter,
            after,
            live.order(),
            live.feed_limits(),
        );
        // On a WebSocket the adapter sends the messages itself, with the
        // payload shared by every subscriber of the same selection; only
        // what is this subscriber's own goes through async-graphql.
        if let Some(outlet) = ctx.data_opt::<Arc<Outlet>>() {
            let events = feed.map(|event| match event {
                Ok(FeedEvent::Message(message)) => Carried::Message(message),
                other => Carried::Other(own_event(other)),
            });
            return Ok(outlet.clone().attach(events.boxed()).boxed());
        }
        Ok(feed.map(own_event).boxed())
    }

    /// The current bucket of a trend (`aggregation` as for `trend`), each
    /// time its count changes and when a new bucket begins (preceded by the
    /// ended bucket's last count, if that changed since it was sent); at
    /// most four updates a second.
    async fn trend_updated(
        &self,
        ctx: &Context<'_>,
        hashtag: Option<String>,
        #[graphql(default = "1m")] aggregation: String,
    ) -> Result<impl Stream<Item = Result<TrendBucketObject>>> {
        let hashtag = hashtag
            .as_deref()
            .map(|raw| Hashtag::parse("hashtag", raw))
            .transpose()
            .extend()?;
        let aggregation = Aggregation::parse("aggregation", &aggregation).extend()?;
        let store = ctx.data::<Services>()?.store.clone();
        let hub = ctx.data::<Live>()?.hub().clone();
        Ok(trend_feed(store, hub, hashtag, aggregation)
            .map(|bucket| bucket.map(TrendBucketObject::from).extend()))
    }
}

/// A feed event as the subscription's item: a message, or the error that
/// ends the subscription.
fn own_event(event: Result<FeedEvent, StoreError>) -> Result<MessageObject> {
    match event {
        Ok(FeedEvent::Message(message)) => Ok(MessageObject(message)),
        Ok(FeedEvent::Lagged { resume_after }) => Err(lagged(resume_after)),
        Ok(FeedEvent::ReplayLimit { resume_after, max }) => Err(replay_limit(resume_after, max)),
        Err(error) => Err(error.extend()),
    }
}

/// `after` takes a cursor or the id of the last message received (global
/// or plain), whichever the client kept.
fn parse_after(raw: &str) -> Result<Cursor, DomainError> {
    if let Ok(cursor) = Cursor::parse("after", raw) {
        return Ok(cursor);
    }
    if let Ok(GlobalId::Message(id)) = GlobalId::parse("after", raw) {
        return Ok(Cursor::new(id));
    }
    MessageId::parse("after", raw)
        .map(Cursor::new)
        .map_err(|_| DomainError::invalid("after", "is not a cursor or a message id"))
}

fn replay_limit(resume_after: Cursor, max: usize) -> async_graphql::Error {
    let cursor = resume_after.encode();
    coded(
        format!("more than {max} messages were posted after `after`: list the rest with messages(filter: {{fromDate}}), then subscribe again after the newest"),
        REPLAY_LIMIT,
    )
    .extend_with(|_, extensions| extensions.set("cursor", cursor.as_str()))
}

fn lagged(resume_after: Cursor) -> async_graphql::Error {
    let cursor = resume_after.encode();
    coded(
        format!("the subscriber fell behind and was disconnected; subscribe again with after: \"{cursor}\""),
        LAGGED,
    )
    .extend_with(|_, extensions| extensions.set("cursor", cursor.as_str()))
}
