//! Listings: every filter alone and combined with the others and with the
//! cursor, checked against a model of what was posted; and a long cursor
//! walk.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{default_start, ids, Backend, SseClient, TestApp};
use crate::on_every_backend;

/// What the test posted, to compute the expected answer of each query.
struct Posted {
    id: String,
    user: &'static str,
    tags: Vec<&'static str>,
    at: DateTime<Utc>,
}

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const TAGS: [&str; 4] = ["rust", "go", "sql", "Zig"];

/// 60 messages, one every 7 minutes, users and tags varied by index.
async fn post_dataset(app: &TestApp) -> Vec<Posted> {
    let mut posted = Vec::new();
    for i in 0..60usize {
        let at = default_start() + Duration::minutes(7 * i as i64);
        app.clock.set(at);
        let user = USERS[i % 3];
        let tags: Vec<&str> = TAGS
            .iter()
            .enumerate()
            .filter(|(t, _)| (i >> t) & 1 == 1)
            .map(|(_, tag)| *tag)
            .collect();
        let id = app.post_ok(user, &format!("message {i}"), &tags).await;
        posted.push(Posted { id, user, tags, at });
    }
    posted
}

async fn every_filter_alone_and_combined(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let posted = post_dataset(&app).await;
    let from = default_start() + Duration::minutes(60);
    let to = default_start() + Duration::minutes(300);

    // (query string, predicate) pairs: each filter alone, then combinations.
    type Predicate = Box<dyn Fn(&Posted) -> bool>;
    let in_range = move |p: &Posted| p.at >= from && p.at < to;
    let cases: Vec<(String, Predicate)> = vec![
        (String::new(), Box::new(|_| true)),
        ("user_name=bob".into(), Box::new(|p| p.user == "bob")),
        ("hashtag=RUST".into(), Box::new(|p| p.tags.contains(&"rust"))),
        ("hashtag=zig".into(), Box::new(|p| p.tags.contains(&"Zig"))),
        (format!("from_date={}", from.format("%Y-%m-%dT%H:%M:%SZ")), Box::new(move |p| p.at >= from)),
        ("to_date=2019-09-23T15:00:00Z".into(), Box::new(move |p| p.at < to)),
        (
            format!("from_date={}&to_date={}", from.timestamp(), to.timestamp()),
            Box::new(in_range),
        ),
        (
            "user_name=alice&hashtag=go".into(),
            Box::new(|p| p.user == "alice" && p.tags.contains(&"go")),
        ),
        (
            "user_name=carol&from_date=2019-09-23 11:00:00&to_date=2019-09-23T15:00:00".into(),
            Box::new(move |p| p.user == "carol" && in_range(p)),
        ),
        (
            "hashtag=sql&from_date=2019-09-23T13:00:00%2B02:00&to_date=2019-09-23T15:00:00Z".into(),
            Box::new(move |p| {
                p.tags.contains(&"sql") && p.at >= from && p.at < to
            }),
        ),
        (
            "user_name=bob&hashtag=rust&from_date=2019-09-23T11:00:00Z&to_date=2019-09-23T15:00:00Z".into(),
            Box::new(move |p| p.user == "bob" && p.tags.contains(&"rust") && in_range(p)),
        ),
        ("user_name=nobody".into(), Box::new(|_| false)),
        ("hashtag=unused".into(), Box::new(|_| false)),
    ];

    for (query, predicate) in &cases {
        let expected: Vec<String> = posted
            .iter()
            .rev()
            .filter(|p| predicate(p))
            .map(|p| p.id.clone())
            .collect();
        // A small page size, so that the cursor is combined with each filter.
        let walked = ids(&app.walk(query, 4).await);
        assert_eq!(walked, expected, "query {query:?}");
    }
}

