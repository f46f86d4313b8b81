//! Data loaders: lookups by key made in the same tick are batched into one
//! statement, so a query that names twenty messages by id costs what one
//! costs.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use crate::domain::{Message, MessageId, User};
use crate::store::{Store, StoreError};

pub struct MessageLoader(pub Store);

impl Loader<MessageId> for MessageLoader {
    type Value = Message;
    type Error = StoreError;

    async fn load(&self, keys: &[MessageId]) -> Result<HashMap<MessageId, Message>, StoreError> {
        let messages = self.0.get_many(keys).await?;
        Ok(messages.into_iter().map(|m| (m.id, m)).collect())
    }
}

pub struct UserLoader(pub Store);

impl Loader<i64> for UserLoader {
    type Value = User;
    type Error = StoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, User>, StoreError> {
        let users = self.0.users_by_id(keys).await?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}
