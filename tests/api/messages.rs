//! Posting and reading single messages: the historical curl session, the
//! exact JSON shapes, and what asking for a message that does not exist
//! answers.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_codes, token, Backend, TestApp};
use crate::on_every_backend;

/// The session the README shows: two posts, a listing by hashtag, trends.
async fn historical_curl_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app
        .post_ok("alice", "Hello #dunder, first post", &["golang"])
        .await;
    app.clock.set("2019-09-23T10:00:30Z".parse().unwrap());
    let second = app.post_ok("bob", "Second post", &["Dunder", "rust"]).await;

    let (status, body) = app.get("/message?hashtag=dunder").await;
    assert_eq!(status, StatusCode::OK);
    let messages = body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    // Newest first, hashtags in the order written, the tag shown as first written.
    assert_eq!(messages[0]["id"], second);
    assert_eq!(messages[0]["user"]["name"], "bob");
    assert_eq!(messages[0]["hashtags"], json!(["dunder", "rust"]));
    assert_eq!(messages[1]["id"], first);
    assert_eq!(messages[1]["text"], "Hello #dunder, first post");
    assert_eq!(messages[1]["hashtags"], json!(["golang", "dunder"]));
    assert_eq!(messages[1]["created_at"], "2019-09-23T10:00:00.000000Z");
    assert!(messages[1]["user"]["id"].is_i64());
    assert!(body["data"]["next_cursor"].is_string());

    let (status, body) = app
        .get("/trend?hashtag=dunder&from_date=2019-09-23&to_date=2019-09-24&aggregation=1m")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"data": {"trends": [{
            "from_date": "2019-09-23T10:00:00.000000Z",
            "to_date": "2019-09-23T10:01:00.000000Z",
            "count": 2
        }]}})
    );
}