/// A few hundred messages walked with an odd page size: no gap, no repeat,
/// newest first, and the walk ends.
async fn cursor_walk_over_hundreds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Posted concurrently, so batches of several posts share a millisecond.
    let posts = (0..300).map(|i| {
        let app = &app;
        async move {
            app.post_ok(["ann", "ben"][i % 2], &format!("n{i}"), &["walk"])
                .await
        }
    });
    let posted: HashSet<String> = join_all(posts).await.into_iter().collect();
    assert_eq!(posted.len(), 300);

    for query in ["", "hashtag=walk", "user_name=ann"] {
        let walked = ids(&app.walk(query, 7).await);
        let unique: HashSet<&String> = walked.iter().collect();
        assert_eq!(unique.len(), walked.len(), "{query}: no repeats");
        let mut sorted = walked.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(walked, sorted, "{query}: newest (largest id) first");
        let expected = if query.starts_with("user") { 150 } else { 300 };
        assert_eq!(walked.len(), expected, "{query}: no gaps");
        assert!(walked.iter().all(|id| posted.contains(id)));
    }

    // The default page is 100 and the largest 1000.
    let (status, body) = app.get("/message").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["messages"].as_array().unwrap().len(), 100);
    let (_, body) = app.get("/message?limit=1000").await;
    assert_eq!(body["data"]["messages"].as_array().unwrap().len(), 300);

    // A page past the end is empty and has no cursor.
    let (_, last) = app.get("/message?limit=300").await;
    let cursor = last["data"]["next_cursor"].as_str().unwrap();
    let (status, body) = app.get(&format!("/message?cursor={cursor}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"data": {"messages": []}}));
}

on_every_backend!(
    every_filter_alone_and_combined,
    cursor_walk_over_hundreds,
    a_message_id_works_as_a_cursor
);

/// The historical service's clients pass the id of a page's last message
/// as `cursor` (its `next_cursor` was that id): each id gives exactly the
/// page the opaque token for the same message gives, filtered or not, on
/// `GET /message`; and on the stream it resumes after that message.
async fn a_message_id_works_as_a_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let posted = post_dataset(&app).await;
    for filter in ["", "&hashtag=rust", "&user_name=bob"] {
        let mut token_walk = Vec::new();
        let mut id_walk = Vec::new();
        let (status, first) = app.get(&format!("/message?limit=7{filter}")).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        let mut last_id = ids(first["data"]["messages"].as_array().unwrap())
            .last()
            .cloned()
            .expect("a first page");
        let mut token = first["data"]["next_cursor"].as_str().unwrap().to_owned();
        loop {
            let (status, by_token) = app
                .get(&format!("/message?limit=7{filter}&cursor={token}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{by_token}");
            let (status, by_id) = app
                .get(&format!("/message?limit=7{filter}&cursor={last_id}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{by_id}");
            assert_eq!(by_id, by_token, "cursor={last_id} is the token {token}");
            let page = ids(by_id["data"]["messages"].as_array().unwrap());
            token_walk.extend(ids(by_token["data"]["messages"].as_array().unwrap()));
            id_walk.extend(page.clone());
            match (page.last(), by_id["data"]["next_cursor"].as_str()) {
                (Some(last), Some(next)) => {
                    last_id = last.clone();
                    token = next.to_owned();
                }
                _ => break,
            }
        }
        assert_eq!(id_walk, token_walk);
        assert!(!id_walk.is_empty(), "{filter}: pages past the first");
    }
    // Lower case, as some clients print ids.
    let middle = &posted[30].id;
    let (status, upper) = app.get(&format!("/message?cursor={middle}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, lower) = app
        .get(&format!("/message?cursor={}", middle.to_lowercase()))
        .await;
    assert_eq!(upper, lower);
    let older: Vec<String> = posted[..30].iter().rev().map(|p| p.id.clone()).collect();
    assert_eq!(ids(upper["data"]["messages"].as_array().unwrap()), older);
    // The stream resumes after the message the id names.
    let mut stream = SseClient::open(&app, &format!("cursor={}", posted[50].id), None).await;
    for expected in &posted[51..] {
        let event = stream.next_message().await;
        assert_eq!(event.id.as_deref(), Some(expected.id.as_str()));
    }
    // Neither a token nor an id: refused as before.
    let (status, body) = app.get("/message?cursor=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "cursor: is not a valid cursor");
}
