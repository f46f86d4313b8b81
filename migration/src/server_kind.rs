//! Which database a migration runs on, where the SQL must differ.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

/// True when the PostgreSQL-protocol server is CockroachDB (asked once per
/// migration through `SELECT version()`, which names it).
pub async fn is_cockroach<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT version()",
        ))
        .await?;
    let version: String = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => String::new(),
    };
    Ok(version.contains("CockroachDB"))
}
