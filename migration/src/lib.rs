//! Dunder's database schema as sea-orm-migration migrations.
//!
//! Each migration holds exactly one DDL statement (or, for data, a series of
//! DML transactions) and is written to be re-runnable (`IF NOT EXISTS`): CockroachDB can commit DDL that shares a
//! transaction with other statements partially, so [`run_pending`] applies
//! migrations one statement at a time, outside any transaction, and records
//! each one right after it lands. A crash between the two is harmless: the
//! next run repeats an idempotent statement.

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

mod building_blocks;
mod m20261127_000001_create_users;
mod m20261127_000002_create_hashtags;
mod m20261127_000003_create_messages;
mod m20261127_000004_index_messages_by_user;
mod m20261127_000005_create_message_hashtags;
mod m20261127_000006_index_message_hashtags_by_user;
mod m20261127_000007_index_message_hashtags_by_message;
mod m20261127_000008_create_trend_counts;
mod m20261127_000009_index_trend_counts_by_minute;
mod m20261201_000010_roll_trend_counts_up_by_hour;
mod m20261201_000011_roll_trend_counts_up_by_day;
mod m20261201_000012_index_trend_counts_with_count;
mod m20261201_000013_create_live_marks;
mod m20261202_000014_normalize_names;
mod m20261202_000015_create_idempotency_keys;
mod m20261202_000016_index_idempotency_keys_by_created_at;
mod server_kind;

pub use m20261201_000010_roll_trend_counts_up_by_hour::HOUR_ROWS as TREND_HOUR_ROWS;
pub use m20261201_000011_roll_trend_counts_up_by_day::DAY_ROWS as TREND_DAY_ROWS;
pub use server_kind::is_cockroach;

/// All of Dunder's migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_users::Migration),
            Box::new(m20261127_000002_create_hashtags::Migration),
            Box::new(m20261127_000003_create_messages::Migration),
            Box::new(m20261127_000004_index_messages_by_user::Migration),
            Box::new(m20261127_000005_create_message_hashtags::Migration),
            Box::new(m20261127_000006_index_message_hashtags_by_user::Migration),
            Box::new(m20261127_000007_index_message_hashtags_by_message::Migration),
            Box::new(m20261127_000008_create_trend_counts::Migration),
            Box::new(m20261127_000009_index_trend_counts_by_minute::Migration),
            Box::new(m20261201_000010_roll_trend_counts_up_by_hour::Migration),
            Box::new(m20261201_000011_roll_trend_counts_up_by_day::Migration),
            Box::new(m20261201_000012_index_trend_counts_with_count::Migration),
            Box::new(m20261201_000013_create_live_marks::Migration),
            Box::new(m20261202_000014_normalize_names::Migration),
            Box::new(m20261202_000015_create_idempotency_keys::Migration),
            Box::new(m20261202_000016_index_idempotency_keys_by_created_at::Migration),
        ]
    }
}

/// Applies every pending migration, each as its own autocommitted statement,
/// and returns the names of those applied.
///
/// sea-orm-migration's own `up` wraps all pending migrations in one
/// transaction on PostgreSQL, which is what CockroachDB must not get; this
/// runner keeps its bookkeeping table (`seaql_migrations`) so the migration
/// crate's CLI still sees the same state.
pub async fn run_pending<C>(db: &C) -> Result<Vec<String>, DbErr>
where
    C: ConnectionTrait,
    for<'c> &'c C: IntoSchemaManagerConnection<'c>,
{
    Migrator::install(db).await?;
    let applied: Vec<String> = Migrator::get_applied_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let manager = SchemaManager::new(db);
    let mut newly_applied = Vec::new();
    for migration in Migrator::migrations() {
        let name = migration.name().to_owned();
        if applied.contains(&name) {
            continue;
        }
        migration.up(&manager).await?;
        record_applied(db, &name).await?;
        newly_applied.push(name);
    }
    Ok(newly_applied)
}

async fn record_applied<C: ConnectionTrait>(db: &C, name: &str) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let placeholders = match backend {
        DbBackend::Postgres => "($1, $2)",
        _ => "(?, ?)",
    };
    let applied_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    db.execute(Statement::from_sql_and_values(
        backend,
        format!("INSERT INTO seaql_migrations (version, applied_at) VALUES {placeholders}"),
        [name.into(), applied_at.into()],
    ))
    .await?;
    Ok(())
}

// Applying the migrations, once and again after a lost record, is tested
// on SQLite and PostgreSQL by the server's integration tests
// (tests/api/migrations.rs); here only what needs no database.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_named_in_order_and_unique() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
