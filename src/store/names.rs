//! Looking up the id behind a name: a user by name, a hashtag by its
//! normalized form. Listings and trends resolve their filters this way.

use sea_orm::{ConnectionTrait, DbErr};

use super::sql::Sql;
use crate::domain::{Hashtag, UserName};

/// The id of the user called `name`, if anyone has posted under it.
pub(crate) async fn user_id<C: ConnectionTrait>(
    db: &C,
    name: &UserName,
) -> Result<Option<i64>, DbErr> {
    id_by_name(db, "users", name.as_str()).await
}

/// The id of `hashtag`, if any message has carried it.
pub(crate) async fn hashtag_id<C: ConnectionTrait>(
    db: &C,
    hashtag: &Hashtag,
) -> Result<Option<i64>, DbErr> {
    id_by_name(db, "hashtags", hashtag.normalized()).await
}

/// `table` is one of the two above, never input.
async fn id_by_name<C: ConnectionTrait>(
    db: &C,
    table: &'static str,
    name: &str,
) -> Result<Option<i64>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!("SELECT id FROM {table} WHERE name = "))
        .bind(name);
    db.query_one(sql.build())
        .await?
        .map(|row| row.try_get::<i64>("", "id"))
        .transpose()
}
