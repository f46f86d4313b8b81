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
//! [`hashtags_of_each_row`]). Statements are built with sea-query on the
//! entities' idents.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::sea_query::{
    Alias, ArrayType, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

use super::entity::{hashtag, message, message_hashtag, user};
use super::names::NameCache;
use super::query::is_one_of;
use crate::domain::listing::{Direction, MessageFilter, PageRequest};
use crate::domain::{Message, MessageId, User};

/// The aliases of a message read: the message, its author, the link the
/// walk follows (hashtag listings), and a link and a hashtag of the
/// per-row aggregate.
fn m() -> Alias {
    Alias::new("m")
}
fn u() -> Alias {
    Alias::new("u")
}
fn k() -> Alias {
    Alias::new("k")
}
fn l() -> Alias {
    Alias::new("l")
}
fn h() -> Alias {
    Alias::new("h")
}

/// A message's hashtags, as one scalar subquery per returned row on the
/// `message_hashtags_message` index: in PostgreSQL it runs for the rows
/// the walk hands to `LIMIT`, not for every matching row, so the page stays
/// "LIMIT over index scans".
///
/// Each link is aggregated as JSON `[position, display]`, so that no
/// character of a tag can be mistaken for a separator, and without
/// `ORDER BY` in the aggregate: the order written is restored in Rust from
/// the positions. That keeps a sort out of the plan on every PostgreSQL
/// version (from 16, an ordered aggregate may be planned with a Sort node
/// below it). sea-query has no JSON aggregates, so they are called by name:
/// `json_agg(json_build_array(…))` cast to text on PostgreSQL (CockroachDB
/// has both functions too), `json_group_array(json_array(…))` on SQLite
/// (built in).
fn hashtags_of_each_row(backend: DbBackend) -> SimpleExpr {
    let link: [SimpleExpr; 2] = [
        Expr::col((l(), message_hashtag::Column::Position)).into(),
        Expr::col((h(), hashtag::Column::Display)).into(),
    ];
    let aggregate: SimpleExpr = match backend {
        DbBackend::Sqlite => Func::cust(Alias::new("json_group_array"))
            .arg(Func::cust(Alias::new("json_array")).args(link))
            .into(),
        _ => Func::cust(Alias::new("json_agg"))
            .arg(Func::cust(Alias::new("json_build_array")).args(link))
            .cast_as(Alias::new("TEXT")),
    };
    let links = Query::select()
        .expr(aggregate)
        .from_as(message_hashtag::Entity, l())
        .join_as(
            JoinType::InnerJoin,
            hashtag::Entity,
            h(),
            Expr::col((h(), hashtag::Column::Id)).equals((l(), message_hashtag::Column::HashtagId)),
        )
        .and_where(
            Expr::col((l(), message_hashtag::Column::MessageId)).equals((m(), message::Column::Id)),
        )
        .to_owned();
    SimpleExpr::SubQuery(None, Box::new(links.into_sub_query_statement()))
}

/// The select list of a message read (every column [`message_from_row`]
/// reads), without its `FROM`.
fn select_messages(backend: DbBackend) -> SelectStatement {
    Query::select()
        .column((m(), message::Column::Id))
        .column((m(), message::Column::Text))
        .expr_as(Expr::col((u(), user::Column::Id)), Alias::new("user_id"))
        .expr_as(
            Expr::col((u(), user::Column::Name)),
            Alias::new("user_name"),
        )
        .expr_as(hashtags_of_each_row(backend), Alias::new("hashtags"))
        .to_owned()
}

/// `messages m JOIN users u`, after the select list.
fn join_authors(select: &mut SelectStatement) {
    select.join_as(
        JoinType::InnerJoin,
        user::Entity,
        u(),
        Expr::col((u(), user::Column::Id)).equals((m(), message::Column::UserId)),
    );
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
    Ok(Some(backend.build(&walk(backend, &resolved, filter, page))))
}

/// The keyset walk of one page, on the index the filter calls for (see the
/// table at the top).
fn walk(
    backend: DbBackend,
    resolved: &ResolvedFilter,
    filter: &MessageFilter,
    page: &PageRequest,
) -> SelectStatement {
    let mut select = select_messages(backend);
    // `keys` are the columns the id bounds apply to; the first is the walked
    // key. Walking a hashtag index, the bounds go on the link table's copy
    // (so the index order is used) *and* on the message id: PostgreSQL does
    // not carry an inequality across a join, and without it a merge join
    // would read messages from the newest down to the cursor.
    let keys: Vec<Expr> = if let Some(hashtag_id) = resolved.hashtag_id {
        select.from_as(message_hashtag::Entity, k()).join_as(
            JoinType::InnerJoin,
            message::Entity,
            m(),
            Expr::col((m(), message::Column::Id)).equals((k(), message_hashtag::Column::MessageId)),
        );
        join_authors(&mut select);
        select.and_where(Expr::col((k(), message_hashtag::Column::HashtagId)).eq(hashtag_id));
        if let Some(user_id) = resolved.user_id {
            select.and_where(Expr::col((k(), message_hashtag::Column::UserId)).eq(user_id));
        }
        vec![
            Expr::col((k(), message_hashtag::Column::MessageId)),
            Expr::col((m(), message::Column::Id)),
        ]
    } else {
        select.from_as(message::Entity, m());
        join_authors(&mut select);
        if let Some(user_id) = resolved.user_id {
            select.and_where(Expr::col((m(), message::Column::UserId)).eq(user_id));
        }
        vec![Expr::col((m(), message::Column::Id))]
    };

    let (low, high) = filter.id_range();
    type Bound = fn(Expr, Value) -> SimpleExpr;
    let bounds: [(Bound, Option<MessageId>); 4] = [
        (|key, id| key.gte(id), low),
        (|key, id| key.lt(id), high),
        (
            |key, id| key.lt(id),
            page.older_than.map(|cursor| cursor.id),
        ),
        (
            |key, id| key.gt(id),
            page.newer_than.map(|cursor| cursor.id),
        ),
    ];
    for (bound, id) in bounds {
        let Some(id) = id else { continue };
        for key in &keys {
            select.and_where(bound(key.clone(), id_value(id)));
        }
    }
    let order = match page.direction {
        Direction::Older => Order::Desc,
        Direction::Newer => Order::Asc,
    };
    select
        .order_by_expr(keys[0].clone().into(), order)
        .limit(page.limit);
    select
}

