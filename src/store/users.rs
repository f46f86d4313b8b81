//! Reading users, by name or by id (many at once, for data loaders).

use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::sql::Sql;
use crate::domain::User;

pub(crate) async fn user_by_name<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<User>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id, name FROM users WHERE name = ")
        .bind(name);
    db.query_one(sql.build())
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
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id, name FROM users WHERE id IN ")
        .bind_list(ids.iter().copied());
    db.query_all(sql.build())
        .await?
        .iter()
        .map(user_from_row)
        .collect()
}

fn user_from_row(row: &QueryResult) -> Result<User, DbErr> {
    Ok(User {
        id: row.try_get("", "id")?,
        name: row.try_get("", "name")?,
    })
}
