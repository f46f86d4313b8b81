//! Hostile clients at the transport and on the REST routes: slow headers,
//! idle and unread connections, too many connections or streams, slow
//! requests, rate limits and resumes from the beginning of time. Each test
//! runs its attack from several clients at once and checks both the
//! refusal and that `/healthz` still answers (within a generous second;
//! the tight figures are in the hostile-clients benchmark).
//!
//! Backends: the guards sit in the transport and in front of the handlers,
//! before any request reaches the store, so the database changes nothing
//! they check; those tests run on SQLite (their names say so). A slow
//! request is made slow by a PostgreSQL table lock, so that one runs on
//! PostgreSQL; the resume-budget test reads history and runs on both.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{
    Backend, Frame, LiveSocket, SseClient, SseNext, TestApp, TestClock, TestDatabase,
};

/// A client that opens a new connection for every request, from `local`.
fn fresh_client(local: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10));
    if let Some(local) = local {
        builder = builder.local_address(local.parse::<std::net::IpAddr>().expect("address"));
    }
    builder.build().expect("client")
}

/// `/healthz` on a new connection: its status, which must come within 1 s.
async fn healthz_within_a_second(app: &TestApp) -> StatusCode {
    let started = Instant::now();
    let status = fresh_client(None)
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz")
        .status();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    status
}

/// A metric read on a connection of its own (which counts itself); while
/// the connection cap is full it waits for a slot.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let response = loop {
        let response = fresh_client(None)
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics stayed 503 (no connection slot) for 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let text = response.text().await.expect("metrics");
    crate::helpers::metric_in(&text, name).unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
}

fn socket_address(app: &TestApp) -> SocketAddr {
    app.url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("server address")
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buffer),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
}

async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut dunder::cli::Flags)) -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    TestApp::spawn_on(database, TestClock::system(), configure).await
}

/// Slowloris: clients that send their headers a byte at a time are cut
/// off at the header timeout, while others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_slowly_are_cut_off_on_sqlite() {
    let app = spawn_with(Backend::Sqlite, |flags| {
        flags.http.header_read_timeout_ms = Some(400);
    })
    .await;
    let address = socket_address(&app);
    let attackers: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(address).await.expect("connect");
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: dunder\r\nX-Slow: ")
                    .await
                    .expect("write");
                let started = Instant::now();
                // A byte every 100 ms, forever: until the server hangs up.
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if stream.write_all(b"a").await.is_err()
                        || started.elapsed() > Duration::from_secs(10)
                    {
                        break;
                    }
                    let mut probe = [0u8; 1];
                    if let Ok(Ok(0)) =
                        tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe))
                            .await
                    {
                        break;
                    }
                }
                started.elapsed()
            })
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for attacker in attackers {
        let lasted = attacker.await.expect("attacker");
        assert!(
            lasted < Duration::from_secs(5),
            "a slow client lasted {lasted:?}"
        );
    }
}

/// A keep-alive connection that asks nothing more is closed at the idle
/// timeout; one that keeps asking is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_on_sqlite() {
    let app = spawn_with(Backend::Sqlite, |flags| {
        flags.http.idle_timeout_ms = Some(500);
    })
    .await;
    let address = socket_address(&app);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: dunder\r\n\r\n")
            .await
            .expect("write");
        let mut answer = vec![0u8; 1024];
        let n = stream.read(&mut answer).await.expect("answer");
        assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
        idle.push(stream);
    }
    assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
    for mut stream in idle {
        let waited = time_until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(waited < Duration::from_secs(5));
    }
    assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
}

/// Past `http.max_connections`, a new connection is answered 503 with
/// `Retry-After` at once; a freed slot serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_at_once_on_sqlite() {
    let app = spawn_with(Backend::Sqlite, |flags| {
        flags.http.max_connections = Some(4);
    })
    .await;
    let address = socket_address(&app);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(address).await.expect("connect"));
    }
    // Several clients knock at once; each is answered, with a 503.
    let knocks: Vec<_> = (0..6)
        .map(|_| {
            let url = app.url("/message");
            tokio::spawn(async move {
                let started = Instant::now();
                let response = fresh_client(None).get(url).send().await.expect("answered");
                (
                    response.status(),
                    response.headers().get("retry-after").cloned(),
                    started.elapsed(),
                )
            })
        })
        .collect();
    for knock in knocks {
        let (status, retry_after, took) = knock.await.expect("knock");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.expect("Retry-After"), "1");
        assert!(took < Duration::from_secs(1), "refusal took {took:?}");
    }
    assert_eq!(
        healthz_within_a_second(&app).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if healthz_within_a_second(&app).await == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot never served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metric(
            &app,
            "dunder_refusals_total{reason=\"too_many_connections\"}"
        )
        .await
            >= 6
    );
    drop(held);
}

