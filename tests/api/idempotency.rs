//! Idempotency keys: a post retried with its key is answered as the first
//! one was and written once, over REST (`Idempotency-Key`), GraphQL over
//! HTTP and over WebSocket (`idempotencyKey`), across servers sharing a
//! database, and under concurrent retries; a key reused for another body
//! is refused (422, `IDEMPOTENCY_KEY_REUSED`), a malformed key is a 400
//! naming it, and records past the retention are deleted.

use std::sync::Arc;

use base64::Engine;
use chrono::Duration;
use reqwest::header::HeaderValue;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::helpers::{
    default_start, error_codes, read, token, Backend, TestApp, TestClock, TestDatabase,
};
use crate::on_every_backend;

/// `POST /message` as `user` with `Idempotency-Key: key` (when given):
/// status, body and whether the answer says it was replayed.
async fn post_keyed(
    app: &TestApp,
    user: &str,
    key: Option<HeaderValue>,
    body: Value,
) -> (StatusCode, Value, bool) {
    let mut request = app
        .client
        .post(app.url("/message"))
        .bearer_auth(token(user))
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("POST /message");
    let replayed = match response.headers().get("idempotent-replayed") {
        None => false,
        Some(value) => {
            assert_eq!(value, "true");
            true
        }
    };
    let (status, body) = read(response).await;
    (status, body, replayed)
}

fn key(value: &str) -> Option<HeaderValue> {
    Some(HeaderValue::from_str(value).expect("a header value"))
}

/// Posts `body` as `user` with `key`, expecting 201; returns the id and
/// whether it was a replay.
async fn post_ok(app: &TestApp, user: &str, value: &str, body: Value) -> (String, bool) {
    let (status, answer, replayed) = post_keyed(app, user, key(value), body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (
        answer["data"]["id"].as_str().expect("id").to_owned(),
        replayed,
    )
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let db = app.store.connection();
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

const POST_MUTATION: &str =
    "mutation($input: PostMessageInput!) { postMessage(input: $input) { id text } }";

/// `postMessage` over GraphQL HTTP as `user`: the response's body.
async fn graphql_post(app: &TestApp, user: &str, input: Value) -> Value {
    let (_, body) = app
        .graphql(Some(user), POST_MUTATION, json!({ "input": input }))
        .await;
    body
}

async fn a_rest_retry_gets_the_first_answer_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"text": "hello #retry", "hashtags": ["first"]});
    let (first, replayed) = post_ok(&app, "alice", "order-7", body.clone()).await;
    assert!(!replayed, "the first answer is not a replay");
    let written = app.footprint().await;
    let keys = count(&app, "idempotency_keys").await;
    assert_eq!(keys, 1);

    let (again, replayed) = post_ok(&app, "alice", "order-7", body).await;
    assert_eq!(again, first, "the retry gets the first id");
    assert!(replayed, "the retry is marked Idempotent-Replayed: true");
    assert_eq!(app.footprint().await, written, "nothing more was written");
    assert_eq!(count(&app, "idempotency_keys").await, keys);
    let (_, listing) = app.get("/message?user_name=alice").await;
    assert_eq!(listing["data"]["messages"].as_array().unwrap().len(), 1);

    // A post without a key is written every time, as before.
    app.post_ok("alice", "hello #retry", &["first"]).await;
    app.post_ok("alice", "hello #retry", &["first"]).await;
    assert_eq!(app.footprint().await.messages, written.messages + 2);
}

