//! GraphQL limits, each refused with its code, each configurable; the body
//! limit on /graphql; and the statement count of a page (no N+1).

use std::sync::Arc;

use dunder::config::RelayMode;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    default_start, error_codes, post_raw, read, Backend, TestApp, TestClock, TestDatabase,
};
use crate::on_every_backend;

/// Sends `query` and expects a request error with `code`.
async fn refused(app: &TestApp, query: &str, code: &str) {
    let (status, body) = app.graphql(None, query, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_codes(&body), [code], "{body}");
}

fn nested(levels: usize) -> String {
    let mut query = String::from("name");
    for _ in 0..levels {
        query = format!("messages(first: 1) {{ edges {{ node {{ user {{ {query} }} }} }} }}");
    }
    format!("{{ {query} }}")
}

async fn every_limit_is_refused_with_its_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Depth: each level of `nested` is four selections deep.
    assert!(app
        .graphql(None, &nested(2), json!({}))
        .await
        .1
        .get("errors")
        .is_none());
    refused(&app, &nested(4), "QUERY_TOO_DEEP").await;
    // Complexity counts page sizes: 100 × 100 messages is far over 5000.
    refused(
        &app,
        "{ messages(first: 100) { edges { node { user { messages(first: 100) { edges { node { id } } } } } } } }",
        "QUERY_TOO_COMPLEX",
    )
    .await;
    // Aliases and root fields.
    let aliases: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
    refused(&app, &format!("{{ {aliases} }}"), "TOO_MANY_ALIASES").await;
    // Directives on one field.
    let directives = "@include(if: true) ".repeat(11);
    refused(
        &app,
        &format!("{{ __typename {directives} }}"),
        "TOO_MANY_DIRECTIVES",
    )
    .await;
    // Query text size.
    let padding = " ".repeat(17_000);
    refused(
        &app,
        &format!("{{ __typename {padding} }}"),
        "QUERY_TOO_LARGE",
    )
    .await;
    // Batches.
    let batch: Vec<Value> = (0..11)
        .map(|_| json!({"query": "{ __typename }"}))
        .collect();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(&body), ["BATCH_TOO_LARGE"]);
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch[..3])
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([{"data": {"__typename": "Query"}}, {"data": {"__typename": "Query"}}, {"data": {"__typename": "Query"}}])
    );

    // The body limit holds for /graphql too, even for an 8 MiB body: 413
    // before the body is read.
    let huge = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(8 * 1024 * 1024)) });
    let (status, body) = post_raw(
        &app,
        "/graphql",
        "application/json",
        huge.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_codes(&body), ["PAYLOAD_TOO_LARGE"]);
}

/// Every limit follows its setting. SQLite only: the limits are checked
/// before anything is read (the default settings' refusals run on both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_configurable_on_sqlite() {
    let database = Arc::new(TestDatabase::create(Backend::Sqlite).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.graphql.max_depth = Some(3);
        flags.graphql.max_complexity = Some(10);
        flags.graphql.max_aliases = Some(2);
        flags.graphql.max_directives = Some(1);
        flags.graphql.max_batch = Some(1);
        flags.graphql.max_query_bytes = Some(200);
    })
    .await;
    refused(
        &app,
        "{ messages(first: 1) { edges { node { id } } } }",
        "QUERY_TOO_DEEP",
    )
    .await;
    refused(
        &app,
        "{ messages(first: 11) { pageInfo { hasNextPage } } }",
        "QUERY_TOO_COMPLEX",
    )
    .await;
    refused(
        &app,
        "{ a: __typename b: __typename c: __typename }",
        "TOO_MANY_ALIASES",
    )
    .await;
    refused(
        &app,
        "{ __typename @include(if: true) @skip(if: false) }",
        "TOO_MANY_DIRECTIVES",
    )
    .await;
    refused(
        &app,
        &format!("{{ __typename {} }}", " ".repeat(200)),
        "QUERY_TOO_LARGE",
    )
    .await;
    let batch = json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}]);
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Within every limit.
    let (status, body) = app
        .graphql(
            None,
            "{ messages(first: 2) { pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A page of 100 messages with their users and hashtags costs a constant,
/// small number of statements; twenty messages named by id are loaded in
/// one batch.
async fn no_n_plus_one(backend: Backend) {
    // No relay: on PostgreSQL its LISTEN side would read the posts'
    // notifications back and count statements while this test measures.
    // With it off, nothing but the request under test touches the
    // database, so the counts below are exact.
    let database = Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_relay = Some(RelayMode::Off);
    })
    .await;
    for i in 0..100 {
        app.post_ok(
            &format!("user{}", i % 7),
            &format!("n{i} #tag{}", i % 5),
            &["all"],
        )
        .await;
    }
    let statements = || app.metric("dunder_sql_statements_total");

    let before = statements().await;
    let data = app
        .graphql_data(
            "{ messages(first: 100, filter: {hashtag: \"all\"}) {
                 edges { cursor node { id text hashtags createdAt user { id name } } }
                 pageInfo { hasNextPage hasPreviousPage } } }",
            json!({}),
        )
        .await;
    let used = statements().await - before;
    let edges = data["messages"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 100);
    assert!(edges
        .iter()
        .all(|e| e["node"]["hashtags"].as_array().unwrap().len() == 2));
    // Hashtag id, the page, its hashtags.
    assert_eq!(used, 3, "a page of 100 took {used} statements");

    let ids: Vec<&str> = edges
        .iter()
        .take(20)
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    let lookups: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("m{i}: node(id: \"{id}\") {{ ... on Message {{ text hashtags user {{ name }} }} }} "))
        .collect();
    let before = statements().await;
    let data = app
        .graphql_data(&format!("{{ {lookups} }}"), json!({}))
        .await;
    let used = statements().await - before;
    assert!(data["m19"]["text"].is_string());
    // The messages, their hashtags.
    assert_eq!(used, 2, "twenty lookups took {used} statements");
    // With no filter there is no name to look up: the page and its
    // hashtags (the store reads them with every page).
    let before = statements().await;
    app.graphql_data(
        "{ messages(first: 5) { edges { node { text } } } }",
        json!({}),
    )
    .await;
    let used = statements().await - before;
    assert_eq!(used, 2, "an unfiltered page took {used} statements");
}

on_every_backend!(every_limit_is_refused_with_its_code, no_n_plus_one);