/// Live streams are capped per address (429) and in total (503), each
/// with `Retry-After`; a closed stream gives its slot back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_are_capped_in_total_and_per_address_on_sqlite() {
    let app = spawn_with(Backend::Sqlite, |flags| {
        flags.http.max_streams = Some(3);
        flags.http.max_streams_per_address = Some(2);
    })
    .await;
    let open = |local: &'static str| {
        let url = app.url("/message/stream");
        async move {
            fresh_client(Some(local))
                .get(url)
                .send()
                .await
                .expect("GET /message/stream")
        }
    };
    let first = open("127.0.0.1").await;
    let _second = open("127.0.0.1").await;
    assert_eq!(first.status(), StatusCode::OK);
    let refused = open("127.0.0.1").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.expect("json");
    assert!(
        body["error"].as_str().unwrap().contains("live streams"),
        "{body}"
    );
    // A GraphQL WebSocket from the same address is refused alike.
    let mut upgrade = TcpStream::connect(socket_address(&app))
        .await
        .expect("connect");
    upgrade
        .write_all(
            b"GET /graphql/ws HTTP/1.1\r\nHost: dunder\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
        )
        .await
        .expect("write");
    let mut answer = vec![0u8; 4096];
    let n = upgrade.read(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after"),
        "{answer}"
    );
    assert!(answer.contains("TOO_MANY_STREAMS"), "{answer}");
    let _third = open("127.0.0.2").await;
    assert_eq!(_third.status(), StatusCode::OK);
    let full = open("127.0.0.3").await;
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(full.headers().contains_key("retry-after"));
    assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
    assert_eq!(metric(&app, "dunder_live_streams").await, 3);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = open("127.0.0.3").await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A request that takes longer than `http.request_timeout_ms` is answered
/// 503 in the API's error format, on REST and GraphQL alike; other routes
/// keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_503_on_postgres() {
    let app = spawn_with(Backend::Postgres, |flags| {
        flags.http.request_timeout_ms = Some(300);
    })
    .await;
    app.post_ok("ann", "before the lock #t", &[]).await;
    // Hold a lock that every read of messages waits for.
    let db = app.store.connection();
    let lock = db.begin().await.expect("begin");
    lock.execute(Statement::from_string(
        db.get_database_backend(),
        "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE",
    ))
    .await
    .expect("lock");
    let waits: Vec<_> = (0..4)
        .map(|i| {
            let rest = app.url("/message?limit=5");
            let graphql = app.url("/graphql");
            tokio::spawn(async move {
                let client = fresh_client(None);
                let started = Instant::now();
                let response = if i % 2 == 0 {
                    client.get(rest).send().await
                } else {
                    client
                        .post(graphql)
                        .json(&json!({"query": "{ messages(first: 5) { edges { cursor } } }"}))
                        .send()
                        .await
                }
                .expect("answered");
                let status = response.status();
                let retry_after = response.headers().get("retry-after").cloned();
                let body: Value = response.json().await.expect("json");
                (i, status, retry_after, body, started.elapsed())
            })
        })
        .collect();
    assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
    for wait in waits {
        let (i, status, retry_after, body, took) = wait.await.expect("request");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(retry_after.is_some());
        assert!(took < Duration::from_secs(3), "{took:?}");
        if i % 2 == 0 {
            assert!(body["error"].as_str().unwrap().contains("300 ms"), "{body}");
        } else {
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "REQUEST_TIMEOUT",
                "{body}"
            );
        }
    }
    lock.rollback().await.expect("unlock");
    let (status, body) = app.get("/message?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["messages"].as_array().unwrap().len(), 1);
}

