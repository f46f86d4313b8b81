//! What the real binary logs, as the README's flag table promises it:
//! `RUST_LOG` overrides `--log_level`, and `--cockroach.debug` logs every
//! SQL statement (off by default). Each test reads the whole log of a
//! process once it has exited, so a line that is absent was never written.

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{metric_in, metrics_text, token, Backend, TestDatabase};
use crate::on_every_backend;
use crate::process::{DunderProcess, Launch};

/// Where sqlx logs each statement it runs.
const STATEMENT_TARGET: &str = "sqlx::query";

/// `dunder --log_level error migrate` in a fresh directory, with `RUST_LOG`
/// set to `rust_log` when given: its standard error.
fn migrate_quietly(rust_log: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_dunder"));
    command
        .args(["--log_level", "error", "migrate"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    let output = command.output().expect("run dunder migrate");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `RUST_LOG` replaces the level `--log_level` sets, in both directions:
/// it shows what the flag hides, and hides what the flag alone would show.
/// SQLite only: which lines are written does not depend on the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_overrides_the_log_level_on_sqlite() {
    // `migrate` logs each migration it applies at info: the flag's level
    // (error) hides them, RUST_LOG=info shows them.
    assert_eq!(migrate_quietly(None), "", "--log_level error hides info");
    let shown = migrate_quietly(Some("info"));
    assert_eq!(
        shown.matches("migration applied").count(),
        9,
        "RUST_LOG=info shows what --log_level error hides:\n{shown}"
    );

    // The server logs its port at info, under dunder::server: that it
    // starts at all at --log_level error shows RUST_LOG won. The filter is
    // RUST_LOG's alone, not added to the flag's: dunder::store's info
    // lines stay hidden.
    let dir = tempfile::tempdir().unwrap();
    let mut server = DunderProcess::start_with(
        dir.path(),
        Vec::<String>::new(),
        false,
        Launch {
            log_level: "error",
            env: &[("RUST_LOG", "error,dunder::server=info")],
        },
    );
    let (status, log) = server.stop().await;
    assert!(status.success(), "exit status {status}\n{log}");
    assert!(log.contains("dunder listening on"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains("migration applied"),
        "dunder::store stays at error:\n{log}"
    );
    assert!(dir.path().join("dunder.db").exists(), "it did migrate");
}

/// A `dunder` on `database_url`, with `args` added, that posts one message
/// and lists its hashtag; returns the statements it counted (the
/// `dunder_sql_statements_total` counter, which sees every statement the
/// store sends) and its whole log once stopped.
async fn serve_a_post_and_a_listing(database_url: &str, args: &[&str]) -> (u64, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut all_args = vec!["--database_url", database_url];
    all_args.extend_from_slice(args);
    let mut server = DunderProcess::start(dir.path(), all_args, false);
    server.wait_ready().await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/message", server.base_url()))
        .bearer_auth(token("logged"))
        .json(&json!({"text": "statements, please", "hashtags": ["logged"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = client
        .get(format!("{}/message?hashtag=logged", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = metrics_text(&client, &format!("{}/metrics", server.base_url())).await;
    let counted = metric_in(&metrics, "dunder_sql_statements_total").expect("the counter");
    let (status, log) = server.stop().await;
    assert!(status.success(), "exit status {status}\n{log}");
    (counted, log)
}

/// The statement lines of `log`.
fn statements(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains(STATEMENT_TARGET))
        .collect()
}

/// `--cockroach.debug` logs every SQL statement, at the default log level
/// and with no `RUST_LOG`: the post's inserts, the listing's reads, and at
/// least as many statements as the server counted; without the flag, none.
/// On both backends: each has its own connections and statements.
async fn cockroach_debug_logs_every_statement(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let (_, quiet) = serve_a_post_and_a_listing(&database.url, &[]).await;
    assert_eq!(
        statements(&quiet),
        Vec::<&str>::new(),
        "no statement is logged by default"
    );

    let database = TestDatabase::create(backend).await;
    let (counted, log) = serve_a_post_and_a_listing(&database.url, &["--cockroach.debug"]).await;
    let logged = statements(&log);
    for statement in [
        "INSERT INTO users",
        "INSERT INTO messages",
        "INSERT INTO message_hashtags",
        "INSERT INTO trend_counts",
        // The page of the listing by hashtag.
        "FROM message_hashtags AS k INNER JOIN messages AS m",
    ] {
        // The statements quote their identifiers, and the log escapes the
        // quotes: lines are compared without them.
        assert!(
            logged
                .iter()
                .any(|line| line.replace("\\\"", "").contains(statement)),
            "no `{statement}` statement logged:\n{log}"
        );
    }
    // sqlx logs a few statements of its own (connection set-up) besides
    // those the store counts, never fewer.
    assert!(
        logged.len() as u64 >= counted,
        "{} statements logged, {counted} counted:\n{log}",
        logged.len()
    );
}

on_every_backend!(cockroach_debug_logs_every_statement);
