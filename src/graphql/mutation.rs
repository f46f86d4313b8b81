//! `Mutation`: posting a message as the user the token names.

use async_graphql::{Context, InputObject, Object, Result, ResultExt};

use super::cost;
use super::types::MessageObject;
use super::{Services, Viewer};
use crate::domain::{Idempotency, NewMessage};

/// A message to post. `#tags` written in the text join `hashtags`.
#[derive(InputObject)]
#[graphql(name = "PostMessageInput")]
pub struct PostMessageInput {
    /// 1 to 500 characters after trimming (the server may set another limit).
    pub text: String,
    /// At most 10 distinct tags, counting those in the text.
    pub hashtags: Option<Vec<String>>,
    /// A key of the client's choosing (1 to 255 visible ASCII characters)
    /// that makes retrying this post safe: the same key with the same `text`
    /// and `hashtags` from the same user returns the first post's message
    /// and writes nothing (within the retention, 24 hours by default); the
    /// same key with another body is refused with `IDEMPOTENCY_KEY_REUSED`.
    pub idempotency_key: Option<String>,
}

pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Posts a message as the user of the bearer token (the `Authorization`
    /// header over HTTP, the `connection_init` payload over WebSocket).
    /// Costs as much as a page of a hundred messages.
    #[graphql(complexity = "cost::write_cost(child_complexity)")]
    async fn post_message(
        &self,
        ctx: &Context<'_>,
        input: PostMessageInput,
    ) -> Result<MessageObject> {
        let author = ctx.data::<Viewer>()?.poster().extend()?;
        let services = ctx.data::<Services>()?;
        let hashtags = input.hashtags.unwrap_or_default();
        let idempotency = input
            .idempotency_key
            .map(|key| Idempotency::parse(&key, &input.text, &hashtags))
            .transpose()
            .extend()?;
        let post = NewMessage::parse(author, &input.text, &hashtags, services.max_text_chars)
            .extend()?
            .with_idempotency(idempotency);
        let posted = services.store.post_once(post).await.extend()?;
        let (message, _replayed) = posted.into_message().extend()?;
        Ok(MessageObject::from(message))
    }
}
