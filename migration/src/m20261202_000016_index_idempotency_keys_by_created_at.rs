//! The index the idempotency cleanup walks: the oldest records first, so
//! that deleting those past the retention reads only them, not the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use crate::building_blocks::{create_index, drop_index};
use crate::m20261202_000015_create_idempotency_keys::IdempotencyKeys;
use crate::server_kind::is_cockroach;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idempotency_keys_created_at";

/// On CockroachDB an index on a time sends every insert to the same range;
/// a hash-sharded one spreads them and still reads in order.
const COCKROACH_DDL: &str = "CREATE INDEX IF NOT EXISTS idempotency_keys_created_at \
                             ON idempotency_keys (created_at) USING HASH";

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
        create_index(
            manager,
            NAME,
            IdempotencyKeys::Table,
            [IdempotencyKeys::CreatedAt],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, NAME, IdempotencyKeys::Table).await
    }
}
