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
//! A date range is an id range on the same index. A page is one statement:
//! the names in the filter come from the [`NameCache`] (a statement only the
//! first time a name is seen), and each message's hashtags come with it, as
//! an aggregate computed for the rows the walk returns (see
//! [`HASHTAGS_POSTGRES`]).

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

use super::names::NameCache;
use super::sql::Sql;
use crate::domain::listing::{Direction, MessageFilter, PageRequest};
use crate::domain::{Message, MessageId, User};

/// The columns every message read returns. `hashtags` is one scalar
/// subquery per returned row, on the `message_hashtags_message` index: in
/// PostgreSQL it runs for the rows the walk hands to `LIMIT`, not for every
/// matching row, so the page stays "LIMIT over index scans".
///
/// Each link is aggregated as JSON `[position, display]`, so that no
/// character of a tag can be mistaken for a separator, and without
/// `ORDER BY` in the aggregate: the order written is restored in Rust from
/// the positions. That keeps a sort out of the plan on every PostgreSQL
/// version (from 16, an ordered aggregate may be planned with a Sort node
/// below it), and the same text serves CockroachDB, which has `json_agg` and
/// `json_build_array` as PostgreSQL does.
const HASHTAGS_POSTGRES: &str =
    "(SELECT CAST(json_agg(json_build_array(l.position, h.display)) AS TEXT) \
     FROM message_hashtags l JOIN hashtags h ON h.id = l.hashtag_id \
     WHERE l.message_id = m.id) AS hashtags";

/// SQLite's form of [`HASHTAGS_POSTGRES`] (its JSON functions are built in).
const HASHTAGS_SQLITE: &str = "(SELECT json_group_array(json_array(l.position, h.display)) \
     FROM message_hashtags l JOIN hashtags h ON h.id = l.hashtag_id \
     WHERE l.message_id = m.id) AS hashtags";

/// The select list of a message read, up to `FROM`.
fn select_messages(sql: &mut Sql, backend: DbBackend) {
    let hashtags = match backend {
        DbBackend::Sqlite => HASHTAGS_SQLITE,
        _ => HASHTAGS_POSTGRES,
    };
    sql.push("SELECT m.id, m.text, u.id AS user_id, u.name AS user_name, ")
        .push(hashtags);
}

/// Ids of the rows a filter names, looked up before the walk. `None` for a
/// name that does not exist: then nothing can match.
struct ResolvedFilter {
    user_id: Option<i64>,
    hashtag_id: Option<i64>,
}

/// One page of `filter` as `page` asks, in the page's direction, with each
/// message's user and hashtags: one statement (two the first time a name in
/// the filter is looked up).
pub(crate) async fn list_messages<C: ConnectionTrait>(
    db: &C,
    names: &NameCache,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Vec<Message>, DbErr> {
    let Some(statement) = listing_statement(db, names, filter, page).await? else {
        return Ok(Vec::new());
    };
    messages_from_rows(&db.query_all(statement).await?)
}

/// The statement that reads one page, or `None` when the filter names a
/// user or hashtag that does not exist (then nothing can match).
pub(crate) async fn listing_statement<C: ConnectionTrait>(
    db: &C,
    names: &NameCache,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Option<Statement>, DbErr> {
    let Some(resolved) = resolve(db, names, filter).await? else {
        return Ok(None);
    };
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    select_messages(&mut sql, backend);
    // `keys` are the columns the id bounds apply to; the first is the walked
    // key. Walking a hashtag index, the bounds go on the link table's copy
    // (so the index order is used) *and* on the message id: PostgreSQL does
    // not carry an inequality across a join, and without it a merge join
    // would read messages from the newest down to the cursor.
    let keys: &[&str] = if let Some(hashtag_id) = resolved.hashtag_id {
        sql.push(
            " FROM message_hashtags k \
             JOIN messages m ON m.id = k.message_id \
             JOIN users u ON u.id = m.user_id WHERE k.hashtag_id = ",
        )
        .bind(hashtag_id);
        if let Some(user_id) = resolved.user_id {
            sql.push(" AND k.user_id = ").bind(user_id);
        }
        &["k.message_id", "m.id"]
    } else {
        sql.push(" FROM messages m JOIN users u ON u.id = m.user_id WHERE 1 = 1");
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

/// The messages with these ids (those that exist), in no particular order,
/// with their users and hashtags: one statement.
pub(crate) async fn get_messages<C: ConnectionTrait>(
    db: &C,
    ids: &[MessageId],
) -> Result<Vec<Message>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    select_messages(&mut sql, backend);
    sql.push(" FROM messages m JOIN users u ON u.id = m.user_id WHERE m.id IN ")
        .bind_list(ids.iter().map(|id| id_value(*id)));
    messages_from_rows(&db.query_all(sql.build()).await?)
}

/// Looks up the ids behind a filter's names; `None` when a named user or
/// hashtag does not exist.
async fn resolve<C: ConnectionTrait>(
    db: &C,
    names: &NameCache,
    filter: &MessageFilter,
) -> Result<Option<ResolvedFilter>, DbErr> {
    let mut resolved = ResolvedFilter {
        user_id: None,
        hashtag_id: None,
    };
    if let Some(user) = &filter.user {
        match names.user_id(db, user).await? {
            Some(id) => resolved.user_id = Some(id),
            None => return Ok(None),
        }
    }
    if let Some(hashtag) = &filter.hashtag {
        match names.hashtag_id(db, hashtag).await? {
            Some(id) => resolved.hashtag_id = Some(id),
            None => return Ok(None),
        }
    }
    Ok(Some(resolved))
}

fn messages_from_rows(rows: &[QueryResult]) -> Result<Vec<Message>, DbErr> {
    rows.iter().map(message_from_row).collect()
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
        hashtags: decode_hashtags(row.try_get::<Option<String>>("", "hashtags")?)?,
        // The id carries the creation time to the millisecond, which is the
        // precision the write path stores.
        created_at: id.created_at(),
    })
}

/// A message's hashtags from the aggregate of its links (`NULL` when it has
/// none; `[]` where SQLite aggregates no rows), in the order written.
fn decode_hashtags(aggregate: Option<String>) -> Result<Vec<String>, DbErr> {
    let Some(aggregate) = aggregate else {
        return Ok(Vec::new());
    };
    let mut links: Vec<(i64, String)> = serde_json::from_str(&aggregate)
        .map_err(|error| DbErr::Custom(format!("stored hashtags of a message: {error}")))?;
    links.sort_unstable_by_key(|(position, _)| *position);
    Ok(links.into_iter().map(|(_, display)| display).collect())
}

pub(crate) fn id_value(id: MessageId) -> Value {
    Value::from(id.to_bytes().to_vec())
}

fn decode_id(bytes: Vec<u8>) -> Result<MessageId, DbErr> {
    MessageId::from_bytes(&bytes)
        .ok_or_else(|| DbErr::Custom(format!("stored message id of {} bytes", bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_come_back_in_the_order_written() {
        let aggregate = r#"[[2, "c"], [0, "Rust"], [1, "b,\" x"]]"#;
        assert_eq!(
            decode_hashtags(Some(aggregate.to_owned())).unwrap(),
            ["Rust", "b,\" x", "c"]
        );
        assert!(decode_hashtags(None).unwrap().is_empty());
        assert!(decode_hashtags(Some("[]".to_owned())).unwrap().is_empty());
        assert!(decode_hashtags(Some("[[0]]".to_owned())).is_err());
    }
}
