//! The guards around GraphQL operations: rate limits over HTTP (429 with
//! `Retry-After` and the `RateLimit` headers, in both media types) and over
//! WebSocket, the cap on operations in flight on one socket, and the
//! live-stream slot each socket holds.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::graphql_attacks::{flood, stays_healthy};
use crate::helpers::{
    default_start, error_codes, read, token, Backend, Frame, LiveSocket, TestApp, TestClock,
    TestDatabase,
};
use crate::on_every_backend;

async fn spawn(backend: Backend, configure: impl FnOnce(&mut dunder::cli::Flags)) -> TestApp {
    let database = Arc::new(TestDatabase::create(backend).await);
    TestApp::spawn_on(database, TestClock::at(default_start()), configure).await
}

/// `POST /graphql` asking for `accept`, as `user` when given.
async fn post(app: &TestApp, accept: &str, user: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("Accept", accept)
        .json(&body);
    if let Some(user) = user {
        request = request.bearer_auth(token(user));
    }
    request.send().await.expect("POST /graphql")
}

/// A 429 with the rate limit's headers and one RATE_LIMITED error naming
/// `policy`.
async fn rate_limited(response: reqwest::Response, policy: &str) {
    let headers = response.headers().clone();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["policy"], policy, "{body}");
    let retry_after = extensions["retryAfter"].as_u64().expect("retryAfter");
    assert!(retry_after >= 1, "{body}");
    assert_eq!(
        headers["retry-after"].to_str().unwrap(),
        retry_after.to_string()
    );
    assert!(headers["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with(&format!("\"{policy}\";q=")));
    assert!(headers["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with(&format!("\"{policy}\";r=0;t=")));
}