/// Up to `limit` message ids above `after`, ascending: the primary key
/// alone, for relays that only need to learn what is new.
pub(crate) async fn ids_after<C: ConnectionTrait>(
    db: &C,
    after: MessageId,
    limit: u64,
) -> Result<Vec<MessageId>, DbErr> {
    let select = Query::select()
        .column(message::Column::Id)
        .from(message::Entity)
        .and_where(Expr::col(message::Column::Id).gt(id_value(after)))
        .order_by(message::Column::Id, Order::Asc)
        .limit(limit)
        .to_owned();
    db.query_all(db.get_database_backend().build(&select))
        .await?
        .iter()
        .map(|row| decode_id(row.try_get::<Vec<u8>>("", "id")?))
        .collect()
}

/// The database's current time: what relays measure "recent" by, since
/// the processes' own clocks may disagree with each other. PostgreSQL and
/// CockroachDB have `CURRENT_TIMESTAMP` (a timestamptz); SQLite's has only
/// whole seconds, so there `strftime` with `%f` (seconds with
/// milliseconds), read back as text in SQLite's own UTC format.
pub(crate) async fn database_now<C: ConnectionTrait>(db: &C) -> Result<DateTime<Utc>, DbErr> {
    let backend = db.get_database_backend();
    let now = match backend {
        DbBackend::Sqlite => Expr::expr(
            Func::cust(Alias::new("strftime"))
                .arg(Expr::val("%Y-%m-%d %H:%M:%f"))
                .arg(Expr::val("now")),
        ),
        _ => Expr::current_timestamp(),
    };
    let select = Query::select().expr_as(now, Alias::new("now")).to_owned();
    let row = db
        .query_one(backend.build(&select))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the database's time".into()))?;
    match backend {
        DbBackend::Sqlite => {
            let text: String = row.try_get("", "now")?;
            NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")
                .map(|naive| naive.and_utc())
                .map_err(|error| DbErr::Type(format!("the database's time {text:?}: {error}")))
        }
        _ => row.try_get("", "now"),
    }
}

/// The messages with these ids (those that exist), in no particular order,
/// with their users and hashtags: one statement, whose text on PostgreSQL
/// is the same for any number of ids (one bound array).
pub(crate) async fn get_messages<C: ConnectionTrait>(
    db: &C,
    ids: &[MessageId],
) -> Result<Vec<Message>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    messages_from_rows(
        &db.query_all(messages_by_id(db.get_database_backend(), ids))
            .await?,
    )
}

/// The statement of [`get_messages`].
pub(crate) fn messages_by_id(backend: DbBackend, ids: &[MessageId]) -> Statement {
    let mut select = select_messages(backend);
    select.from_as(message::Entity, m());
    join_authors(&mut select);
    select.and_where(is_one_of(
        backend,
        (m(), message::Column::Id),
        ArrayType::Bytes,
        ids.iter().map(|id| id_value(*id)).collect(),
    ));
    backend.build(&select)
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

    fn ids(n: u128) -> Vec<MessageId> {
        (1..=n)
            .map(|n| MessageId::from_bytes(&n.to_be_bytes()).unwrap())
            .collect()
    }

    /// The relay's and the writer's lookup by ids is one prepared
    /// statement on PostgreSQL, whatever the number of ids.
    #[test]
    fn a_lookup_by_ids_has_one_text_on_postgres() {
        let one = messages_by_id(DbBackend::Postgres, &ids(1));
        let fifty = messages_by_id(DbBackend::Postgres, &ids(50));
        assert_eq!(fifty.sql, one.sql);
        assert!(
            one.sql
                .ends_with(r#"WHERE "m"."id" = ANY(CAST($1 AS BYTEA[]))"#),
            "{}",
            one.sql
        );
        assert_eq!(fifty.values.unwrap().0.len(), 1, "one bound array");
        // SQLite has no arrays: an IN list, one text per count.
        let sqlite = messages_by_id(DbBackend::Sqlite, &ids(2));
        assert!(
            sqlite.sql.ends_with(r#"WHERE "m"."id" IN (?, ?)"#),
            "{}",
            sqlite.sql
        );
    }
}
