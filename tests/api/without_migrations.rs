//! `--cockroach.should_migrate=false`, as the README has production run
//! it: the servers never migrate, and `dunder migrate` is run once before
//! a rollout. A server started so on an empty database creates nothing
//! there; until the schema exists it answers requests that need it with a
//! 500 without detail and logs what is wrong (the missing table), as any
//! server fault; once `dunder migrate` has run, the same process serves.
//! The DDL, and the database's words for a missing table, differ between
//! SQLite and PostgreSQL, so this runs on both.

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use sea_orm::Database;
use serde_json::json;

use crate::helpers::{read, table_names, token, Backend, TestDatabase};
use crate::on_every_backend;
use crate::process::DunderProcess;

/// How each database says that the `messages` table is missing.
fn missing_messages_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "no such table: messages",
        Backend::Postgres | Backend::PostgresSerializable => "relation \"messages\" does not exist",
    }
}

async fn a_server_that_must_not_migrate_creates_no_table(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let server = DunderProcess::start(
        dir.path(),
        [
            "--database_url",
            &database.url,
            "--cockroach.should_migrate=false",
        ],
        false,
    );
    let db = Database::connect(&database.url).await.expect("connect");
    assert_eq!(
        table_names(&db).await,
        Vec::<String>::new(),
        "a server that must not migrate creates nothing"
    );
    assert!(
        !server.log().contains("migration applied"),
        "{}",
        server.log()
    );

    let client = reqwest::Client::new();
    let list = || async {
        read(
            client
                .get(format!("{}/message", server.base_url()))
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let post = |text: &'static str| {
        let (client, server) = (&client, &server);
        async move {
            read(
                client
                    .post(format!("{}/message", server.base_url()))
                    .bearer_auth(token("early"))
                    .json(&json!({"text": text, "hashtags": ["early"]}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    // A server fault: no detail in the answer, the detail in the log.
    let internal = (
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": "internal server error"}),
    );
    assert_eq!(list().await, internal);
    assert_eq!(post("before the schema").await, internal);
    let line = server.wait_for_line(missing_messages_table(backend)).await;
    assert!(line.contains("ERROR"), "{line}");
    assert_eq!(
        table_names(&db).await,
        Vec::<String>::new(),
        "a failed request creates nothing either"
    );

    // The documented rollout: `dunder migrate` from elsewhere, and the
    // running server serves without a restart.
    let migrate = Command::new(env!("CARGO_BIN_EXE_dunder"))
        .args(["--database_url", &database.url, "migrate"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run dunder migrate");
    assert!(migrate.status.success(), "{migrate:?}");
    assert_eq!(
        String::from_utf8_lossy(&migrate.stdout).trim(),
        applied_all()
    );
    let (status, body) = post("after the schema").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = list().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let texts: Vec<&str> = body["data"]["messages"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|message| message["text"].as_str().expect("a text"))
        .collect();
    assert_eq!(
        texts,
        ["after the schema"],
        "the refused post wrote nothing"
    );
}

on_every_backend!(a_server_that_must_not_migrate_creates_no_table);

/// What `dunder migrate` prints on an empty database: every migration.
fn applied_all() -> String {
    use migration::MigratorTrait;
    format!(
        "{} migration(s) applied",
        migration::Migrator::migrations().len()
    )
}
