//! The migrations on each backend: a fresh database gets every migration
//! once, in order, and the tables the store uses; a second run applies
//! nothing; and a crash between a migration's statement and its record is
//! harmless, for every migration at once: each statement is idempotent, so
//! the next run repeats them all and records them. The migration crate's
//! own unit tests check its ordering without a database; the DDL differs
//! between SQLite and PostgreSQL, so this runs on both. The trend rollups'
//! migrations fill them from the minute counters already there, and the
//! name normalization merges names that differ only in Unicode form.

use migration::{run_pending, Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use std::sync::Arc;

use serde_json::json;

use crate::helpers::{default_start, table_names, Backend, TestApp, TestClock, TestDatabase};
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
            "idempotency_keys",
            "live_marks",
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

/// Where the rollups' keys start in `trend_counts.minute`: hours, then
/// days from twice as far.
const HOUR_ROWS: i64 = 1 << 40;

/// Every counter row, ordered by key.
async fn counters(db: &DatabaseConnection) -> Vec<(i64, i64, i64)> {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT hashtag_id, minute, count FROM trend_counts ORDER BY hashtag_id, minute",
        ))
        .await
        .expect("read the counters");
    rows.iter()
        .map(|row| {
            (
                row.try_get_by_index(0).unwrap(),
                row.try_get_by_index(1).unwrap(),
                row.try_get_by_index(2).unwrap(),
            )
        })
        .collect()
}

/// The migrations that add the hour and day rollups fill them from the
/// minute counters a database already holds, across hour and day
/// boundaries, leaving the minutes as they were; run again (a crash
/// before their record), they give the same rows, not twice the counts.
async fn trend_rollups_are_backfilled_from_the_minutes(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let db = Database::connect(&database.url).await.expect("connect");
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let first_rollup = names
        .iter()
        .position(|name| name.contains("roll_trend_counts_up"))
        .expect("a rollup migration");
    Migrator::up(&db, Some(first_rollup as u32))
        .await
        .expect("migrate up to the minutes");

    // Minutes around midnight at the start of 2019-09-24, for all messages
    // (0) and for hashtag 3.
    let day = "2019-09-24T00:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .timestamp()
        / 60;
    let minutes: Vec<(i64, i64, i64)> = [
        (0, day - 61, 1),
        (0, day - 60, 2),
        (0, day - 1, 4),
        (0, day, 8),
        (0, day + 59, 16),
        (0, day + 60, 32),
        (0, day + 1440, 64),
        (3, day - 1, 5),
        (3, day + 1, 7),
    ]
    .into();
    let values: Vec<String> = minutes
        .iter()
        .map(|(h, m, c)| format!("({h}, {m}, {c})"))
        .collect();
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!(
            "INSERT INTO trend_counts (hashtag_id, minute, count) VALUES {}",
            values.join(", ")
        ),
    ))
    .await
    .expect("minute counters");

    assert_eq!(
        run_pending(&db).await.expect("migrate"),
        names[first_rollup..].to_vec()
    );
    let hour = |m: i64| HOUR_ROWS + m - m % 60;
    let day_row = |m: i64| 2 * HOUR_ROWS + m - m % 1440;
    let mut expected = minutes.clone();
    expected.extend([
        (0, hour(day - 61), 1),
        (0, hour(day - 60), 6),
        (0, hour(day), 24),
        (0, hour(day + 60), 32),
        (0, hour(day + 1440), 64),
        (0, day_row(day - 1), 7),
        (0, day_row(day), 56),
        (0, day_row(day + 1440), 64),
        (3, hour(day - 1), 5),
        (3, hour(day), 7),
        (3, day_row(day - 1), 5),
        (3, day_row(day), 7),
    ]);
    expected.sort();
    assert_eq!(counters(&db).await, expected);

    // The records lost: both statements run again, the rows stay.
    for name in &names[first_rollup..] {
        db.execute(Statement::from_string(
            db.get_database_backend(),
            format!("DELETE FROM seaql_migrations WHERE version = '{name}'"),
        ))
        .await
        .expect("forget a record");
    }
    assert_eq!(
        run_pending(&db).await.expect("migrate again"),
        names[first_rollup..].to_vec()
    );
    assert_eq!(counters(&db).await, expected);
}

/// Names stored before normalization: a user and a hashtag written in a
/// decomposed form (as an older version stored them) are merged into their
/// NFC twins by the migration, with every message, link and counter. One
/// message wrote both spellings of the tag: it keeps one link, and the
/// trends count it once, at every grain.
async fn names_are_normalized_and_collisions_merged(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let clock = TestClock::at(default_start());
    let app = TestApp::spawn_on(database.clone(), clock.clone(), |_| {}).await;
    let first = app.post_ok("Jos\u{e9}", "one #Caf\u{e9}", &[]).await;
    let second = app.post_ok("placeholder", "two #cafetmp", &[]).await;
    let third = app
        .post_ok("placeholder", "three #Caf\u{e9} #cafetmp", &[])
        .await;
    drop(app);

    // What an older version would have stored: the same names, decomposed.
    let db = Database::connect(&database.url).await.expect("connect");
    for sql in [
        "UPDATE users SET name = 'Jose\u{301}' WHERE name = 'placeholder'",
        "UPDATE hashtags SET name = 'cafe\u{301}', display = 'Cafe\u{301}' WHERE name = 'cafetmp'",
    ] {
        db.execute(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect(sql);
    }
    let normalize = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .find(|name| name.contains("normalize_names"))
        .expect("the migration");
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!("DELETE FROM seaql_migrations WHERE version = '{normalize}'"),
    ))
    .await
    .expect("forget the migration");
    assert_eq!(run_pending(&db).await.expect("migrate"), [normalize]);

    let count = |sql: &'static str| {
        let db = &db;
        async move {
            let row = db
                .query_one(Statement::from_string(db.get_database_backend(), sql))
                .await
                .expect(sql)
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("a count")
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM hashtags").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM message_hashtags").await, 3);

    let app = TestApp::spawn_on(database.clone(), clock, |_| {}).await;
    for query in [
        "user_name=Jos%C3%A9",
        "user_name=Jose%CC%81",
        "hashtag=caf%C3%A9",
        "hashtag=CAFE%CC%81",
    ] {
        let (status, body) = app.get(&format!("/message?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let messages = body["data"]["messages"].as_array().unwrap();
        let ids: Vec<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [third.as_str(), second.as_str(), first.as_str()],
            "{query}"
        );
        for message in messages {
            assert_eq!(message["user"]["name"], "Jos\u{e9}", "{query}");
            assert_eq!(message["hashtags"], json!(["Caf\u{e9}"]), "{query}");
        }
    }
    for aggregation in ["1m", "1h", "24h"] {
        let (status, body) = app
            .get(&format!(
                "/trend?hashtag=caf%C3%A9&from_date=2019-09-23&to_date=2019-09-24&aggregation={aggregation}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let total: i64 = body["data"]["trends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|bucket| bucket["count"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 3, "{aggregation}: {body}");
    }
    // The merged names are the server's: a new post lands on them.
    app.post_ok("Jose\u{301}", "four #cafe\u{301}", &[]).await;
    assert_eq!(count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM hashtags").await, 1);
}

on_every_backend!(
    migrations_apply_once_and_rerun_harmlessly,
    trend_rollups_are_backfilled_from_the_minutes,
    names_are_normalized_and_collisions_merged,
);
