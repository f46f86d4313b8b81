//! `dunder archive`: what it writes it deletes, and nothing else, while
//! clients keep posting; trends stay as they were; the file is never
//! replaced unasked.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Duration;
use reqwest::StatusCode;

use crate::helpers::{default_start, ids, token, Backend, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

use super::{at, counted, dunder, dunder_ok, ids_in, seed, view};

on_every_backend!(archive_deletes_what_it_wrote_and_keeps_trends);

async fn archive_deletes_what_it_wrote_and_keeps_trends(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database.clone(), TestClock::at(default_start()), |_| {}).await;
    // A keyed post among the archived: its key's record goes with it, so
    // a late retry is a new post rather than a pointer to nothing.
    let keyed = app
        .client
        .post(app.url("/message"))
        .bearer_auth(token("alice"))
        .header("Idempotency-Key", "k-1")
        .json(&serde_json::json!({"text": "keyed"}))
        .send()
        .await
        .expect("a keyed post");
    assert_eq!(keyed.status(), StatusCode::CREATED);
    let posted = seed(&app).await;
    let url = app.store.url().to_owned();
    let trends = view(&app).await["trends"].clone();

    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("old.jsonl");
    let file_arg = file.display().to_string();
    let (_, stderr) = dunder_ok(
        &url,
        &[
            "archive",
            "--before",
            "2019-09-23T11:00:00Z",
            "--to",
            &file_arg,
        ],
        None,
    )
    .await;
    let archived = ids_in(&file);
    assert_eq!(archived.len(), 8, "seven seeded and the keyed one");
    assert!(
        stderr.contains(&format!("archived 8 messages to {file_arg} (8 deleted)")),
        "{stderr}"
    );
    let fresh = TestApp::spawn_on(database.clone(), TestClock::at(at(300)), |_| {}).await;
    let left = ids(&fresh.walk("", 100).await);
    assert_eq!(left.len(), posted + 1 - 8);
    assert!(left.iter().all(|id| !archived.contains(id)));
    assert!(ids(&fresh.walk("hashtag=rust", 100).await).len() == 2);
    assert_eq!(view(&fresh).await["trends"], trends, "trends are kept");
    let (status, _) = fresh.get(&format!("/message/{}", archived[0])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let retry = fresh
        .client
        .post(fresh.url("/message"))
        .bearer_auth(token("alice"))
        .header("Idempotency-Key", "k-1")
        .json(&serde_json::json!({"text": "keyed"}))
        .send()
        .await
        .expect("a retry");
    assert_eq!(retry.status(), StatusCode::CREATED);

    // Put back where it came from, already counted: the messages return
    // and the trends do not move.
    let counted_before = view(&fresh).await["trends"].clone();
    let (_, stderr) = dunder_ok(&url, &["import", "--counted", &file_arg], None).await;
    assert!(stderr.contains("imported 8 messages from"), "{stderr}");
    let restored = TestApp::spawn_on(database.clone(), TestClock::at(at(300)), |_| {}).await;
    assert_eq!(ids(&restored.walk("", 100).await).len(), posted + 2);
    assert_eq!(view(&restored).await["trends"], counted_before);
    let (_, stderr) = dunder_ok(
        &url,
        &[
            "archive",
            "--before",
            "2019-09-23T11:00:00Z",
            "--to",
            &file_arg,
            "--force",
        ],
        None,
    )
    .await;
    assert!(stderr.contains("(8 deleted)"), "{stderr}");

    // The file is not replaced unasked, and nothing is deleted then.
    let before = std::fs::read_to_string(&file).expect("the archive");
    let output = dunder(
        &url,
        &["archive", "--before", "2019-09-24", "--to", &file_arg],
        None,
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already exists (use --force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).expect("the archive"), before);
    assert_eq!(ids(&fresh.walk("", 100).await).len(), left.len() + 1);
    // With --force: everything left goes.
    let (_, stderr) = dunder_ok(
        &url,
        &[
            "archive",
            "--before",
            "2019-09-24",
            "--to",
            &file_arg,
            "--force",
        ],
        None,
    )
    .await;
    assert!(
        stderr.contains(&format!("archived {} messages", left.len() + 1)),
        "{stderr}"
    );
    assert_eq!(ids_in(&file).len(), left.len() + 1);
}

/// On PostgreSQL, clients post (at times before the archive's date) while
/// the archive runs: every acknowledged post ends either in the file or in
/// the database, exactly once, and every post stays counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_while_clients_post_loses_nothing() {
    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let app =
        Arc::new(TestApp::spawn_on(database.clone(), TestClock::at(default_start()), |_| {}).await);
    let mut seeded = Vec::new();
    // More than one page and one delete batch (500 each).
    for round in 0..6 {
        app.clock
            .set(default_start() + Duration::minutes(round * 7));
        let posts = (0..120).map(|n| {
            let app = app.clone();
            async move {
                let tags: &[&str] = if n % 3 == 0 { &["old"] } else { &[] };
                app.post_ok(&format!("user{}", n % 5), &format!("old {n}"), tags)
                    .await
            }
        });
        seeded.extend(futures::future::join_all(posts).await);
    }
    app.clock.set(default_start() + Duration::minutes(50));
    let stop = Arc::new(AtomicBool::new(false));
    let posters: Vec<_> = (0..4)
        .map(|client| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let (status, body) = app
                        .post_message(
                            &format!("live{client}"),
                            serde_json::json!({"text": format!("live {n}"), "hashtags": ["live"]}),
                        )
                        .await;
                    if status == StatusCode::CREATED {
                        acknowledged.push(body["data"]["id"].as_str().expect("id").to_owned());
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("archive.jsonl");
    let file_arg = file.display().to_string();
    dunder_ok(
        app.store.url(),
        &[
            "archive",
            "--before",
            "2019-09-23T12:00:00Z",
            "--to",
            &file_arg,
        ],
        None,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for poster in posters {
        acknowledged.extend(poster.await.expect("a poster"));
    }
    assert!(acknowledged.len() > 10, "clients posted meanwhile");

    let archived = ids_in(&file);
    let archived_set: HashSet<&String> = archived.iter().collect();
    assert_eq!(archived_set.len(), archived.len(), "each once in the file");
    let fresh = TestApp::spawn_on(database, TestClock::at(at(300)), |_| {}).await;
    let stored = ids(&fresh.walk("", 1000).await);
    let stored_set: HashSet<&String> = stored.iter().collect();
    assert!(archived_set.is_disjoint(&stored_set), "never in both");
    for id in &seeded {
        assert!(archived_set.contains(id), "every older post is archived");
    }
    for id in &acknowledged {
        assert!(
            archived_set.contains(id) || stored_set.contains(id),
            "acknowledged {id} is lost"
        );
    }
    assert_eq!(
        archived.len() + stored.len(),
        seeded.len() + acknowledged.len()
    );
    assert!(ids(&fresh.walk("hashtag=old", 1000).await).is_empty());
    // Every post ever acknowledged is still counted.
    let all = (seeded.len() + acknowledged.len()) as i64;
    assert_eq!(counted(&fresh, "").await, all);
    assert_eq!(counted(&fresh, "live").await, acknowledged.len() as i64);
    assert_eq!(counted(&fresh, "old").await, 6 * 40);
}
