//! `dunder export`, `dunder import` and `dunder archive`: the real binary on
//! a real database, with real servers posting the messages and reading them
//! back over HTTP. What a move must keep is what clients can see: every
//! listing (all pages, with filters) and every trend.

mod archive;
mod filters;
mod import;
mod progress;
mod round_trip;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{default_start, TestApp};

/// Runs `dunder --database_url url args…` with `stdin`, off the test's
/// runtime (servers of the test keep answering meanwhile).
pub async fn dunder(url: &str, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dunder"));
    command
        .arg("--database_url")
        .arg(url)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("run dunder");
        if let Some(bytes) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(&bytes).expect("write stdin");
        }
        child.wait_with_output().expect("dunder output")
    })
    .await
    .expect("dunder ran")
}

/// Runs the binary and expects success; returns its stderr.
pub async fn dunder_ok(url: &str, args: &[&str], stdin: Option<Vec<u8>>) -> (String, String) {
    let output = dunder(url, args, stdin).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "dunder {args:?} failed: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes on a piped stderr: {stderr:?}"
    );
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// The ids of an export file's lines, in order.
pub fn ids_in(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("an export file")
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("a JSON line");
            value["id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

/// The minute `minutes` after the test clock's start.
pub fn at(minutes: i64) -> DateTime<Utc> {
    default_start() + Duration::minutes(minutes)
}

/// Posts a varied history on `app`: three users (one with an accent),
/// hashtags written in several cases, in texts and lists, some messages
/// with none, over three hours. Returns how many were posted.
pub async fn seed(app: &TestApp) -> usize {
    let posts: [(i64, &str, &str, &[&str]); 12] = [
        (0, "alice", "hello #Rust", &[]),
        (0, "bob", "plain words", &[]),
        (1, "Jos\u{e9}", "caf\u{e9} time", &["Caf\u{e9}", "go"]),
        (1, "alice", "more #RUST and #go", &["zig"]),
        (2, "bob", "rust again", &["rust"]),
        (3, "alice", "nothing tagged", &[]),
        (59, "bob", "hour end #go", &[]),
        (60, "Jos\u{e9}", "next hour", &["Rust"]),
        (61, "alice", "  trimmed  ", &["zig"]),
        (125, "bob", "later", &[]),
        (125, "alice", "later #rust", &[]),
        (190, "Jos\u{e9}", "last", &["go"]),
    ];
    for (minute, user, text, tags) in posts {
        app.clock
            .set(at(minute) + Duration::milliseconds(7 * minute + 3));
        app.post_ok(user, text, tags).await;
    }
    posts.len()
}

/// Everything a client can read of the seeded history: listings walked
/// page by page (with every filter) and trends by minute and by hour, for
/// all messages and for hashtags.
pub async fn view(app: &TestApp) -> Value {
    let mut listings = serde_json::Map::new();
    for query in [
        "",
        "hashtag=rust",
        "hashtag=GO",
        "hashtag=caf%C3%A9",
        "user_name=alice",
        "user_name=Jos%C3%A9",
        "user_name=bob&hashtag=go",
        "from_date=2019-09-23T10:01:00Z&to_date=2019-09-23T11:01:00Z",
    ] {
        listings.insert(query.to_owned(), Value::Array(app.walk(query, 2).await));
    }
    let mut trends = serde_json::Map::new();
    for aggregation in ["1m", "1h"] {
        for hashtag in ["", "&hashtag=rust", "&hashtag=go", "&hashtag=zig"] {
            let query = format!(
                "/trend?from_date=2019-09-23&to_date=2019-09-24&aggregation={aggregation}{hashtag}"
            );
            let (status, body) = app.get(&query).await;
            assert!(status.is_success(), "{query}: {body}");
            trends.insert(query, body["data"]["trends"].clone());
        }
    }
    json!({ "listings": listings, "trends": trends })
}

/// The sum of the trend counts of `app` over the test's day, by minute.
pub async fn counted(app: &TestApp, hashtag: &str) -> i64 {
    let query = format!(
        "/trend?from_date=2019-09-23&to_date=2019-09-24&aggregation=1m{}",
        if hashtag.is_empty() {
            String::new()
        } else {
            format!("&hashtag={hashtag}")
        }
    );
    let (_, body) = app.get(&query).await;
    body["data"]["trends"]
        .as_array()
        .expect("trends")
        .iter()
        .map(|bucket| bucket["count"].as_i64().expect("a count"))
        .sum()
}
