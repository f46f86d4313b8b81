//! GraphQL relay connections: a walk forward and backward over a filtered
//! connection with every pageInfo field checked, cursors shared with REST,
//! and node/message/user lookups.

use chrono::Duration;
use serde_json::{json, Value};

use crate::helpers::{default_start, error_codes, Backend, TestApp};
use crate::on_every_backend;

const PAGE: &str = "query Page($first: Int, $after: String, $last: Int, $before: String) {
  messages(first: $first, after: $after, last: $last, before: $before,
           filter: {hashtag: \"Relay\", userName: \"alice\"}) {
    edges { cursor node { id text hashtags createdAt user { name } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

/// Posts 30 messages; alice's with #relay are every third one. Returns
/// their texts newest first.
async fn post_relay_dataset(app: &TestApp) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..30 {
        app.clock.set(default_start() + Duration::seconds(i));
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        let tags: &[&str] = if i % 3 == 0 { &["relay"] } else { &["other"] };
        let text = format!("m{i}");
        app.post_ok(user, &text, tags).await;
        if user == "alice" && i % 3 == 0 {
            expected.push(text);
        }
    }
    expected.reverse();
    expected // m24, m18, m12, m6, m0
}

fn texts(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Every pageInfo field against the page's edges and what is expected.
fn check_page_info(connection: &Value, has_next: bool, has_previous: bool) {
    let info = &connection["pageInfo"];
    let edges = connection["edges"].as_array().unwrap();
    assert_eq!(info["hasNextPage"], has_next, "{connection}");
    assert_eq!(info["hasPreviousPage"], has_previous, "{connection}");
    assert_eq!(
        info["startCursor"],
        edges.first().map_or(Value::Null, |e| e["cursor"].clone())
    );
    assert_eq!(
        info["endCursor"],
        edges.last().map_or(Value::Null, |e| e["cursor"].clone())
    );
}

async fn relay_walk_forward_and_backward(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let expected = post_relay_dataset(&app).await;
    assert_eq!(expected.len(), 5);

    // Forward: first 2, three pages.
    let mut forward = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let data = app
            .graphql_data(PAGE, json!({"first": 2, "after": after}))
            .await;
        let connection = &data["messages"];
        pages += 1;
        let more = pages < 3;
        check_page_info(connection, more, pages > 1);
        forward.extend(texts(connection));
        for edge in connection["edges"].as_array().unwrap() {
            assert_eq!(edge["node"]["user"]["name"], "alice");
            assert_eq!(edge["node"]["hashtags"], json!(["relay"]));
        }
        if !more {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(forward, expected);

    // Backward: last 2 from the oldest end, each page still newest first.
    let mut backward: Vec<String> = Vec::new();
    let mut before = Value::Null;
    let mut pages = 0;
    loop {
        let data = app
            .graphql_data(PAGE, json!({"last": 2, "before": before}))
            .await;
        let connection = &data["messages"];
        pages += 1;
        let more = pages < 3;
        check_page_info(connection, pages > 1, more);
        let mut page = texts(connection);
        page.extend(backward);
        backward = page;
        if !more {
            break;
        }
        before = connection["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(backward, expected);

    // Between two cursors: after m24, before m6.
    let all = app.graphql_data(PAGE, json!({"first": 5})).await;
    let cursors: Vec<Value> = all["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cursor"].clone())
        .collect();
    let middle = app
        .graphql_data(
            PAGE,
            json!({"first": 10, "after": cursors[0], "before": cursors[3]}),
        )
        .await;
    assert_eq!(texts(&middle["messages"]), ["m18", "m12"]);
    check_page_info(&middle["messages"], false, false);

    // A relay cursor is a REST cursor, and the other way round.
    let (_, rest) = app
        .get(&format!(
            "/message?hashtag=relay&user_name=alice&limit=2&cursor={}",
            cursors[1].as_str().unwrap()
        ))
        .await;
    let rest_texts: Vec<&str> = rest["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(rest_texts, ["m12", "m6"]);
    let next = rest["data"]["next_cursor"].clone();
    let data = app
        .graphql_data(PAGE, json!({"first": 5, "after": next}))
        .await;
    assert_eq!(texts(&data["messages"]), ["m0"]);

    // Out-of-range sizes and bad cursors are the client's mistake.
    for (variables, field) in [
        (json!({"first": 101}), "first"),
        (json!({"first": 0}), "first"),
        (json!({"last": 101}), "last"),
        (json!({"first": 1, "after": "nope"}), "after"),
    ] {
        let (_, body) = app.graphql(None, PAGE, variables).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
}

async fn nodes_and_lookups(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rest_id = app.post_ok("carol", "find me #node", &[]).await;
    let data = app
        .graphql_data(
            "{ messages(first: 1) { edges { node { id user { id name } } } } }",
            json!({}),
        )
        .await;
    let node = &data["messages"]["edges"][0]["node"];
    let message_id = node["id"].as_str().unwrap().to_owned();
    let user_id = node["user"]["id"].as_str().unwrap().to_owned();
    assert_ne!(
        message_id, rest_id,
        "global ids are opaque, not the REST id"
    );

    let query = "query($m: ID!, $u: ID!, $rest: ID!) {
      m: node(id: $m) { __typename id ... on Message { text hashtags createdAt } }
      u: node(id: $u) { __typename id ... on User { name messages(first: 5) { edges { node { text } } } } }
      byGlobal: message(id: $m) { text }
      byRest: message(id: $rest) { id text }
      user(name: \"carol\") { id name }
      nobody: user(name: \"nobody\") { id }
    }";
    let data = app
        .graphql_data(
            query,
            json!({"m": message_id, "u": user_id, "rest": rest_id}),
        )
        .await;
    assert_eq!(data["m"]["__typename"], "Message");
    assert_eq!(data["m"]["id"], message_id);
    assert_eq!(data["m"]["text"], "find me #node");
    assert_eq!(data["m"]["hashtags"], json!(["node"]));
    assert_eq!(data["m"]["createdAt"], "2019-09-23T10:00:00+00:00");
    assert_eq!(data["u"]["__typename"], "User");
    assert_eq!(data["u"]["name"], "carol");
    assert_eq!(
        data["u"]["messages"]["edges"][0]["node"]["text"],
        "find me #node"
    );
    assert_eq!(data["byGlobal"]["text"], "find me #node");
    assert_eq!(data["byRest"]["id"], message_id);
    assert_eq!(data["user"]["id"], user_id);
    assert_eq!(data["nobody"], Value::Null);

    // Unknown ids are null; malformed ones are refused.
    let missing = ulid::Ulid::new().to_string();
    let data = app
        .graphql_data(
            "query($id: ID!) { message(id: $id) { id } }",
            json!({"id": missing}),
        )
        .await;
    assert_eq!(data["message"], Value::Null);
    let (_, body) = app
        .graphql(None, "{ node(id: \"garbage\") { id } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
}

on_every_backend!(relay_walk_forward_and_backward, nodes_and_lookups);