async fn a_graphql_retry_over_http_and_websocket_gets_the_first_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let input = json!({"text": "over graphql", "hashtags": ["gql"], "idempotencyKey": "g-1"});
    let first = graphql_post(&app, "erin", input.clone()).await;
    let id = first["data"]["postMessage"]["id"].clone();
    assert!(id.is_string(), "{first}");
    let written = app.footprint().await;

    let again = graphql_post(&app, "erin", input).await;
    assert_eq!(again["data"]["postMessage"]["id"], id, "{again}");
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mutation = r#"mutation { postMessage(input: {text: "over graphql", hashtags: ["gql"], idempotencyKey: "g-1"}) { id } }"#;
        let payload = app.graphql_ws(protocol, Some("erin"), mutation).await;
        assert_eq!(
            payload["data"]["postMessage"]["id"], id,
            "{protocol}: {payload}"
        );
    }
    // The key is the user's, whichever face it came through: REST too.
    let (rest, replayed) = post_ok(
        &app,
        "erin",
        "g-1",
        json!({"text": "over graphql", "hashtags": ["gql"]}),
    )
    .await;
    // GraphQL answers a relay global id, `Message:<id>` in base64.
    let global = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.as_str().unwrap())
        .expect("a base64 global id");
    assert_eq!(
        String::from_utf8(global).unwrap(),
        format!("Message:{rest}")
    );
    assert!(replayed);
    assert_eq!(app.footprint().await, written, "nothing more was written");
}

async fn a_key_reused_for_another_body_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"text": "the first", "hashtags": ["a"]});
    post_ok(&app, "alice", "k", body).await;
    let written = app.footprint().await;

    for other in [
        json!({"text": "another text", "hashtags": ["a"]}),
        json!({"text": "the first", "hashtags": ["b"]}),
        json!({"text": "the first"}),
    ] {
        let (status, answer, replayed) = post_keyed(&app, "alice", key("k"), other).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(!replayed);
        let message = answer["error"].as_str().expect("an error message");
        assert!(
            message.starts_with("Idempotency-Key: this key was already used"),
            "{message}"
        );
    }
    let body = graphql_post(
        &app,
        "alice",
        json!({"text": "another text", "hashtags": ["a"], "idempotencyKey": "k"}),
    )
    .await;
    assert_eq!(error_codes(&body), ["IDEMPOTENCY_KEY_REUSED"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "idempotencyKey");
    assert_eq!(app.footprint().await, written, "nothing was written");
}

async fn keys_belong_to_their_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"text": "same key, two users"});
    let (alice, _) = post_ok(&app, "alice", "shared", body.clone()).await;
    let (bob, replayed) = post_ok(&app, "bob", "shared", body).await;
    assert_ne!(alice, bob);
    assert!(!replayed, "another user's key is another record");
    // Each retry gets its own user's message.
    let body = json!({"text": "same key, two users"});
    assert_eq!(
        post_ok(&app, "bob", "shared", body.clone()).await,
        (bob, true)
    );
    assert_eq!(post_ok(&app, "alice", "shared", body).await, (alice, true));
    assert_eq!(app.footprint().await.messages, 2);
}

async fn a_retry_on_another_server_gets_the_first_id(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let clock = TestClock::at(default_start());
    let mut first = TestApp::spawn_on(database.clone(), clock.clone(), |_| {}).await;
    let body = json!({"text": "across servers"});
    let (id, _) = post_ok(&first, "alice", "cross", body.clone()).await;

    // Another process on the same database, while the first runs...
    let second = TestApp::spawn_on(database.clone(), clock.clone(), |_| {}).await;
    let (again, replayed) = post_ok(&second, "alice", "cross", body.clone()).await;
    assert_eq!((again.as_str(), replayed), (id.as_str(), true));

    // ...and after it has stopped and a new one has started.
    first.stop().await;
    let third = TestApp::spawn_on(database, clock, |_| {}).await;
    let (again, replayed) = post_ok(&third, "alice", "cross", body).await;
    assert_eq!((again.as_str(), replayed), (id.as_str(), true));
    assert_eq!(third.footprint().await.messages, 1);
}

