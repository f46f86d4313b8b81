//! Hostile GraphQL documents, one test per kind of attack: each is sent by
//! several clients at once, each is refused with its code, and the server
//! keeps answering `/healthz` promptly while they are refused.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{default_start, error_codes, read, token, Backend, TestApp, TestDatabase};
use crate::on_every_backend;

/// Clients sending the attack at once, and how many times each sends it.
const CLIENTS: usize = 4;
const ROUNDS: usize = 5;
/// How long `/healthz` may take while the server is under attack: a
/// liveness bound, not a speed target (the hostile-clients benchmark has
/// the figures). The attacks this guards against froze the server for a
/// minute; on two cores shared with the rest of the suite a sound server
/// answered in up to 2 s, so the bound leaves room above that.
const HEALTHY: Duration = Duration::from_secs(5);

/// Sends `body` to `POST /graphql` from [`CLIENTS`] clients at once,
/// [`ROUNDS`] times each (as `user` when given), probing `/healthz` all the
/// while; returns every answer.
pub async fn flood(app: &TestApp, user: Option<&str>, body: Value) -> Vec<(StatusCode, Value)> {
    let url = app.url("/graphql");
    let authorization = user.map(|user| format!("Bearer {}", token(user)));
    let attackers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = reqwest::Client::new();
            let (url, body, authorization) = (url.clone(), body.clone(), authorization.clone());
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(ROUNDS);
                for _ in 0..ROUNDS {
                    let mut request = client
                        .post(&url)
                        .header("Accept", "application/graphql-response+json")
                        .json(&body);
                    if let Some(authorization) = &authorization {
                        request = request.header("Authorization", authorization);
                    }
                    answers.push(read(request.send().await.expect("POST /graphql")).await);
                }
                answers
            })
        })
        .collect();
    stays_healthy(app, || attackers.iter().all(|a| a.is_finished())).await;
    let mut answers = Vec::new();
    for attacker in attackers {
        answers.extend(attacker.await.expect("attacker task"));
    }
    answers
}

/// Probes `/healthz` until `done`, at least once; each probe must answer
/// within [`HEALTHY`].
pub async fn stays_healthy(app: &TestApp, done: impl Fn() -> bool) {
    let probe = reqwest::Client::new();
    let mut probes = 0;
    let mut slowest = Duration::ZERO;
    loop {
        let started = Instant::now();
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            probe.get(app.url("/healthz")).send(),
        )
        .await
        .expect("/healthz answers under attack")
        .expect("GET /healthz");
        assert_eq!(response.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        probes += 1;
        if done() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        slowest < HEALTHY,
        "/healthz took {slowest:?} under attack ({probes} probes)"
    );
}

/// Every answer is a request error with `code` alone.
fn all_refused(answers: &[(StatusCode, Value)], code: &str) {
    assert_eq!(answers.len(), CLIENTS * ROUNDS);
    for (status, body) in answers {
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_codes(body), [code], "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }
}

fn query(text: &str) -> Value {
    json!({ "query": text })
}

async fn refusals(app: &TestApp, code: &str) -> u64 {
    app.metric(&format!(
        "dunder_refusals_total{{reason=\"{}\"}}",
        code.to_ascii_lowercase()
    ))
    .await
}

/// Under 1 KB: each of 26 fragments spreads the next twice, 2^25 fields
/// once expanded. It used to keep a core busy for a minute.
async fn fragment_fan_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut text = String::from("{...F0}");
    for i in 0..25 {
        text.push_str(&format!(
            "fragment F{i} on Query{{...F{} ...F{}}}",
            i + 1,
            i + 1
        ));
    }
    text.push_str("fragment F25 on Query{__typename}");
    assert!(text.len() < 1024);
    let answers = flood(&app, None, query(&text)).await;
    all_refused(&answers, "TOO_MANY_FIELDS");
    let message = answers[0].1["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("33554432") && message.contains("graphql.max_fields"),
        "{message}"
    );
    assert_eq!(refusals(&app, "TOO_MANY_FIELDS").await, 20);
}

/// Selections nested as deep as 16 KiB allows: refused before any parser
/// recurses into them.
async fn deep_nesting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let levels = 16_000 / 3;
    let text = format!("{}{}", "{a".repeat(levels), "}".repeat(levels));
    assert!(text.len() <= 16_384);
    let answers = flood(&app, None, query(&text)).await;
    all_refused(&answers, "QUERY_TOO_DEEP");
    // Deep through fragments (fourteen fields), each within the lexical
    // limit.
    let through_fragments = "{ messages { edges { node { ...A } } } }
        fragment A on Message { user { messages { edges { node { ...B } } } } }
        fragment B on Message { user { messages { edges { node { user { name } } } } } }";
    let (status, body) = app.graphql(None, through_fragments, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_codes(&body), ["QUERY_TOO_DEEP"], "{body}");
}

/// A document of tokens: one field repeated as long as 16 KiB allows.
async fn many_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let text = format!("{{ message(id: \"x\") {{ {} }} }}", "id ".repeat(5_400));
    assert!(text.len() <= 16_384);
    all_refused(&flood(&app, None, query(&text)).await, "TOO_MANY_TOKENS");
}

