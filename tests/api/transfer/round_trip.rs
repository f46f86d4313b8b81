//! A history exported from one backend and imported into a fresh database
//! of the other reads back exactly the same: every listing page and every
//! trend, user ids and hashtag spellings included.

use std::sync::Arc;

use crate::helpers::{default_start, Backend, TestApp, TestClock, TestDatabase};

use super::{dunder_ok, ids_in, seed, view};

async fn round_trip(from: Backend, to: Backend) {
    let source = TestApp::spawn(from).await;
    let posted = seed(&source).await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("export.jsonl");
    let file_arg = file.display().to_string();
    let source_url = source.store.url().to_owned();

    let (stdout, stderr) = dunder_ok(&source_url, &["export", "--to", &file_arg], None).await;
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!("exported {posted} messages to {file_arg}")),
        "{stderr}"
    );
    let mut oldest_first = ids_in(&file);
    assert_eq!(oldest_first.len(), posted);
    let mut sorted = oldest_first.clone();
    sorted.sort();
    assert_eq!(oldest_first, sorted, "oldest first");

    let target = Arc::new(TestDatabase::create(to).await);
    let (_, stderr) = dunder_ok(&target.url, &["import", &file_arg], None).await;
    assert!(
        stderr.contains(&format!(
            "imported {posted} messages from {file_arg} (0 already there)"
        )),
        "{stderr}"
    );
    let copy = TestApp::spawn_on(target, TestClock::at(default_start()), |_| {}).await;
    assert_eq!(view(&copy).await, view(&source).await);

    // Exported again from the copy: the same lines, byte for byte.
    let again = dir.path().join("again.jsonl");
    let again_arg = again.display().to_string();
    dunder_ok(copy.store.url(), &["export", "--to", &again_arg], None).await;
    assert_eq!(
        std::fs::read_to_string(&again).expect("the second export"),
        std::fs::read_to_string(&file).expect("the first export")
    );
    // And to standard output, the same again.
    let (stdout, stderr) = dunder_ok(copy.store.url(), &["export"], None).await;
    assert_eq!(stdout, std::fs::read_to_string(&file).expect("the export"));
    assert!(
        stderr.contains(&format!("exported {posted} messages to standard output")),
        "{stderr}"
    );
    oldest_first.reverse();
    let listed: Vec<String> = crate::helpers::ids(&copy.walk("", 100).await);
    assert_eq!(listed, oldest_first);

    // The users kept their ids; a new one gets an id of its own, past them.
    let id = copy.post_ok("newcomer", "first post here", &[]).await;
    let (_, body) = copy.get(&format!("/message/{id}")).await;
    let newcomer = body["data"]["message"]["user"]["id"]
        .as_i64()
        .expect("a user id");
    let mut kept: Vec<i64> = copy
        .walk("", 100)
        .await
        .iter()
        .map(|m| m["user"]["id"].as_i64().expect("a user id"))
        .collect();
    kept.sort_unstable();
    kept.dedup();
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(kept.last(), Some(&newcomer), "{kept:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres() {
    round_trip(Backend::Sqlite, Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_sqlite() {
    round_trip(Backend::Postgres, Backend::Sqlite).await;
}

/// PostgreSQL at SERIALIZABLE, as CockroachDB runs every transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_serializable_postgres() {
    round_trip(Backend::Sqlite, Backend::PostgresSerializable).await;
}
