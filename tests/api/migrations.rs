//! The migrations on each backend: a fresh database gets every migration
//! once, in order, and the tables the store uses; a second run applies
//! nothing; and a crash between a migration's statement and its record is
//! harmless, for every migration at once: each statement is idempotent, so
//! the next run repeats them all and records them. The migration crate's
//! own unit tests check its ordering without a database; the DDL differs
//! between SQLite and PostgreSQL, so this runs on both.

use migration::{run_pending, Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::helpers::{table_names, Backend, TestDatabase};
use crate::on_every_backend;

async fn index_names(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' ORDER BY indexname",
    };
    let rows = db
        .query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("list indexes");
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a name"))
        .collect()
}

async fn migrations_apply_once_and_rerun_harmlessly(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let db = Database::connect(&database.url).await.expect("connect");
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();

    assert_eq!(run_pending(&db).await.expect("migrate"), names);
    assert_eq!(
        table_names(&db).await,
        [
            "hashtags",
            "message_hashtags",
            "messages",
            "seaql_migrations",
            "trend_counts",
            "users"
        ]
    );
    let indexes = index_names(&db).await;
    assert!(!indexes.is_empty(), "the listing indexes exist");
    assert!(Migrator::get_pending_migrations(&db)
        .await
        .expect("status")
        .is_empty());
    assert!(run_pending(&db).await.expect("migrate again").is_empty());

    // Every statement ran, no record kept: all run again, nothing breaks,
    // nothing is created twice.
    db.execute(Statement::from_string(
        db.get_database_backend(),
        "DELETE FROM seaql_migrations",
    ))
    .await
    .expect("forget the records");
    assert_eq!(run_pending(&db).await.expect("migrate once more"), names);
    assert_eq!(index_names(&db).await, indexes);
    assert!(run_pending(&db).await.expect("and again").is_empty());
}

on_every_backend!(migrations_apply_once_and_rerun_harmlessly);
