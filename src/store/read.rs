//! Listings and single-message reads. Every listing is a keyset walk on an
//! index, newest (or oldest) first from the cursor, so page 10,000 costs what
//! page 1 costs: no OFFSET, no COUNT.
//!
//! | filter            | index walked                                      |
//! |-------------------|---------------------------------------------------|
//! | none / dates only | `messages` primary key (id)                       |
//! | user              | `messages_user_id_id` (user_id, id)               |
//! | hashtag           | `message_hashtags` primary key (hashtag_id, message_id) |
//! | hashtag and user  | `message_hashtags_hashtag_user_message`           |
//!
//! A date range is an id range on the same index. The page's hashtags then
//! come in one more statement, whatever the page size.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, Value};

use super::names;
use super::sql::Sql;
use crate::domain::listing::{Direction, MessageFilter, PageRequest};
use crate::domain::{Message, MessageId, User};

/// Ids of the rows a filter names, looked up before the walk. `None` for a
/// name that does not exist: then nothing can match.
struct ResolvedFilter {
    user_id: Option<i64>,
    hashtag_id: Option<i64>,
}

/// One page of `filter` as `page` asks, in the page's direction.
pub(crate) async fn list_messages<C: ConnectionTrait>(
    db: &C,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Vec<Message>, DbErr> {
    let Some(statement) = listing_statement(db, filter, page).await? else {
        return Ok(Vec::new());
    };
    let rows = db.query_all(statement).await?;
    let mut messages = rows
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    attach_hashtags(db, &mut messages).await?;
    Ok(messages)
}

/// The statement that reads one page, or `None` when the filter names a
/// user or hashtag that does not exist (then nothing can match).
pub(crate) async fn listing_statement<C: ConnectionTrait>(
    db: &C,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Option<Statement>, DbErr> {
    let Some(resolved) = resolve(db, filter).await? else {
        return Ok(None);
    };
    let mut sql = Sql::new(db.get_database_backend());
    // `keys` are the columns the id bounds apply to; the first is the walked
    // key. Walking a hashtag index, the bounds go on the link table's copy
    // (so the index order is used) *and* on the message id: PostgreSQL does
    // not carry an inequality across a join, and without it a merge join
    // would read messages from the newest down to the cursor.
    let keys: &[&str] = if let Some(hashtag_id) = resolved.hashtag_id {
        sql.push(
            "SELECT m.id, m.text, u.id AS user_id, u.name AS user_name \
             FROM message_hashtags k \
             JOIN messages m ON m.id = k.message_id \
             JOIN users u ON u.id = m.user_id WHERE k.hashtag_id = ",
        )
        .bind(hashtag_id);
        if let Some(user_id) = resolved.user_id {
            sql.push(" AND k.user_id = ").bind(user_id);
        }
        &["k.message_id", "m.id"]
    } else {
        sql.push(
            "SELECT m.id, m.text, u.id AS user_id, u.name AS user_name \
             FROM messages m JOIN users u ON u.id = m.user_id WHERE 1 = 1",
        );
        if let Some(user_id) = resolved.user_id {
            sql.push(" AND m.user_id = ").bind(user_id);
        }
        &["m.id"]
    };

    let (low, high) = filter.id_range();
    let order = match page.direction {
        Direction::Older => "DESC",
        Direction::Newer => "ASC",
    };
    let bounds = [
        (">=", low),
        ("<", high),
        ("<", page.older_than.map(|cursor| cursor.id)),
        (">", page.newer_than.map(|cursor| cursor.id)),
    ];
    for (operator, bound) in bounds {
        let Some(bound) = bound else { continue };
        for key in keys {
            sql.push(&format!(" AND {key} {operator} "))
                .bind(id_value(bound));
        }
    }
    sql.push(&format!(" ORDER BY {} {order} LIMIT ", keys[0]))
        .bind(page.limit as i64);
    Ok(Some(sql.build()))
}

/// Up to `limit` message ids above `after`, ascending: the primary key
/// alone, for relays that only need to learn what is new.
pub(crate) async fn ids_after<C: ConnectionTrait>(
    db: &C,
    after: MessageId,
    limit: u64,
) -> Result<Vec<MessageId>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id FROM messages WHERE id > ")
        .bind(id_value(after))
        .push(" ORDER BY id LIMIT ")
        .bind(limit as i64);
    db.query_all(sql.build())
        .await?
        .iter()
        .map(|row| decode_id(row.try_get::<Vec<u8>>("", "id")?))
        .collect()
}

/// The messages with these ids (those that exist), in no particular order.
pub(crate) async fn get_messages<C: ConnectionTrait>(
    db: &C,
    ids: &[MessageId],
) -> Result<Vec<Message>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT m.id, m.text, u.id AS user_id, u.name AS user_name \
         FROM messages m JOIN users u ON u.id = m.user_id WHERE m.id IN ",
    )
    .bind_list(ids.iter().map(|id| id_value(*id)));
    let rows = db.query_all(sql.build()).await?;
    let mut messages = rows
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    attach_hashtags(db, &mut messages).await?;
    Ok(messages)
}