async fn concurrent_posts_with_one_key_write_one_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"text": "twenty at once", "hashtags": ["race"]});
    let answers = futures::future::join_all(
        (0..20).map(|_| post_keyed(&app, "alice", key("race-1"), body.clone())),
    )
    .await;
    let mut ids = Vec::new();
    let mut stored = 0;
    for (status, answer, replayed) in answers {
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        ids.push(answer["data"]["id"].as_str().expect("id").to_owned());
        stored += usize::from(!replayed);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer has the same id: {ids:?}");
    assert_eq!(stored, 1, "one answer is the write, the others replays");
    assert_eq!(app.footprint().await.messages, 1);
    assert_eq!(count(&app, "idempotency_keys").await, 1);
    // A post that lost the race to its own key is answered, not failed.
    assert_eq!(app.metric("dunder_failed_posts_total").await, 0);
}

async fn malformed_keys_are_refused_naming_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.footprint().await;
    let body = json!({"text": "a post"});
    for bad in [
        HeaderValue::from_static(""),
        HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        HeaderValue::from_bytes("café".as_bytes()).unwrap(),
        HeaderValue::from_static("tab\there"),
        HeaderValue::from_static("with space"),
    ] {
        let shown = format!("{bad:?}");
        let (status, answer, _) = post_keyed(&app, "alice", Some(bad), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{shown}: {answer}");
        let message = answer["error"].as_str().expect("an error message");
        assert!(
            message.starts_with("Idempotency-Key: "),
            "{shown}: {message}"
        );
    }
    // Sent twice: which one was meant is unknown.
    let response = app
        .client
        .post(app.url("/message"))
        .bearer_auth(token("alice"))
        .header("Idempotency-Key", "one")
        .header("Idempotency-Key", "two")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .starts_with("Idempotency-Key: "));

    let long = "k".repeat(256);
    for bad in [
        "",
        long.as_str(),
        "café",
        "bell\u{7}",
        "line\nbreak",
        "with space",
    ] {
        let body = graphql_post(
            &app,
            "alice",
            json!({"text": "a post", "idempotencyKey": bad}),
        )
        .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{bad:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "idempotencyKey");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("idempotencyKey: "), "{message}");
    }
    assert_eq!(app.footprint().await, before, "nothing was written");
    assert_eq!(count(&app, "idempotency_keys").await, 0);
}

async fn records_past_the_retention_are_deleted_and_younger_ones_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let start = default_start();
    let old = json!({"text": "an old post"});
    let (old_id, _) = post_ok(&app, "alice", "old", old.clone()).await;
    app.clock.set(start + Duration::hours(23));
    let young = json!({"text": "a younger post"});
    let (young_id, _) = post_ok(&app, "alice", "young", young.clone()).await;

    // Not yet 24 hours old: kept.
    app.clock
        .set(start + Duration::hours(24) - Duration::seconds(1));
    assert_eq!(
        app.store.delete_expired_idempotency_keys().await.unwrap(),
        0
    );
    assert_eq!(
        post_ok(&app, "alice", "old", old.clone()).await,
        (old_id, true)
    );

    app.clock
        .set(start + Duration::hours(24) + Duration::minutes(1));
    assert_eq!(
        app.store.delete_expired_idempotency_keys().await.unwrap(),
        1
    );
    assert_eq!(count(&app, "idempotency_keys").await, 1);
    // The old key is free again: a new post with it is written...
    let (new_id, replayed) = post_ok(&app, "alice", "old", json!({"text": "new"})).await;
    assert!(!replayed);
    assert_ne!(new_id, young_id);
    // ...while the younger one still answers its retries.
    assert_eq!(
        post_ok(&app, "alice", "young", young).await,
        (young_id, true)
    );
}

on_every_backend!(
    a_rest_retry_gets_the_first_answer_and_writes_nothing,
    a_graphql_retry_over_http_and_websocket_gets_the_first_message,
    a_key_reused_for_another_body_is_refused,
    keys_belong_to_their_user,
    a_retry_on_another_server_gets_the_first_id,
    concurrent_posts_with_one_key_write_one_message,
    malformed_keys_are_refused_naming_the_key,
    records_past_the_retention_are_deleted_and_younger_ones_kept,
);