/// A client that stops reading its stream is closed at the send timeout
/// (its connection slot comes back), and cannot hold up shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_on_sqlite() {
    let mut app = spawn_with(Backend::Sqlite, |flags| {
        flags.http.send_timeout_ms = Some(500);
        // Big messages, so that the kernel's socket buffers (megabytes on
        // loopback) fill and the server's writes must wait for the reader.
        flags.max_text_length = Some(10_000);
    })
    .await;
    let address = socket_address(&app);
    let mut sleepers = Vec::new();
    for _ in 0..2 {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("small buffer");
        let mut stream = socket.connect(address).await.expect("connect");
        stream
            .write_all(b"GET /message/stream HTTP/1.1\r\nHost: dunder\r\n\r\n")
            .await
            .expect("write");
        sleepers.push(stream);
    }
    let text = "x".repeat(9_900);
    let posts: Vec<_> = (0..4)
        .map(|client| {
            let url = app.url("/message");
            let text = text.clone();
            tokio::spawn(async move {
                let http = fresh_client(None);
                for _ in 0..250 {
                    let response = http
                        .post(&url)
                        .bearer_auth(crate::helpers::token(&format!("poster{client}")))
                        .json(&json!({"text": text, "hashtags": []}))
                        .send()
                        .await
                        .expect("post");
                    assert_eq!(response.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    for post in posts {
        post.await.expect("posts");
    }
    assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
    // Only the metrics request's own connection stays open.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let open = metric(&app, "dunder_http_connections").await;
        if open == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} connections still open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A new sleeper, then shutdown: it must not wait for the sleeper.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    let mut stream = socket.connect(address).await.expect("connect");
    stream
        .write_all(b"GET /message/stream HTTP/1.1\r\nHost: dunder\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(sleepers);
}

/// The same over WebSocket: a GraphQL client subscribed with a 4 KiB
/// receive buffer that stops reading while big messages are posted is
/// closed at the send timeout, and the open-connections gauge falls; a
/// client on the same feed that keeps reading stays open and gets every
/// message once, in order. The queue is set far larger than what is
/// posted, so the non-reader can only be closed by the send timeout, never
/// cut off as a lagging subscriber. Posts go through the store, so no
/// connection but the two sockets and the metrics request is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_stops_reading_is_closed_on_sqlite() {
    const ROUND: usize = 50;
    const POSTS: usize = 2_000;
    let app = spawn_with(Backend::Sqlite, |flags| {
        flags.http.send_timeout_ms = Some(1_000);
        flags.max_text_length = Some(10_000);
        flags.live_subscriber_queue = Some(1_000_000);
    })
    .await;
    let subscription = "subscription { messagePosted { id text } }";
    let mut sleeper =
        LiveSocket::connect_on(&app, "graphql-transport-ws", None, true, Some(4096)).await;
    sleeper.start("s", subscription, json!({})).await;
    let mut reader = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    reader.start("r", subscription, json!({})).await;
    wait_for_hub_subscribers(&app, 2).await;
    // The two sockets and the metrics request.
    assert_eq!(metric(&app, "dunder_http_connections").await, 3);

    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let reading = {
        let received = received.clone();
        tokio::spawn(async move {
            loop {
                match reader.next_frame_within(Duration::from_secs(60)).await {
                    Some(Frame::Next(_, payload)) => {
                        let text = payload["data"]["messagePosted"]["text"]
                            .as_str()
                            .unwrap_or_else(|| panic!("a text in {payload:.200}"));
                        received.lock().unwrap().push(number_of(text));
                    }
                    Some(Frame::Keepalive) => continue,
                    other => panic!("the reading client got {other:?}"),
                }
            }
        })
    };

    // Big posts: 20 MB, far more than a socket's kernel buffers hold (a few
    // MiB at most), so the server's writes to the non-reader stall.
    // Each text starts with its number; the feeds send in id order.
    let mut posted = Vec::new();
    for first in (0..POSTS).step_by(ROUND) {
        let round = (first..first + ROUND).map(|n| {
            let store = app.store.clone();
            async move {
                let author = dunder::domain::UserName::parse("user", "big").expect("name");
                let text = format!("{n:05} {}", "x".repeat(9_900));
                let post =
                    dunder::domain::NewMessage::parse(author, &text, &[], 10_000).expect("post");
                let stored = store.post(post).await.expect("stored");
                (stored.id, n)
            }
        });
        posted.extend(futures::future::join_all(round).await);
    }
    // The non-reader's subscription ends with its connection; the
    // reader's stays.
    wait_for_hub_subscribers(&app, 1).await;
    assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
    // Only the reader's connection and the metrics request's are open.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let open = metric(&app, "dunder_http_connections").await;
        if open == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} connections still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The reader gets every message once, in id order.
    posted.sort();
    let posted: Vec<usize> = posted.into_iter().map(|(_, n)| n).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < posted.len() {
        assert!(
            !reading.is_finished() && Instant::now() < deadline,
            "the reader got {} of {} messages",
            received.lock().unwrap().len(),
            posted.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*received.lock().unwrap(), posted);
    reading.abort();

    // What the kernel had buffered for the non-reader, then the end.
    loop {
        match sleeper.next_frame_within(Duration::from_secs(10)).await {
            Some(Frame::Next(..)) | Some(Frame::Keepalive) => {}
            Some(Frame::Closed(_)) => break,
            other => panic!("the closed socket should end, got {other:?}"),
        }
    }
}

/// The number a big post's text starts with.
fn number_of(text: &str) -> usize {
    text.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {text:.20}"))
}

/// Waits until the hub holds exactly `count` subscribers, or fails.
async fn wait_for_hub_subscribers(app: &TestApp, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.live.hub().subscriber_count() != count {
        assert!(
            Instant::now() < deadline,
            "the hub never held exactly {count} subscribers (holds {})",
            app.live.hub().subscriber_count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Posting and reading past the per-user and per-address budgets: 429 with
/// `Retry-After` and the `RateLimit` headers, nothing written; another
/// address or user keeps its own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_rate_limits_answer_429_on_sqlite() {
    let app = spawn_with(Backend::Sqlite, |flags| {
        flags.rate_limit.writes_per_user = Some(3);
        flags.rate_limit.reads_per_address = Some(10);
    })
    .await;
    for i in 0..3 {
        app.post_ok("ann", &format!("post {i} #t"), &[]).await;
    }
    let before = app.footprint().await;
    // Several posters as ann at once: every one refused.
    let refusals: Vec<_> = (0..4)
        .map(|_| {
            let url = app.url("/message");
            tokio::spawn(async move {
                fresh_client(None)
                    .post(url)
                    .bearer_auth(crate::helpers::token("ann"))
                    .json(&json!({"text": "one too many", "hashtags": ["x"]}))
                    .send()
                    .await
                    .expect("post")
            })
        })
        .collect();
    assert_eq!(healthz_within_a_second(&app).await, StatusCode::OK);
    for refusal in refusals {
        let response = refusal.await.expect("post");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let headers = response.headers().clone();
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "{retry}");
        assert_eq!(headers["ratelimit-policy"], "\"writes-per-user\";q=3;w=60");
        assert!(headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"writes-per-user\";r=0;t="));
        let body: Value = response.json().await.expect("json");
        assert!(
            body["error"].as_str().unwrap().starts_with("rate limited"),
            "{body}"
        );
    }
    assert_eq!(
        app.footprint().await,
        before,
        "a refused post wrote something"
    );
    app.post_ok("bob", "bob has his own budget", &[]).await;

    // Reads: ten per minute from one address.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let response = fresh_client(None)
            .get(app.url("/message?limit=1"))
            .send()
            .await
            .expect("get");
        statuses.push(response.status());
    }
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
    let other = fresh_client(Some("127.0.0.2"))
        .get(app.url("/message?limit=1"))
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), StatusCode::OK);
    assert!(metric(&app, "dunder_refusals_total{reason=\"rate_limited\"}").await >= 5);
}

/// A resume from the beginning of time replays at most `live.max_replay`
/// messages, then tells the client to page with the listings, over SSE and
/// GraphQL alike; resuming from there goes on.
async fn resume_replays_a_bounded_stretch(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::system(), |flags| {
        flags.live_max_replay = Some(5);
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(app.post_ok("ann", &format!("message {i}"), &[]).await);
    }
    let zero = "00000000000000000000000000";
    let mut sse = SseClient::open(&app, "", Some(zero)).await;
    for id in &ids[..5] {
        assert_eq!(sse.next_message().await.id.as_deref(), Some(id.as_str()));
    }
    let limit = sse.next_message().await;
    assert_eq!(limit.event.as_deref(), Some("replay_limit"), "{limit:?}");
    let data: Value = serde_json::from_str(&limit.data).expect("json");
    let cursor = data["cursor"].as_str().expect("cursor").to_owned();
    assert!(
        data["error"].as_str().unwrap().contains("GET /message"),
        "{data}"
    );
    assert_eq!(
        sse.next_within(Duration::from_secs(2)).await,
        SseNext::End,
        "the stream ends"
    );

    // From that cursor: the next five, then the limit again.
    let mut sse = SseClient::open(&app, &format!("cursor={cursor}"), None).await;
    for id in &ids[5..10] {
        assert_eq!(sse.next_message().await.id.as_deref(), Some(id.as_str()));
    }
    assert_eq!(
        sse.next_message().await.event.as_deref(),
        Some("replay_limit")
    );

    // GraphQL says the same with a code and the cursor.
    let mut socket = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    socket
        .start(
            "1",
            "subscription($after: String) { messagePosted(after: $after) { id } }",
            json!({"after": zero}),
        )
        .await;
    for _ in 0..5 {
        let (_, payload) = socket.next_payload().await;
        assert!(
            payload["data"]["messagePosted"]["id"].is_string(),
            "{payload}"
        );
    }
    let (_, payload) = socket.next_payload().await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "REPLAY_LIMIT",
        "{payload}"
    );
    assert!(payload["errors"][0]["extensions"]["cursor"].is_string());
}

crate::on_every_backend!(resume_replays_a_bounded_stretch);
