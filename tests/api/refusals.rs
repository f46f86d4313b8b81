//! Every refusal: the right 4xx, a message that names the problem, and
//! nothing written.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{read, token, Backend, TestApp};
use crate::on_every_backend;

/// Sends a POST with `authorization` and a raw body; checks the status, that
/// the error message contains `expected`, and that nothing was written.
async fn refused_post(
    app: &TestApp,
    authorization: Option<String>,
    body: String,
    status: StatusCode,
    expected: &str,
) {
    let before = app.footprint().await;
    let mut request = app.client.post(app.url("/message")).body(body);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let (got, answer) = read(request.send().await.unwrap()).await;
    assert_eq!(got, status, "{answer}");
    let message = answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {answer}"));
    assert!(
        message.contains(expected),
        "{message:?} should mention {expected:?}"
    );
    assert_eq!(
        app.footprint().await,
        before,
        "a refused post changed the database: {message}"
    );
}

fn bearer(user: &str) -> Option<String> {
    Some(format!("Bearer {}", token(user)))
}

fn post_body(text: &str, hashtags: &[&str]) -> String {
    json!({ "text": text, "hashtags": hashtags }).to_string()
}

async fn refused_posts_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Something is there already, so "unchanged" is not "empty".
    app.post_ok("alice", "before #first", &["x"]).await;
    let ok = post_body("fine", &[]);
    let unauthorized = StatusCode::UNAUTHORIZED;
    let bad = StatusCode::BAD_REQUEST;

    refused_post(
        &app,
        None,
        ok.clone(),
        unauthorized,
        "missing Authorization header",
    )
    .await;
    refused_post(
        &app,
        Some("Basic YWxpY2U=".into()),
        ok.clone(),
        unauthorized,
        "Bearer",
    )
    .await;
    refused_post(
        &app,
        Some("Bearer !!!".into()),
        ok.clone(),
        unauthorized,
        "base64",
    )
    .await;
    refused_post(
        &app,
        Some("Bearer ".into()),
        ok.clone(),
        unauthorized,
        "Bearer",
    )
    .await;

    refused_post(&app, bearer("bob"), post_body("   ", &[]), bad, "text").await;
    refused_post(
        &app,
        bearer("bob"),
        post_body(&"é".repeat(501), &[]),
        bad,
        "text: must be at most 500 characters",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body("nul \u{0} char", &[]),
        bad,
        "text",
    )
    .await;
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    refused_post(
        &app,
        bearer("bob"),
        post_body("many", &eleven),
        bad,
        "at most 10 hashtags",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body("mixed #a #b #c #d #e #f", &["g", "h", "i", "j", "k"]),
        bad,
        "at most 10 hashtags",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body("x", &["not ok"]),
        bad,
        "hashtags[0]",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body("x", &["ok", ""]),
        bad,
        "hashtags[1]",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body("x", &[&"a".repeat(65)]),
        bad,
        "longer than 64",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body(&format!("#{}", "b".repeat(65)), &[]),
        bad,
        "longer than 64",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        "{\"text\": ".into(),
        bad,
        "request body",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        "{\"hashtags\": []}".into(),
        bad,
        "missing field `text`",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        "{\"text\": 5}".into(),
        bad,
        "invalid type",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        "{\"text\": \"a\", \"hashtags\": \"a\"}".into(),
        bad,
        "invalid type",
    )
    .await;
    let huge = post_body(&"x".repeat(70 * 1024), &[]);
    refused_post(
        &app,
        bearer("bob"),
        huge,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than 65536 bytes",
    )
    .await;

    // Invisible and direction-control characters: in the token's name (a
    // bad token), in a hashtag, in a #tag of the text.
    refused_post(
        &app,
        bearer("alice\u{200b}"),
        ok.clone(),
        unauthorized,
        "U+200B (zero-width space)",
    )
    .await;
    refused_post(
        &app,
        bearer("\u{202e}ecila"),
        ok.clone(),
        unauthorized,
        "invisible or direction-control",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body("fine", &["ru\u{2066}st"]),
        bad,
        "hashtags[0]: hashtag #ru\\u{2066}st must not contain invisible or direction-control characters (found U+2066 (bidirectional isolate))",
    )
    .await;
    refused_post(
        &app,
        bearer("bob"),
        post_body("about #rust\u{34f}", &[]),
        bad,
        "text: hashtag #rust\u{34f} must not contain invisible",
    )
    .await;

    // A text of exactly 500 characters (after trimming) is fine.
    app.post_ok("bob", &format!("  {}  ", "é".repeat(500)), &[])
        .await;
}

