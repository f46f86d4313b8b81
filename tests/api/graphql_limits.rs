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

/// POSTs `batch` (a JSON array of operations) to `/graphql`.
async fn send_batch(app: &TestApp, batch: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("Accept", "application/graphql-response+json")
        .json(batch)
        .send()
        .await
        .unwrap();
    read(response).await
}

/// Every one of the twelve limits follows its setting: set low, each
/// refuses a document just past it with its own code, and lets one at it
/// through. The limits are set together, so each refused document stays
/// within every other limit (the test would see the wrong code otherwise).
/// SQLite only: the limits are checked before anything is read (the default
/// settings' refusals run on both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_configurable_on_sqlite() {
    let database = Arc::new(TestDatabase::create(Backend::Sqlite).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        let limits = &mut flags.graphql;
        limits.max_query_bytes = Some(200);
        limits.max_tokens = Some(30);
        limits.max_depth = Some(3);
        limits.max_introspection_depth = Some(2);
        limits.max_value_depth = Some(1);
        limits.max_fields = Some(5);
        limits.max_aliases = Some(2);
        limits.max_directives = Some(1);
        limits.max_document_directives = Some(2);
        limits.max_complexity = Some(10);
        limits.max_request_complexity = Some(10);
        limits.max_batch = Some(2);
    })
    .await;
    let accepted = |query: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app.graphql(None, query, json!({})).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            assert!(body.get("errors").is_none(), "{query}: {body}");
        }
    };

    // graphql.max_query_bytes: 200 bytes pass, 201 do not.
    let sized = |bytes: usize| format!("{{ __typename }}{}", " ".repeat(bytes - 14));
    let (status, body) = app.graphql(None, &sized(200), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refused(&app, &sized(201), "QUERY_TOO_LARGE").await;

    // graphql.max_tokens: every name, punctuator and value is one token;
    // this page with a full filter is 30, and one more field makes 31.
    let filtered = |fields: &str| {
        format!(
            "{{ messages(first: 1, filter: {{hashtag: \"x\", userName: \"y\", \
             fromDate: \"2019-09-23T00:00:00Z\", toDate: \"2019-09-24T00:00:00Z\"}}) \
             {{ pageInfo {{ {fields} }} }} }}"
        )
    };
    let (status, body) = app.graphql(None, &filtered("hasNextPage"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refused(
        &app,
        &filtered("hasNextPage hasPreviousPage"),
        "TOO_MANY_TOKENS",
    )
    .await;

    // graphql.max_depth: three levels pass, four do not.
    accepted("{ messages(first: 1) { pageInfo { hasNextPage } } }").await;
    refused(
        &app,
        "{ messages(first: 1) { edges { node { id } } } }",
        "QUERY_TOO_DEEP",
    )
    .await;

    // graphql.max_introspection_depth: two levels below the root pass
    // (`__type`, `name`), three do not (`__schema`, `queryType`, `name`).
    accepted("{ __type(name: \"Query\") { name } }").await;
    refused(
        &app,
        "{ __schema { queryType { name } } }",
        "INTROSPECTION_TOO_DEEP",
    )
    .await;

    // graphql.max_value_depth: an input object passes, a list in a list
    // does not.
    accepted("{ messages(first: 1, filter: {hashtag: \"x\"}) { pageInfo { hasNextPage } } }").await;
    refused(
        &app,
        "{ messages(first: 1, filter: {hashtag: [[\"x\"]]}) { pageInfo { hasNextPage } } }",
        "VALUES_TOO_DEEP",
    )
    .await;

    // graphql.max_fields: five fields pass, six do not.
    accepted("{ messages(first: 1) { pageInfo { hasNextPage hasPreviousPage startCursor } } }")
        .await;
    refused(
        &app,
        "{ messages(first: 1) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }",
        "TOO_MANY_FIELDS",
    )
    .await;

    // graphql.max_aliases: two root fields pass, three do not.
    accepted("{ a: __typename b: __typename }").await;
    refused(
        &app,
        "{ a: __typename b: __typename c: __typename }",
        "TOO_MANY_ALIASES",
    )
    .await;

    // graphql.max_directives: one on a field passes, two do not.
    accepted("{ __typename @include(if: true) }").await;
    refused(
        &app,
        "{ __typename @include(if: true) @skip(if: false) }",
        "TOO_MANY_DIRECTIVES",
    )
    .await;

    // graphql.max_document_directives: two in the document pass (one per
    // field), three do not.
    accepted("{ a: __typename @include(if: true) b: __typename @skip(if: false) }").await;
    refused(
        &app,
        "{ messages(first: 1) @include(if: true) { pageInfo @include(if: true) { hasNextPage @include(if: true) } } }",
        "TOO_MANY_DOCUMENT_DIRECTIVES",
    )
    .await;

    // graphql.max_complexity: a connection costs its page size times its
    // children (here 2): five items cost 10 and pass, six cost 12.
    accepted("{ messages(first: 5) { pageInfo { hasNextPage } } }").await;
    refused(
        &app,
        "{ messages(first: 6) { pageInfo { hasNextPage } } }",
        "QUERY_TOO_COMPLEX",
    )
    .await;

    // graphql.max_request_complexity: a batch costing 4 + 6 passes, one
    // costing 6 + 6 does not, though each operation is within its own
    // limit. graphql.max_batch: two operations pass, three do not.
    let operation = |first: u32| json!({"query": format!("{{ messages(first: {first}) {{ pageInfo {{ hasNextPage }} }} }}")});
    let (status, body) = send_batch(&app, &json!([operation(2), operation(3)])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    let (status, body) = send_batch(&app, &json!([operation(3), operation(3)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_codes(&body), ["REQUEST_TOO_COMPLEX"], "{body}");
    let (status, body) = send_batch(&app, &json!([operation(1), operation(1), operation(1)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_codes(&body), ["BATCH_TOO_LARGE"], "{body}");
}

/// A page of 100 messages with their users and hashtags costs one
/// statement, plus one the first time a name in its filter is looked up
/// (ids by name are cached: they never change); twenty messages named by id
/// are loaded in one statement; a REST page is one statement too. The
/// pages are read from a second server on the same database, which wrote
/// nothing, so its names start cold; the server that wrote the posts knows
/// its names from writing them.
async fn no_n_plus_one(backend: Backend) {
    // No relay: on PostgreSQL its LISTEN side would read the posts'
    // notifications back and count statements while this test measures.
    // With it off, nothing but the request under test touches the
    // database, so the counts below are exact.
    let database = Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database.clone(), TestClock::at(default_start()), |flags| {
        flags.live_relay = Some(RelayMode::Off);
    })
    .await;
    let reader = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
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
    let statements = || reader.metric("dunder_sql_statements_total");
    let page = "{ messages(first: 100, filter: {hashtag: \"all\"}) {
                   edges { cursor node { id text hashtags createdAt user { id name } } }
                   pageInfo { hasNextPage hasPreviousPage } } }";

    let before = statements().await;
    let data = reader.graphql_data(page, json!({})).await;
    let used = statements().await - before;
    let edges = data["messages"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 100);
    assert!(edges
        .iter()
        .all(|e| e["node"]["hashtags"].as_array().unwrap().len() == 2));
    // The hashtag's id (the first time it is asked for), the page with its
    // users and hashtags.
    assert_eq!(used, 2, "a first page of 100 took {used} statements");
    let before = statements().await;
    let again = reader.graphql_data(page, json!({})).await;
    let used = statements().await - before;
    assert_eq!(again, data);
    assert_eq!(
        used, 1,
        "a page of 100 with its name cached took {used} statements"
    );

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
    let data = reader
        .graphql_data(&format!("{{ {lookups} }}"), json!({}))
        .await;
    let used = statements().await - before;
    assert!(data["m19"]["text"].is_string());
    // The messages with their hashtags.
    assert_eq!(used, 1, "twenty lookups took {used} statements");
    // With no filter there is no name to look up: the page alone.
    let before = statements().await;
    reader
        .graphql_data(
            "{ messages(first: 5) { edges { node { text } } } }",
            json!({}),
        )
        .await;
    let used = statements().await - before;
    assert_eq!(used, 1, "an unfiltered page took {used} statements");

    // REST: the name the first time, then the page alone.
    for (round, expected) in [(1, 2), (2, 1), (3, 1)] {
        let before = statements().await;
        let (status, body) = reader.get("/message?hashtag=tag3&limit=20").await;
        let used = statements().await - before;
        assert_eq!(status, StatusCode::OK, "{body}");
        let messages = body["data"]["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 20, "{body}");
        assert_eq!(used, expected, "REST page {round} took {used} statements");
    }

    // A name nobody has used is looked up every time, not remembered as
    // absent: once a post carries it, the next page shows that post.
    for _ in 0..2 {
        let before = statements().await;
        let (status, body) = reader.get("/message?hashtag=fresh&limit=20").await;
        let used = statements().await - before;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["messages"], json!([]), "{body}");
        assert_eq!(used, 1, "an unknown hashtag took {used} statements");
    }
    app.post_ok("user1", "now #fresh", &[]).await;
    let before = statements().await;
    let (status, body) = reader.get("/message?hashtag=fresh&limit=20").await;
    let used = statements().await - before;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["messages"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    assert_eq!(used, 2, "a newly created hashtag took {used} statements");
    // The server that wrote it knows it already: the page alone.
    let before = app.metric("dunder_sql_statements_total").await;
    let (status, body) = app.get("/message?hashtag=fresh&limit=20").await;
    let used = app.metric("dunder_sql_statements_total").await - before;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        used, 1,
        "a hashtag this server wrote took {used} statements"
    );
}

on_every_backend!(every_limit_is_refused_with_its_code, no_n_plus_one);
