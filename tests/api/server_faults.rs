//! Server faults: when the store fails for a reason that is no client's
//! doing (here, tables a query needs have been renamed away under the
//! running server), GraphQL answers `INTERNAL_SERVER_ERROR` and REST 500,
//! both without the database's words, while the log keeps them.
//!
//! The log is read from the server's own threads: the test runs on a
//! runtime of its own whose every thread logs errors into a buffer, so
//! what other tests log at the same time never mixes in.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

/// The error lines logged by the threads of one runtime.
#[derive(Clone, Default)]
struct ErrorLog(Arc<Mutex<Vec<u8>>>);

impl Write for ErrorLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ErrorLog {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs `test` on a new runtime whose threads (the server's tasks and
    /// its blocking work included) all log their errors here, and returns
    /// what it returns. A panic in `test` is the caller's panic.
    async fn capture<F, T>(&self, test: F) -> T
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let log = self.clone();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::ERROR)
                .with_ansi(false)
                .without_time()
                .with_writer(move || log.clone())
                .finish(),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                // For the thread's whole life: the guard would restore the
                // previous default when dropped.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .expect("a runtime");
        // `block_on` needs a thread that is not driving a runtime already.
        let thread = std::thread::spawn(move || runtime.block_on(test));
        match tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("the joining task")
        {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

async fn rename(app: &TestApp, from: &str, to: &str) {
    let db = app.store.connection();
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!("ALTER TABLE {from} RENAME TO {to}"),
    ))
    .await
    .unwrap_or_else(|error| panic!("rename {from} to {to}: {error}"));
}

/// What a GraphQL field that failed in the store answers: the bare code,
/// with where the field is, and nothing of the cause.
fn internal_error(query: &str, field: &str) -> Value {
    let column = query.find(field).expect("the field is in the query") + 1;
    json!({
        "data": null,
        "errors": [{
            "message": "internal server error",
            "locations": [{"line": 1, "column": column}],
            "path": [field],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"}
        }]
    })
}

async fn store_faults_are_answered_without_detail_and_logged_with_it(backend: Backend) {
    let log = ErrorLog::default();
    let needed = log.capture(answers_while_tables_are_gone(backend)).await;

    // One error line per failed answer, in the order asked, each with the
    // database's own account of it, which names the missing table.
    let logged: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|line| line.contains("ERROR") && line.contains("store failure"))
        .collect();
    assert_eq!(logged.len(), needed.len(), "{logged:#?}");
    for (line, table) in logged.iter().zip(&needed) {
        assert!(line.contains(table), "{line:?} should name {table}");
    }
}

/// Renames away the tables of messages and trend counters, checks every
/// kind of request that needs them, and renames them back. Returns the
/// table each failed request needed, in the order they were sent.
async fn answers_while_tables_are_gone(backend: Backend) -> Vec<&'static str> {
    let app = TestApp::spawn(backend).await;
    let id = app.post_ok("alice", "before the fault #kept", &[]).await;
    let before = app.footprint().await;

    rename(&app, "trend_counts", "trend_counts_away").await;
    rename(&app, "messages", "messages_away").await;

    let mut needed = Vec::new();
    for (query, field, table) in [
        (
            "{ trend(fromDate: \"2019-09-23T00:00:00Z\", toDate: \"2019-09-24T00:00:00Z\") { count } }",
            "trend",
            "trend_counts",
        ),
        (
            "{ trendingHashtags { hashtag } }",
            "trendingHashtags",
            "trend_counts",
        ),
        (
            "{ messages(first: 5) { edges { node { text } } } }",
            "messages",
            "messages",
        ),
        (
            "mutation { postMessage(input: {text: \"during the fault\"}) { id } }",
            "postMessage",
            "messages",
        ),
    ] {
        let (status, body) = app.graphql(Some("bob"), query, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body, internal_error(query, field), "{query}");
        needed.push(table);
    }

    let internal = (
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": "internal server error"}),
    );
    for (path, table) in [
        (
            "/trend?from_date=2019-09-23&to_date=2019-09-24&aggregation=1h".to_owned(),
            "trend_counts",
        ),
        ("/message?hashtag=kept".to_owned(), "messages"),
        (format!("/message/{id}"), "messages"),
    ] {
        assert_eq!(app.get(&path).await, internal, "GET {path}");
        needed.push(table);
    }
    assert_eq!(
        app.post_message("bob", json!({"text": "during the fault"}))
            .await,
        internal,
        "POST /message"
    );
    needed.push("messages");

    // With the tables back, nothing was written meanwhile and the same
    // server answers again.
    rename(&app, "messages_away", "messages").await;
    rename(&app, "trend_counts_away", "trend_counts").await;
    assert_eq!(app.footprint().await, before);
    let (status, body) = app.get("/message?hashtag=kept").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["messages"][0]["id"], id);
    let (status, body) = app
        .get("/trend?from_date=2019-09-23&to_date=2019-09-24&aggregation=1h")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["trends"][0]["count"], 1);

    needed
}

on_every_backend!(store_faults_are_answered_without_detail_and_logged_with_it);
