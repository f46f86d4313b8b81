//! The authors of restored messages: found by name, or created, with the
//! id they had where that id and the name are both free here, so that a
//! database restored into an empty one shows the same user ids.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ArrayType, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::entity::user;
use super::query::{insert_rows, is_one_of};
use super::transfer_import::Restored;

/// Each author's id, creating those missing: first with the id they had
/// (skipped when the id or the name is taken), then, for any still
/// missing, with a new one.
pub(super) async fn ensure_users<C: ConnectionTrait>(
    db: &C,
    new: &[&Restored],
) -> Result<HashMap<String, i64>, DbErr> {
    let backend = db.get_database_backend();
    // Each author once, sorted (rows locked in one order), with the id and
    // the time of its first message here.
    let mut authors: BTreeMap<&str, (Option<i64>, DateTime<Utc>)> = BTreeMap::new();
    for m in new {
        authors
            .entry(m.author.as_str())
            .or_insert((m.user_id, m.id.created_at()));
    }
    let mut ids = user_ids(db, authors.keys().copied()).await?;
    let with_ids: Vec<[Value; 3]> = authors
        .iter()
        .filter(|(name, _)| !ids.contains_key(**name))
        .filter_map(|(name, (id, at))| {
            id.map(|id| [Value::from(id), Value::from(*name), Value::from(*at)])
        })
        .collect();
    if !with_ids.is_empty() {
        let mut insert = insert_rows(
            backend,
            user::Entity,
            [
                (user::Column::Id, ArrayType::BigInt),
                (user::Column::Name, ArrayType::String),
                (user::Column::CreatedAt, ArrayType::ChronoDateTimeUtc),
            ],
            with_ids,
        );
        // No target: a taken name or a taken id both leave the row out.
        insert.on_conflict(OnConflict::new().do_nothing().to_owned());
        db.execute(backend.build(&insert)).await?;
        if backend == DbBackend::Postgres {
            db.execute(advance_user_ids(backend)).await?;
        }
        ids = user_ids(db, authors.keys().copied()).await?;
    }
    let rest: Vec<[Value; 2]> = authors
        .iter()
        .filter(|(name, _)| !ids.contains_key(**name))
        .map(|(name, (_, at))| [Value::from(*name), Value::from(*at)])
        .collect();
    if !rest.is_empty() {
        let mut insert = insert_rows(
            backend,
            user::Entity,
            [
                (user::Column::Name, ArrayType::String),
                (user::Column::CreatedAt, ArrayType::ChronoDateTimeUtc),
            ],
            rest,
        );
        insert.on_conflict(
            OnConflict::column(user::Column::Name)
                .do_nothing()
                .to_owned(),
        );
        db.execute(backend.build(&insert)).await?;
        ids = user_ids(db, authors.keys().copied()).await?;
    }
    if let Some(missing) = authors.keys().find(|name| !ids.contains_key(**name)) {
        return Err(DbErr::Custom(format!("user {missing:?} was not created")));
    }
    Ok(ids)
}

/// Moves PostgreSQL's id sequence of `users` past the largest id, after
/// rows were written with ids of their own, so that the next new user does
/// not collide with them; never moves it back (`GREATEST` with `nextval`).
/// Raw SQL: sea-query has no words for sequences. On CockroachDB the ids
/// come from `unique_rowid()`, there is no sequence, and the `WHERE` makes
/// this do nothing.
fn advance_user_ids(backend: DbBackend) -> Statement {
    Statement::from_string(
        backend,
        "SELECT setval(CAST(t.seq AS REGCLASS), GREATEST(t.top, nextval(CAST(t.seq AS REGCLASS)))) \
         FROM (SELECT pg_get_serial_sequence('users', 'id') AS seq, \
         (SELECT MAX(id) FROM users) AS top) AS t \
         WHERE t.seq IS NOT NULL AND t.top IS NOT NULL",
    )
}

/// The ids of those `names` that exist.
async fn user_ids<'a, C: ConnectionTrait>(
    db: &C,
    names: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, i64>, DbErr> {
    let backend = db.get_database_backend();
    let select = Query::select()
        .columns([user::Column::Id, user::Column::Name])
        .from(user::Entity)
        .and_where(is_one_of(
            backend,
            user::Column::Name,
            ArrayType::String,
            names.map(Value::from).collect(),
        ))
        .to_owned();
    let mut ids = HashMap::new();
    for row in db.query_all(backend.build(&select)).await? {
        ids.insert(row.try_get("", "name")?, row.try_get("", "id")?);
    }
    Ok(ids)
}
