//! GraphQL posting, trends, and the GraphQL-over-HTTP transport: posting
//! with and without a token over HTTP and WebSocket (both subprotocols),
//! trend and trendingHashtags against known data (and trendingHashtags'
//! defaults), status codes and media types.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_codes, read, Backend, TestApp};
use crate::on_every_backend;

const POST: &str = "mutation($input: PostMessageInput!) {
  postMessage(input: $input) { id text hashtags user { name } createdAt }
}";

async fn post_message_with_and_without_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.footprint().await;

    // No token, a bad token, bad input: refused with a code, nothing written.
    let input = json!({"input": {"text": "hello #GraphQL", "hashtags": ["api"]}});
    let (status, body) = app.graphql(None, POST, input.clone()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a field error, not a request error: {body}"
    );
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Authorization"));
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("Authorization", "Bearer ***")
        .json(&json!({"query": POST, "variables": input}))
        .send()
        .await
        .unwrap();
    let (_, body) = read(response).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    for (input, field) in [
        (json!({"text": "   "}), "text"),
        (json!({"text": "x", "hashtags": ["no way"]}), "hashtags[0]"),
        (json!({"text": "#a #b #c #d #e #f #g #h #i #j #k"}), "text"),
        (json!({"text": "é".repeat(501)}), "text"),
    ] {
        let (_, body) = app
            .graphql(Some("dave"), POST, json!({"input": input}))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    assert_eq!(app.footprint().await, before, "refused posts wrote nothing");

    // With a token over HTTP.
    let (status, body) = app.graphql(Some("dave"), POST, input).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let posted = &body["data"]["postMessage"];
    assert_eq!(posted["text"], "hello #GraphQL");
    assert_eq!(posted["hashtags"], json!(["api", "GraphQL"]));
    assert_eq!(posted["user"]["name"], "dave");

    // Over WebSocket, both subprotocols, the token in connection_init.
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mutation = format!(
            "mutation {{ postMessage(input: {{text: \"over {protocol}\", hashtags: [\"ws\"]}}) {{ text user {{ name }} }} }}"
        );
        let payload = app.graphql_ws(protocol, Some("erin"), &mutation).await;
        assert_eq!(
            payload["data"]["postMessage"]["text"],
            format!("over {protocol}"),
            "{payload}"
        );
        assert_eq!(payload["data"]["postMessage"]["user"]["name"], "erin");

        let payload = app.graphql_ws(protocol, None, &mutation).await;
        assert_eq!(error_codes(&payload), ["UNAUTHENTICATED"], "{payload}");

        let payload = app
            .graphql_ws(
                protocol,
                None,
                "{ messages(first: 1) { edges { node { text } } } }",
            )
            .await;
        assert!(
            payload["data"]["messages"]["edges"][0]["node"]["text"].is_string(),
            "{payload}"
        );
    }
    let (_, rest) = app.get("/message?hashtag=ws").await;
    assert_eq!(rest["data"]["messages"].as_array().unwrap().len(), 2);
}