/// Lists nested deep, in an argument and in a variable.
async fn deep_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deep = format!("{}\"x\"{}", "[".repeat(2_000), "]".repeat(2_000));
    let text = format!("{{ trendingHashtags(window: {deep}) {{ count }} }}");
    all_refused(&flood(&app, None, query(&text)).await, "VALUES_TOO_DEEP");

    let mut value = json!("x");
    for _ in 0..100 {
        value = json!([value]);
    }
    let body = json!({
        "query": "query($w: String) { trendingHashtags(window: $w) { count } }",
        "variables": {"w": value},
    });
    all_refused(&flood(&app, None, body).await, "VALUES_TOO_DEEP");
}

/// Directives: many on one field, and a few on each of many fields.
async fn many_directives(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let on_one = format!(
        "{{ messages {{ edges {{ cursor {} }} }} }}",
        "@include(if: true) ".repeat(11)
    );
    all_refused(
        &flood(&app, None, query(&on_one)).await,
        "TOO_MANY_DIRECTIVES",
    );
    let on_many = format!(
        "{{ messages {{ edges {{ {} }} }} }}",
        "cursor @include(if: true) @skip(if: false) ".repeat(26)
    );
    let answers = flood(&app, None, query(&on_many)).await;
    all_refused(&answers, "TOO_MANY_DOCUMENT_DIRECTIVES");
    let message = answers[0].1["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("graphql.max_document_directives"),
        "{message}"
    );
}

/// Thirty trends of 10,000 buckets each, and thirty lists of 100 hashtags:
/// each within the alias limit, each refused for what it would return.
async fn costly_lists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let trends: String = (0..30)
        .map(|i| {
            format!(
                "t{i}: trend(fromDate: \"2000-01-01T00:00:00Z\", toDate: \"2000-01-07T22:40:00Z\", aggregation: \"1m\") {{ fromDate toDate count }} "
            )
        })
        .collect();
    let answers = flood(&app, None, query(&format!("{{ {trends} }}"))).await;
    all_refused(&answers, "QUERY_TOO_COMPLEX");
    let message = answers[0].1["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("graphql.max_complexity"), "{message}");
    // The buckets come from variables too.
    let body = json!({
        "query": "query($from: DateTime!, $to: DateTime!, $a: String!) { a: trend(fromDate: $from, toDate: $to, aggregation: $a) { count } b: trend(fromDate: $from, toDate: $to, aggregation: $a) { count } }",
        "variables": {"from": "2000-01-01T00:00:00Z", "to": "2000-01-07T22:40:00Z", "a": "1m"},
    });
    all_refused(&flood(&app, None, body).await, "QUERY_TOO_COMPLEX");
    // A day by the hour is cheap.
    app.graphql_data(
        "{ trend(fromDate: \"2019-09-23T00:00:00Z\", toDate: \"2019-09-24T00:00:00Z\", aggregation: \"1h\") { count } }",
        json!({}),
    )
    .await;

    let trending: String = (0..30)
        .map(|i| {
            format!("h{i}: trendingHashtags(window: \"24h\", first: 100) {{ hashtag count }} ")
        })
        .collect();
    all_refused(
        &flood(&app, None, query(&format!("{{ {trending} }}"))).await,
        "QUERY_TOO_COMPLEX",
    );
}

/// Ten operations of thirty aliased posts in one request: refused as a
/// whole before any of it runs, nothing written; by its cost, and by the
/// write rate limit when that is on.
async fn batch_of_posts(backend: Backend) {
    let posts: String = (0..30)
        .map(|i| format!("p{i}: postMessage(input: {{text: \"spam {i}\"}}) {{ id }} "))
        .collect();
    let batch = Value::Array(vec![query(&format!("mutation {{ {posts} }}")); 10]);

    let app = TestApp::spawn(backend).await;
    let before = app.footprint().await;
    let answers = flood(&app, Some("spammer"), batch.clone()).await;
    assert_eq!(answers.len(), CLIENTS * ROUNDS);
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_codes(body), ["REQUEST_TOO_COMPLEX"], "{body}");
    }
    assert_eq!(
        app.footprint().await,
        before,
        "a refused batch wrote nothing"
    );
    // One operation of thirty posts is within its own cost.
    let (status, body) = app
        .graphql(
            Some("poster"),
            &format!("mutation {{ {posts} }}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["p29"]["id"].is_string(), "{body}");

    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(
        database,
        crate::helpers::TestClock::at(default_start()),
        |flags| flags.rate_limit.writes_per_user = Some(100),
    )
    .await;
    let before = app.footprint().await;
    let answers = flood(&app, Some("spammer"), batch).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(error_codes(body), ["RATE_LIMITED"], "{body}");
    }
    assert_eq!(
        app.footprint().await,
        before,
        "a refused batch wrote nothing"
    );
}

on_every_backend!(
    fragment_fan_out,
    deep_nesting,
    many_tokens,
    deep_values,
    many_directives,
    costly_lists,
    batch_of_posts,
);
