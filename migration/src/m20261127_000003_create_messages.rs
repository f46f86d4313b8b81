//! `messages`: keyed by a 16-byte, time-ordered id (a ULID made by the
//! application), so "newest first" is "id descending" and a date bound is an
//! id bound. Bytes compare the same way on every backend, unlike text whose
//! order depends on a collation.

use sea_orm_migration::prelude::*;

use crate::building_blocks::drop_table;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use crate::m20261127_000001_create_users::Users;
use crate::server_kind::is_cockroach;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Messages {
    Table,
    Id,
    UserId,
    Text,
    CreatedAt,
}

/// On CockroachDB a time-ordered primary key sends every insert to the same
/// range; a hash-sharded key spreads them while keeping ordered scans.
const COCKROACH_DDL: &str = "CREATE TABLE IF NOT EXISTS messages (
    id BYTES NOT NULL,
    user_id INT8 NOT NULL REFERENCES users (id),
    text STRING NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id) USING HASH
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if is_cockroach(db).await? {
            db.execute(Statement::from_string(
                db.get_database_backend(),
                COCKROACH_DDL,
            ))
            .await?;
            return Ok(());
        }
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Messages::Id)
                            .binary()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Messages::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Messages::Text).text().not_null())
                    .col(
                        ColumnDef::new(Messages::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, Messages::Table).await
    }
}