/// Reads per user: every operation spends one, each of a batch too;
/// refused with 429 in both media types, over GET too, counted in
/// /metrics.
async fn reads_are_rate_limited_over_http(backend: Backend) {
    let app = spawn(backend, |flags| flags.rate_limit.reads_per_user = Some(6)).await;
    let reader = Some("reader");
    let typename = json!({"query": "{ __typename }"});
    for _ in 0..3 {
        let (status, body) =
            read(post(&app, "application/json", reader, typename.clone()).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A batch of three spends three.
    let batch = json!([typename, typename, typename]);
    let (status, body) = read(post(&app, "application/json", reader, batch.clone()).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for accept in ["application/json", "application/graphql-response+json"] {
        rate_limited(
            post(&app, accept, reader, typename.clone()).await,
            "reads-per-user",
        )
        .await;
    }
    rate_limited(
        post(&app, "application/json", reader, batch).await,
        "reads-per-user",
    )
    .await;
    let get = app
        .client
        .get(app.url("/graphql?query=%7B__typename%7D"))
        .bearer_auth(token("reader"))
        .send()
        .await
        .unwrap();
    rate_limited(get, "reads-per-user").await;
    // Without a token there is no user budget to spend.
    let (status, _) = read(post(&app, "application/json", None, typename.clone()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.metric("dunder_refusals_total{reason=\"rate_limited\"}")
            .await,
        4
    );
    // Several clients of that user at once: all refused, the server
    // answering meanwhile.
    for (status, body) in flood(&app, reader, typename).await {
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    }
}

/// The per-address budgets key on the peer address the server puts on
/// each request (`ConnectInfo`), given here by hand. SQLite only: the
/// budget is spent before the request reaches the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_rate_limited_per_client_address_on_sqlite() {
    use axum::extract::ConnectInfo;
    use dunder::config::{GraphqlLimits, HttpLimits, LiveSettings, RateLimits};
    use dunder::graphql::router;
    use dunder::guard::Guards;
    use dunder::server::AppState;
    use tower::ServiceExt;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let limits = GraphqlLimits::default();
    let rate = RateLimits {
        writes_per_user: 0,
        writes_per_address: 0,
        reads_per_user: 0,
        reads_per_address: 2,
    };
    let live = dunder::live::Live::new(LiveSettings::default());
    let state = AppState::new(
        app.store.clone(),
        live,
        Guards::new(rate, HttpLimits::default()),
        500,
        limits,
    );
    let graphql = router().with_state(state);
    let ask = |peer: &str| {
        let mut request = axum::http::Request::post("/graphql")
            .header("Content-Type", "application/json")
            .body(axum::body::Body::from(r#"{"query": "{ __typename }"}"#))
            .unwrap();
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        graphql.clone().oneshot(request)
    };
    for _ in 0..2 {
        assert_eq!(ask("10.0.0.1:1000").await.unwrap().status(), 200);
    }
    let refused = ask("10.0.0.1:2000").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers()["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with("\"reads-per-address\""));
    assert_eq!(ask("10.0.0.2:1000").await.unwrap().status(), 200);
}

/// Writes per user: each root mutation field spends one; a mutation over
/// its budget runs none of its posts.
async fn writes_are_rate_limited_per_root_field(backend: Backend) {
    let app = spawn(backend, |flags| flags.rate_limit.writes_per_user = Some(5)).await;
    let posts = |n: usize| -> Value {
        let fields: String = (0..n)
            .map(|i| format!("p{i}: postMessage(input: {{text: \"post {i}\"}}) {{ id }} "))
            .collect();
        json!({ "query": format!("mutation {{ {fields} }}") })
    };
    let before = app.footprint().await;
    rate_limited(
        post(&app, "application/json", Some("eager"), posts(6)).await,
        "writes-per-user",
    )
    .await;
    assert_eq!(app.footprint().await, before, "nothing written");
    // Another user has a budget of their own, and spends it.
    let (status, body) = read(post(&app, "application/json", Some("calm"), posts(5)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["p4"]["id"].is_string(), "{body}");
    rate_limited(
        post(&app, "application/json", Some("calm"), posts(1)).await,
        "writes-per-user",
    )
    .await;
}

/// Over WebSocket every operation spends a read too; the refusal is an
/// error with the code, the socket stays open.
async fn operations_are_rate_limited_over_websocket(backend: Backend) {
    let app = spawn(backend, |flags| flags.rate_limit.reads_per_user = Some(3)).await;
    let mut socket = LiveSocket::connect(&app, "graphql-transport-ws", Some("reader"), true).await;
    for i in 0..4 {
        socket
            .start(&i.to_string(), "{ __typename }", json!({}))
            .await;
        let (id, payload) = socket.next_payload().await;
        assert_eq!(id, i.to_string());
        if i < 3 {
            assert_eq!(payload["data"]["__typename"], "Query", "{payload}");
        } else {
            assert_eq!(error_codes(&payload), ["RATE_LIMITED"], "{payload}");
            assert_eq!(
                payload["errors"][0]["extensions"]["policy"],
                "reads-per-user"
            );
            assert!(payload["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1));
        }
        assert_eq!(socket.next_frame().await, Frame::Complete(i.to_string()));
    }
}

const POSTED: &str = "subscription { messagePosted { id text } }";

/// The result of operation `id` (skipping other operations' frames), once
/// it has completed.
async fn result_of(socket: &mut LiveSocket, id: &str) -> Value {
    let mut result = None;
    loop {
        match socket.next_frame().await {
            Frame::Next(of, payload) if of == id => result = Some(payload),
            Frame::Complete(of) if of == id => {
                return result.unwrap_or_else(|| panic!("{id} completed without a result"))
            }
            Frame::Next(..) | Frame::Complete(_) | Frame::Keepalive => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A socket holds at most `live.max_operations` operations of any kind in
/// flight; the one past the cap is refused, a finished or stopped one frees
/// its place. Several sockets at once, the server answering all the while.
async fn operations_per_socket_are_capped(backend: Backend) {
    let app = spawn(backend, |flags| flags.live_max_operations = Some(5)).await;
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(LiveSocket::connect(&app, "graphql-transport-ws", None, true).await);
    }
    let attackers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                for i in 0..5 {
                    socket.start(&format!("s{i}"), POSTED, json!({})).await;
                }
                // A query past the cap is refused too.
                socket.start("q", "{ __typename }", json!({})).await;
                let (id, payload) = socket.next_payload().await;
                assert_eq!(id, "q");
                assert_eq!(error_codes(&payload), ["TOO_MANY_OPERATIONS"], "{payload}");
                assert_eq!(socket.next_frame().await, Frame::Complete("q".into()));
                socket
            })
        })
        .collect();
    stays_healthy(&app, || attackers.iter().all(|a| a.is_finished())).await;
    let mut sockets = Vec::new();
    for attacker in attackers {
        sockets.push(attacker.await.expect("attacker"));
    }
    // Stopping a subscription frees a place for a query.
    let socket = &mut sockets[0];
    socket.send(json!({"id": "s0", "type": "complete"})).await;
    let mut answered = false;
    for attempt in 0..50 {
        let id = format!("q{attempt}");
        socket.start(&id, "{ __typename }", json!({})).await;
        let payload = result_of(socket, &id).await;
        if payload["data"]["__typename"] == "Query" {
            answered = true;
            break;
        }
        assert_eq!(error_codes(&payload), ["TOO_MANY_OPERATIONS"], "{payload}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered, "a stopped subscription gave its place back");
    // The live subscriptions still deliver.
    app.post_ok("someone", "still live", &[]).await;
    let mut seen = HashSet::new();
    while seen.len() < 4 {
        match socket.next_frame().await {
            Frame::Next(id, payload) => {
                assert_eq!(payload["data"]["messagePosted"]["text"], "still live");
                seen.insert(id);
            }
            Frame::Keepalive | Frame::Complete(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        app.metric("dunder_refusals_total{reason=\"too_many_operations\"}")
            .await
            >= 4
    );
}

/// Each socket holds a live-stream slot for its life: past the server's
/// cap the upgrade is refused with 503, `Retry-After` and a GraphQL error
/// (past an address's cap it is 429, the same way).
async fn sockets_hold_a_stream_slot(backend: Backend) {
    let app = spawn(backend, |flags| flags.http.max_streams = Some(2)).await;
    let first = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    let _second = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    let upgrade = || {
        app.client
            .get(app.url("/graphql/ws"))
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Protocol", "graphql-transport-ws")
            .send()
    };
    let refused = upgrade().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "5");
    let (_, body) = read(refused).await;
    assert_eq!(error_codes(&body), ["TOO_MANY_STREAMS"], "{body}");
    assert_eq!(
        app.metric("dunder_refusals_total{reason=\"too_many_streams\"}")
            .await,
        1
    );
    // A socket that closes gives its slot back.
    drop(first);
    let mut upgraded = false;
    for _ in 0..100 {
        if upgrade().await.unwrap().status() == StatusCode::SWITCHING_PROTOCOLS {
            upgraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(upgraded, "the closed socket's slot was given back");
}

on_every_backend!(
    reads_are_rate_limited_over_http,
    writes_are_rate_limited_per_root_field,
    operations_are_rate_limited_over_websocket,
    operations_per_socket_are_capped,
    sockets_hold_a_stream_slot,
);