/// Looks up the ids behind a filter's names; `None` when a named user or
/// hashtag does not exist.
async fn resolve<C: ConnectionTrait>(
    db: &C,
    filter: &MessageFilter,
) -> Result<Option<ResolvedFilter>, DbErr> {
    let mut resolved = ResolvedFilter {
        user_id: None,
        hashtag_id: None,
    };
    if let Some(user) = &filter.user {
        match names::user_id(db, user).await? {
            Some(id) => resolved.user_id = Some(id),
            None => return Ok(None),
        }
    }
    if let Some(hashtag) = &filter.hashtag {
        match names::hashtag_id(db, hashtag).await? {
            Some(id) => resolved.hashtag_id = Some(id),
            None => return Ok(None),
        }
    }
    Ok(Some(resolved))
}

/// Fills in the hashtags of `messages` with one statement, in written order.
async fn attach_hashtags<C: ConnectionTrait>(
    db: &C,
    messages: &mut [Message],
) -> Result<(), DbErr> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT l.message_id, h.display FROM message_hashtags l \
         JOIN hashtags h ON h.id = l.hashtag_id WHERE l.message_id IN ",
    )
    .bind_list(messages.iter().map(|m| id_value(m.id)))
    .push(" ORDER BY l.message_id, l.position");
    let rows = db.query_all(sql.build()).await?;
    let mut by_message: HashMap<MessageId, Vec<String>> = HashMap::new();
    for row in rows {
        let id = decode_id(row.try_get::<Vec<u8>>("", "message_id")?)?;
        by_message
            .entry(id)
            .or_default()
            .push(row.try_get("", "display")?);
    }
    for message in messages {
        message.hashtags = by_message.remove(&message.id).unwrap_or_default();
    }
    Ok(())
}

fn message_from_row(row: &QueryResult) -> Result<Message, DbErr> {
    let id = decode_id(row.try_get::<Vec<u8>>("", "id")?)?;
    Ok(Message {
        id,
        user: User {
            id: row.try_get("", "user_id")?,
            name: row.try_get("", "user_name")?,
        },
        text: row.try_get("", "text")?,
        hashtags: Vec::new(),
        // The id carries the creation time to the millisecond, which is the
        // precision the write path stores.
        created_at: id.created_at(),
    })
}

pub(crate) fn id_value(id: MessageId) -> Value {
    Value::from(id.to_bytes().to_vec())
}

fn decode_id(bytes: Vec<u8>) -> Result<MessageId, DbErr> {
    MessageId::from_bytes(&bytes)
        .ok_or_else(|| DbErr::Custom(format!("stored message id of {} bytes", bytes.len())))
}