async fn trends_against_known_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (at, tags) in [
        ("2019-09-23T10:00:10Z", vec!["rust", "go"]),
        ("2019-09-23T10:20:00Z", vec!["rust"]),
        ("2019-09-23T10:40:00Z", vec!["Rust", "sql"]),
        ("2019-09-23T11:05:00Z", vec!["go"]),
        ("2019-09-23T11:30:00Z", vec!["sql"]),
        ("2019-09-23T11:31:00Z", vec!["sql", "zig"]),
    ] {
        app.clock.set(at.parse().unwrap());
        app.post_ok("trender", "t", &tags).await;
    }
    let data = app
        .graphql_data(
            "{ all: trend(fromDate: \"2019-09-23T10:00:00Z\", toDate: \"2019-09-23T12:00:00Z\", aggregation: \"30m\") { fromDate toDate count }
               rust: trend(hashtag: \"RUST\", fromDate: \"2019-09-23T10:00:00Z\", toDate: \"2019-09-23T12:00:00Z\") { fromDate count } }",
            json!({}),
        )
        .await;
    let buckets = |value: &Value| -> Vec<(String, i64)> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["fromDate"].as_str().unwrap()[11..16].to_owned(),
                    b["count"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let hm = |h: &str, c: i64| (h.to_owned(), c);
    assert_eq!(
        buckets(&data["all"]),
        [
            hm("10:00", 2),
            hm("10:30", 1),
            hm("11:00", 1),
            hm("11:30", 2)
        ]
    );
    assert_eq!(data["all"][0]["toDate"], "2019-09-23T10:30:00+00:00");
    // The default aggregation is 1m.
    assert_eq!(
        buckets(&data["rust"]),
        [hm("10:00", 1), hm("10:20", 1), hm("10:40", 1)]
    );
    // The same as over REST.
    let (_, rest) = app
        .get("/trend?from_date=2019-09-23T10:00:00Z&to_date=2019-09-23T12:00:00Z&aggregation=30m")
        .await;
    let rest_counts: Vec<i64> = rest["data"]["trends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .collect();
    assert_eq!(rest_counts, [2, 1, 1, 2]);

    // Trending at 11:31: the last hour is 10:32..11:31.
    let data = app
        .graphql_data(
            "{ hour: trendingHashtags { hashtag count } day: trendingHashtags(window: \"24h\", first: 2) { hashtag count } }",
            json!({}),
        )
        .await;
    assert_eq!(
        trending_counts(&data["hour"]),
        [hm("sql", 3), hm("go", 1), hm("rust", 1), hm("zig", 1)]
    );
    assert_eq!(trending_counts(&data["day"]), [hm("rust", 3), hm("sql", 3)]);

    let (_, body) = app
        .graphql(
            None,
            "{ trendingHashtags(window: \"30s\") { hashtag } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let (_, body) = app
        .graphql(None, "{ trend(fromDate: \"2019-09-23T12:00:00Z\", toDate: \"2019-09-23T10:00:00Z\") { count } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(
        body["errors"][0]["message"],
        "toDate: must be later than fromDate"
    );
    // A malformed DateTime is the client's input too.
    let (_, body) = app
        .graphql(
            None,
            "{ trend(fromDate: \"garbage\", toDate: \"2019-09-23T10:00:00Z\") { count } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
}

/// `trendingHashtags(window = "1h", first = 10)`: without arguments, ten
/// hashtags of the last hour. The hour is the current minute and the 59
/// before it (counters are per minute): a tag of the minute before that
/// does not count, one of the first minute inside does.
async fn trending_hashtags_defaults_to_ten_of_the_last_hour(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let post_at = |at: &str, tags: &'static [&'static str]| {
        let app = &app;
        let at = at.parse().unwrap();
        async move {
            app.clock.set(at);
            app.post_ok("trender", "t", tags).await;
        }
    };
    // Asked at 12:00:30: the hour is 11:01 to 12:00 inclusive.
    for _ in 0..3 {
        post_at("2019-09-23T11:00:59Z", &["stale"]).await;
    }
    for _ in 0..2 {
        post_at("2019-09-23T11:01:00Z", &["edge"]).await;
    }
    post_at(
        "2019-09-23T12:00:00Z",
        &[
            "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10",
        ],
    )
    .await;
    post_at("2019-09-23T12:00:10Z", &["t11", "t12"]).await;
    app.clock.set("2019-09-23T12:00:30Z".parse().unwrap());

    let data = app
        .graphql_data(
            "{ default: trendingHashtags { hashtag count }
               explicit: trendingHashtags(window: \"1h\", first: 10) { hashtag count }
               more: trendingHashtags(first: 20) { hashtag count }
               longer: trendingHashtags(window: \"2h\") { hashtag count } }",
            json!({}),
        )
        .await;
    let tagged = |tags: &[&str]| -> Vec<(String, i64)> {
        tags.iter()
            .map(|tag| match *tag {
                "stale" => ("stale".to_owned(), 3),
                "edge" => ("edge".to_owned(), 2),
                tag => (tag.to_owned(), 1),
            })
            .collect()
    };
    // Ten of the thirteen tags of the hour, most used first, ties by name;
    // `stale` is a minute too old.
    let ten = tagged(&[
        "edge", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09",
    ]);
    assert_eq!(trending_counts(&data["default"]), ten);
    assert_eq!(trending_counts(&data["explicit"]), ten);
    // There were more to give, and `stale` is still out with a larger first.
    assert_eq!(
        trending_counts(&data["more"]),
        tagged(&[
            "edge", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11",
            "t12"
        ])
    );
    // `stale` was counted, just not within the hour.
    assert_eq!(
        trending_counts(&data["longer"]),
        tagged(&["stale", "edge", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08"])
    );
}

async fn graphql_over_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = &app.client;
    let url = app.url("/graphql");

    // GET for queries, in both media types.
    let response = client
        .get(format!("{url}?query={{messages{{edges{{cursor}}}}}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let response = client
        .get(format!("{url}?query={{__typename}}"))
        .header("Accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json; charset=utf-8"
    );
    assert_eq!(
        read(response).await.1,
        json!({"data": {"__typename": "Query"}})
    );

    // Never a mutation over GET.
    let response = client
        .get(format!(
            "{url}?query=mutation{{postMessage(input:{{text:\"x\"}}){{id}}}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(app.footprint().await.messages, 0);

    // A document that does not parse: 400 without data in the new media
    // type, 200 in application/json.
    let (status, body) = app.graphql(None, "{ messages ", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(error_codes(&body), ["GRAPHQL_PARSE_FAILED"]);
    let response = client
        .post(&url)
        .json(&json!({"query": "{ nosuchfield }"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);

    // Not JSON, not the right content type, nothing acceptable.
    let response = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = client
        .post(&url)
        .header("Accept", "text/plain")
        .json(&json!({"query": "{__typename}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    let response = client.delete(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Subscriptions need a socket: refused over HTTP with where to go.
    let (status, body) = app
        .graphql(None, "subscription { messagePosted { id } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(&body), ["BAD_REQUEST"]);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("/graphql/ws"));

    // A browser gets the playground, pointed at the websocket endpoint.
    let response = client
        .get(&url)
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("GraphiQL") && page.contains("/graphql/ws"),
        "{page}"
    );
}

on_every_backend!(
    post_message_with_and_without_a_token,
    trends_against_known_data,
    trending_hashtags_defaults_to_ten_of_the_last_hour,
    graphql_over_http
);

/// A `trendingHashtags` answer as (hashtag, count) pairs, in order.
fn trending_counts(value: &Value) -> Vec<(String, i64)> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["hashtag"].as_str().unwrap().to_owned(),
                c["count"].as_i64().unwrap(),
            )
        })
        .collect()
}