/// The exact shape of a message, by id and by the historical `?ulid=`.
async fn one_message_by_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.post_ok("carol", "  spaced  #One ", &["#two"]).await;
    let (status, by_path) = app.get(&format!("/message/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let user_id = by_path["data"]["message"]["user"]["id"].clone();
    assert_eq!(
        by_path,
        json!({"data": {"message": {
            "id": id,
            "user": {"id": user_id, "name": "carol"},
            "text": "spaced  #One",
            "hashtags": ["two", "One"],
            "created_at": "2019-09-23T10:00:00.000000Z"
        }}})
    );
    let (status, by_query) = app
        .get(&format!("/message?ulid={}", id.to_lowercase()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_query, by_path);

    let missing = ulid::Ulid::new().to_string();
    let (status, body) = app.get(&format!("/message/{missing}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], format!("no message with id {missing}"));
    let (status, _) = app.get(&format!("/message?ulid={missing}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Users are created on first use and keep their id; tags match whatever
/// their case, and `curl -d` without a JSON content type works.
async fn users_and_tags_are_reused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.post_ok("dave", "one #Rust", &[]).await;
    app.post_ok("dave", "two", &["RUST"]).await;
    let response = app
        .client
        .post(app.url("/message"))
        .header("Authorization", format!("Bearer {}", token("erin")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(r#"{"text": "three", "hashtags": ["rust"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    let footprint = app.footprint().await;
    assert_eq!(
        (footprint.users, footprint.hashtags, footprint.messages),
        (2, 1, 3)
    );
    let (_, body) = app.get("/message?hashtag=rUsT").await;
    let messages = body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| m["hashtags"] == json!(["Rust"])));
    assert_eq!(messages[1]["user"]["id"], messages[2]["user"]["id"]);
}

/// A message that does not exist: REST answers 404 with its id, by path
/// and by `?ulid=`, and 404 for a route that does not exist. GraphQL's
/// lookups answer null without an error, as the schema documents ("null
/// when there is none"): no GraphQL field answers `NOT_FOUND`.
async fn a_missing_message_is_404_over_rest_and_null_over_graphql(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Something is stored, so "missing" is not "empty".
    app.post_ok("alice", "present", &[]).await;
    let missing = ulid::Ulid::new().to_string();

    let expected = json!({"error": format!("no message with id {missing}")});
    assert_eq!(
        app.get(&format!("/message/{missing}")).await,
        (StatusCode::NOT_FOUND, expected.clone())
    );
    assert_eq!(
        app.get(&format!("/message?ulid={}", missing.to_lowercase()))
            .await,
        (StatusCode::NOT_FOUND, expected)
    );
    assert_eq!(
        app.get(&format!("/message/{missing}/replies")).await,
        (
            StatusCode::NOT_FOUND,
            json!({"error": format!("no route for GET /message/{missing}/replies")})
        )
    );

    let global = |plain: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(plain);
    let query = format!(
        "{{ plain: message(id: \"{missing}\") {{ id }}
            global: message(id: \"{message}\") {{ id }}
            message: node(id: \"{message}\") {{ id }}
            user: node(id: \"{user}\") {{ id }}
            named: user(name: \"nobody\") {{ id }} }}",
        message = global(format!("Message:{missing}")),
        user = global("User:999999".to_owned()),
    );
    let (status, body) = app.graphql(None, &query, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"data": {"plain": null, "global": null, "message": null, "user": null, "named": null}})
    );
    // An id that cannot name anything is the client's input, with its field.
    let (_, body) = app
        .graphql(None, "{ message(id: \"garbage\") { id } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "id");
}

/// Two spellings of one name that a reader cannot tell apart (a precomposed
/// `é`, or `e` and a combining accent) are one user and one hashtag: one
/// listing, one trend, over REST and GraphQL; invisible characters are
/// refused with the field named, over GraphQL too.
async fn canonically_equal_names_are_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.post_ok("Jos\u{e9}", "at the #Caf\u{e9}", &[]).await;
    let second = app.post_ok("Jose\u{301}", "again", &["CAFE\u{301}"]).await;
    for query in [
        "user_name=Jose%CC%81",
        "user_name=Jos%C3%A9",
        "hashtag=caf%C3%A9",
        "hashtag=cafe%CC%81",
    ] {
        let (status, body) = app.get(&format!("/message?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let messages = body["data"]["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2, "{query}: {body}");
        assert_eq!(messages[0]["id"], second);
        assert_eq!(messages[1]["id"], first);
        assert_eq!(messages[0]["user"], messages[1]["user"], "one user");
        assert_eq!(messages[0]["user"]["name"], "Jos\u{e9}");
        assert_eq!(
            messages[0]["hashtags"],
            json!(["Caf\u{e9}"]),
            "the first spelling, composed"
        );
    }
    let (status, body) = app
        .get("/trend?hashtag=cafe%CC%81&from_date=2019-09-23&to_date=2019-09-24&aggregation=1h")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["trends"][0]["count"], 2, "{body}");

    let data = app
        .graphql_data(
            "query($u: String!) { messages(first: 5, filter: {userName: $u}) { edges { node { id } } } }",
            json!({"u": "Jose\u{301}"}),
        )
        .await;
    assert_eq!(
        data["messages"]["edges"].as_array().unwrap().len(),
        2,
        "{data}"
    );
    let (_, body) = app
        .graphql(
            None,
            "query($u: String!) { messages(first: 5, filter: {userName: $u}) { edges { node { id } } } }",
            json!({"u": "Jos\u{e9}\u{200b}"}),
        )
        .await;
    assert_eq!(
        crate::helpers::error_codes(&body),
        ["BAD_USER_INPUT"],
        "{body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("userName") && message.contains("U+200B"),
        "{message}"
    );
}

on_every_backend!(
    a_missing_message_is_404_over_rest_and_null_over_graphql,
    historical_curl_session,
    one_message_by_id,
    users_and_tags_are_reused,
    canonically_equal_names_are_one,
);
