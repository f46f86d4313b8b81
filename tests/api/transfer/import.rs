//! `dunder import` run twice adds nothing; a bad line stops it with its
//! number and nothing of its batch written, and the fixed file then
//! finishes the work; stdin works as a file does.

use std::sync::Arc;

use crate::helpers::{default_start, Backend, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

use super::{counted, dunder, dunder_ok, ids_in, seed, view};

on_every_backend!(
    importing_twice_adds_nothing,
    a_bad_line_stops_the_import_before_its_batch
);

/// An export of the seeded history, as its text and its ids.
async fn exported(backend: Backend) -> (TestApp, String, Vec<String>) {
    let source = TestApp::spawn(backend).await;
    seed(&source).await;
    let (text, _) = dunder_ok(source.store.url(), &["export"], None).await;
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("e.jsonl");
    std::fs::write(&path, &text).expect("write the export");
    let ids = ids_in(&path);
    (source, text, ids)
}

async fn importing_twice_adds_nothing(backend: Backend) {
    let (source, text, ids) = exported(backend).await;
    let target = Arc::new(TestDatabase::create(backend).await);
    let url = target.url.clone();
    let (_, first) = dunder_ok(&url, &["import", "--batch", "5"], Some(text.clone().into())).await;
    assert!(
        first.contains(&format!(
            "imported {} messages from standard input (0 already there)",
            ids.len()
        )),
        "{first}"
    );
    let copy = TestApp::spawn_on(target.clone(), TestClock::at(default_start()), |_| {}).await;
    let once = (view(&copy).await, copy.footprint().await);
    let (_, second) = dunder_ok(&url, &["import", "-"], Some(text.into())).await;
    assert!(
        second.contains(&format!(
            "imported 0 messages from standard input ({} already there)",
            ids.len()
        )),
        "{second}"
    );
    // A server started afresh: nothing of the first one's caches.
    let copy = TestApp::spawn_on(target, TestClock::at(default_start()), |_| {}).await;
    assert_eq!((view(&copy).await, copy.footprint().await), once);
    assert_eq!(view(&copy).await, view(&source).await);
}

async fn a_bad_line_stops_the_import_before_its_batch(backend: Backend) {
    let (_source, text, ids) = exported(backend).await;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let good_seventh = lines[6].clone();
    // Line 7 names a hidden character in its author.
    lines[6] = lines[6].replace("\"name\":\"", "\"name\":\"\u{200b}");
    assert_ne!(lines[6], good_seventh);
    let target = Arc::new(TestDatabase::create(backend).await);
    let url = target.url.clone();
    let output = dunder(
        &url,
        &["import", "--batch", "4"],
        Some((lines.join("\n") + "\n").into()),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let last = stderr.trim_end().lines().last().expect("an error line");
    assert!(
        last.starts_with("dunder: line 7: user.name: must not contain invisible")
            && last.contains("lines 1 to 4 were imported")
            && last.contains("nothing from line 5 on was written"),
        "{stderr}"
    );
    let copy = TestApp::spawn_on(target.clone(), TestClock::at(default_start()), |_| {}).await;
    let mut stored = crate::helpers::ids(&copy.walk("", 100).await);
    stored.reverse();
    assert_eq!(stored, ids[..4], "the first batch only");
    assert_eq!(counted(&copy, "").await, 4, "counted once each");

    // Fixed, the whole file: the rest comes in, the first four are skipped.
    lines[6] = good_seventh;
    let (_, stderr) = dunder_ok(
        &url,
        &["import", "--batch", "4"],
        Some((lines.join("\n") + "\n").into()),
    )
    .await;
    assert!(
        stderr.contains(&format!(
            "imported {} messages from standard input (4 already there)",
            ids.len() - 4
        )),
        "{stderr}"
    );
    let copy = TestApp::spawn_on(target, TestClock::at(default_start()), |_| {}).await;
    assert_eq!(counted(&copy, "").await, ids.len() as i64);
}
