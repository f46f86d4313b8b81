//! Reading users, by name or by id (many at once, for data loaders).

use sea_orm::sea_query::{ArrayType, Expr, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

use super::entity::user;
use super::query::is_one_of;
use crate::domain::User;

/// `SELECT id, name FROM users`, to which a condition is added.
fn select_users() -> SelectStatement {
    Query::select()
        .columns([user::Column::Id, user::Column::Name])
        .from(user::Entity)
        .to_owned()
}

pub(crate) async fn user_by_name<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<User>, DbErr> {
    let select = select_users()
        .and_where(Expr::col(user::Column::Name).eq(name))
        .to_owned();
    db.query_one(db.get_database_backend().build(&select))
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

/// The users with these ids (those that exist), in no particular order.
pub(crate) async fn users_by_id<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<Vec<User>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    db.query_all(users_by_id_statement(db.get_database_backend(), ids))
        .await?
        .iter()
        .map(user_from_row)
        .collect()
}

/// The statement of [`users_by_id`]: one text on PostgreSQL whatever the
/// number of ids (one bound array), an `IN` list on SQLite.
fn users_by_id_statement(backend: DbBackend, ids: &[i64]) -> Statement {
    let select = select_users()
        .and_where(is_one_of(
            backend,
            user::Column::Id,
            ArrayType::BigInt,
            ids.iter().copied().map(Value::from).collect(),
        ))
        .to_owned();
    backend.build(&select)
}

fn user_from_row(row: &QueryResult) -> Result<User, DbErr> {
    Ok(User {
        id: row.try_get("", "id")?,
        name: row.try_get("", "name")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data loaders' lookup is one prepared statement on PostgreSQL,
    /// whatever the number of users a page names.
    #[test]
    fn a_lookup_by_ids_has_one_text_on_postgres() {
        let fifty: Vec<i64> = (1..=50).collect();
        let one = users_by_id_statement(DbBackend::Postgres, &[1]);
        assert_eq!(
            one.sql,
            r#"SELECT "id", "name" FROM "users" WHERE "id" = ANY(CAST($1 AS INT8[]))"#
        );
        assert_eq!(
            users_by_id_statement(DbBackend::Postgres, &fifty).sql,
            one.sql
        );
        assert_ne!(
            users_by_id_statement(DbBackend::Sqlite, &fifty).sql,
            users_by_id_statement(DbBackend::Sqlite, &[1]).sql,
            "SQLite has no arrays: one IN list per count"
        );
    }
}