/// Sends a GET and checks the status and that the error names `expected`.
async fn refused_get(app: &TestApp, path: &str, status: StatusCode, expected: &str) {
    let (got, body): (StatusCode, Value) = app.get(path).await;
    assert_eq!(got, status, "{path}: {body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no error: {body}"));
    assert!(
        message.contains(expected),
        "{path}: {message:?} should mention {expected:?}"
    );
}

async fn refused_queries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bad = StatusCode::BAD_REQUEST;
    for limit in ["0", "1001", "abc", "-5", "1.5"] {
        refused_get(&app, &format!("/message?limit={limit}"), bad, "limit").await;
    }
    for date in [
        "yesterday",
        "2019-13-01",
        "2019-09-23T25:00:00Z",
        "23/09/2019",
    ] {
        refused_get(
            &app,
            &format!("/message?from_date={date}"),
            bad,
            "from_date",
        )
        .await;
        refused_get(&app, &format!("/message?to_date={date}"), bad, "to_date").await;
    }
    refused_get(
        &app,
        "/message?from_date=2019-09-24&to_date=2019-09-23",
        bad,
        "to_date",
    )
    .await;
    refused_get(&app, "/message?cursor=nope", bad, "cursor").await;
    refused_get(&app, "/message?hashtag=no%20way", bad, "hashtag").await;
    refused_get(&app, "/message?user_name=%20x", bad, "user_name").await;
    refused_get(
        &app,
        "/message?user_name=alice%E2%80%8B",
        bad,
        "user_name: must not contain invisible or direction-control characters (found U+200B (zero-width space))",
    )
    .await;
    refused_get(&app, "/message?hashtag=rust%E2%80%AE", bad, "hashtag").await;
    refused_get(
        &app,
        &format!(
            "/trend?{}&aggregation=1m&hashtag=%E2%80%8Brust",
            "from_date=2019-09-23&to_date=2019-09-24"
        ),
        bad,
        "U+200B",
    )
    .await;
    refused_get(&app, "/message/not-an-id", bad, "id").await;
    refused_get(&app, "/message?ulid=123", bad, "ulid").await;

    let range = "from_date=2019-09-23&to_date=2019-09-24";
    refused_get(
        &app,
        &format!("/trend?{range}"),
        bad,
        "aggregation: is required",
    )
    .await;
    refused_get(
        &app,
        "/trend?to_date=2019-09-24&aggregation=1m",
        bad,
        "from_date: is required",
    )
    .await;
    refused_get(
        &app,
        "/trend?from_date=2019-09-24&aggregation=1m",
        bad,
        "to_date: is required",
    )
    .await;
    for aggregation in ["30s", "90s", "0", "1x", "-1m", "abc"] {
        refused_get(
            &app,
            &format!("/trend?{range}&aggregation={aggregation}"),
            bad,
            "aggregation",
        )
        .await;
    }
    refused_get(
        &app,
        "/trend?from_date=2000-01-01&to_date=2020-01-01&aggregation=1m",
        bad,
        "at most 10000",
    )
    .await;
    refused_get(
        &app,
        "/trend?from_date=2019-09-24&to_date=2019-09-23&aggregation=1m",
        bad,
        "to_date",
    )
    .await;
    refused_get(
        &app,
        &format!("/trend?{range}&aggregation=1m&hashtag=a-b"),
        bad,
        "hashtag",
    )
    .await;

    // The limits themselves are accepted.
    let (status, _) = app.get("/message?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get("/trend?from_date=2019-09-23&to_date=2019-09-29T22:40:00Z&aggregation=1m")
        .await;
    assert_eq!(status, StatusCode::OK, "exactly 10000 one-minute buckets");
}

on_every_backend!(refused_posts_write_nothing, refused_queries);
